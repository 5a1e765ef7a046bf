//! What every command that calls Azure shares: the connection flags, the confirmation
//! contract of mutating commands, and progress display.

use std::collections::HashMap;
use std::io::{self, IsTerminal};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{CredentialArg, Error, Printer};
use crate::arm::{RetryReason, Waiting};
use crate::azure::{self, Action, ArmClient, Event};

#[derive(Debug, Clone, clap::Args)]
pub struct AzureArgs {
    /// Where the Entra ID token for Azure comes from.
    #[arg(long, value_enum, value_name = "KIND", default_value_t = CredentialArg::Auto, env = "OAI_LB_CREDENTIAL")]
    pub credential: CredentialArg,
    /// The ARM endpoint (sovereign clouds, tests); plain http only for loopback hosts.
    #[arg(long, value_name = "URL", env = "OAI_LB_ARM_ENDPOINT")]
    pub arm_endpoint: Option<String>,
}

impl AzureArgs {
    /// The ARM client, its retries shown as [`show_waiting`] set up.
    pub fn connect(&self) -> Result<ArmClient, Error> {
        let client =
            azure::connect(self.arm_endpoint.as_deref(), self.credential.into(), super::settings::arm_tuning())?;
        if let Some(display) = WAIT_DISPLAY.get() {
            let display = display.clone();
            client.on_wait(Arc::new(move |waiting| display.show(waiting)));
        }
        Ok(client)
    }
}

/// How this run shows ARM retries; set once by [`show_waiting`].
static WAIT_DISPLAY: OnceLock<Arc<WaitDisplay>> = OnceLock::new();

/// Shows the retries of every ARM client of this run (`cli::run` calls it once): on a
/// terminal one status line on stderr, updated in place and cleared once ARM answers; off
/// a terminal one line per retry on stderr (parallel requests retrying alike print it
/// once). Hidden with `-q`; shown with `--output json` too, since it goes to stderr.
pub fn show_waiting(printer: &Printer) {
    let display = WaitDisplay {
        quiet: printer.quiet,
        terminal: io::stderr().is_terminal(),
        state: Mutex::new(WaitState { bar: None, last: None }),
    };
    let _ = WAIT_DISPLAY.set(Arc::new(display));
}

struct WaitDisplay {
    quiet: bool,
    terminal: bool,
    state: Mutex<WaitState>,
}

struct WaitState {
    /// The status line on a terminal, while a retry is pending.
    bar: Option<ProgressBar>,
    /// The last retry written off a terminal.
    last: Option<(RetryReason, u32)>,
}

impl WaitDisplay {
    fn show(&self, waiting: Waiting<'_>) {
        if self.quiet {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match waiting {
            Waiting::Retry { reason, retry, of, wait, .. } => {
                let line = format!("{reason}, retry {retry}/{of} in {}…", duration_words(wait));
                if self.terminal {
                    let bar = state.bar.get_or_insert_with(|| {
                        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                        bar.set_style(
                            ProgressStyle::with_template("{spinner} {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                        );
                        bar.enable_steady_tick(Duration::from_millis(200));
                        bar
                    });
                    bar.set_message(line);
                } else if state.last != Some((reason, retry)) {
                    state.last = Some((reason, retry));
                    eprintln!("{line}");
                }
            }
            Waiting::Ended => {
                if let Some(bar) = state.bar.take() {
                    bar.finish_and_clear();
                }
                state.last = None;
            }
        }
    }
}

/// `800 ms`, `4 s`, `1.5 s`.
fn duration_words(wait: Duration) -> String {
    match wait.as_millis() {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        ms => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// The contract of every mutating command: `--what-if` shows the plan and writes nothing;
/// otherwise it asks on a terminal, and off a terminal it needs `--yes`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// Show what would change and write nothing.
    #[arg(long)]
    pub what_if: bool,
    /// Go ahead without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

impl ApplyArgs {
    /// Goes ahead with `--yes`; asks `question` on a terminal; refuses (exit 2) without one.
    /// `command` names what would change, e.g. `backends add changes oai-lb.toml`.
    pub fn confirm(&self, command: &str, question: &str) -> Result<(), Error> {
        if self.yes {
            return Ok(());
        }
        if !io::stdin().is_terminal() {
            return Err(Error::usage(format!("{command} and stdin is not a terminal"))
                .fix("pass --yes to go ahead, or --what-if to only show the plan"));
        }
        let go = dialoguer::Confirm::new()
            .with_prompt(question)
            .default(false)
            .interact()
            .map_err(|e| Error::caused_by("cannot read the answer", e))?;
        if go { Ok(()) } else { Err(Error::failure("cancelled; nothing was written")) }
    }
}

/// How a deployed resource compares with the config, in words.
pub fn describe(action: &Action) -> String {
    match action {
        Action::Create => "missing".into(),
        Action::Restore => "missing (soft-deleted)".into(),
        Action::Update { fields } => format!("differs ({})", fields.join(", ")),
        Action::Unchanged => "in sync".into(),
    }
}

/// The same for a resource the plan may not have.
pub fn describe_or_unknown(action: Option<&Action>) -> String {
    action.map_or_else(|| "unknown".into(), describe)
}

/// One spinner per running write, with elapsed time and the operation's state; hidden with
/// `-q`, `--output json` and off a terminal, where with `notes` each label is written once
/// instead (for CI logs).
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    notes: Option<Printer>,
}

impl Bars {
    pub fn new(printer: &Printer, notes: bool) -> Bars {
        let drawn = !printer.quiet && !printer.json();
        let target = if drawn { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let notes = (notes && !io::stderr().is_terminal()).then(|| printer.clone());
        Bars { multi: MultiProgress::with_draw_target(target), bars: Mutex::new(HashMap::new()), notes }
    }

    pub fn event(&self, event: Event<'_>) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Started { label } => {
                if let Some(printer) = &self.notes {
                    printer.note(format!("{label}…"));
                }
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(label.to_string());
                bar.set_message("writing");
                bar.enable_steady_tick(Duration::from_millis(200));
                bars.insert(label.to_string(), bar);
            }
            Event::State { label, state } => {
                if let Some(bar) = bars.get(label) {
                    bar.set_message(state.to_string());
                }
            }
            Event::Done { label } => {
                if let Some(bar) = bars.remove(label) {
                    bar.finish_with_message("done");
                }
            }
            Event::Written { .. } => {}
        }
    }

    pub fn clear(&self) {
        let _ = self.multi.clear();
    }
}
