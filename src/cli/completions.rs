//! `oai-lb completions <shell>`: the completion script for a shell, generated from the
//! command tree itself so it can never list a flag that does not exist.

use std::process::ExitCode;

use clap_complete::Shell;

use super::{Error, Printer};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    let script = script(args.shell);
    printer.line(script.strip_suffix('\n').unwrap_or(&script))?;
    Ok(ExitCode::SUCCESS)
}

/// The script exactly as `oai-lb completions <shell>` prints it.
pub fn script(shell: Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut super::command(), "oai-lb", &mut out);
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
