//! The edit's plan, the confirmation, the file write and the APIM converge.

use std::process::ExitCode;

use super::SyncArgs;
use crate::azure::{self, Event, Kind, Stack};
use crate::cli::azure::Bars;
use crate::cli::settings::Settings;
use crate::cli::{Error, GlobalArgs, Printer};
use crate::config::edit::{self, Edited};

/// Shows the plan (the file edit and the APIM changes), asks (or needs `--yes`), writes
/// the file, then converges APIM unless `--local-only` or the config has no APIM.
pub(super) fn apply(
    global: &GlobalArgs,
    edited: Edited,
    (verb, what): (&str, String),
    removed: Option<&str>,
    sync: &SyncArgs,
    printer: &Printer,
) -> Result<ExitCode, Error> {
    let path = &global.config;
    let settings = Settings { path: path.clone(), config: edited.config };
    // No key is read for the file edit; APIM gets only the keys it has not stored yet.
    let deployed = !sync.local_only && settings.has_apim();
    let apim = if deployed {
        let stack: Stack = settings.stack()?;
        let client = sync.azure.connect()?;
        // Plan before writing the file: a config that cannot be planned is not written.
        let change = crate::cli::runtime()?.block_on(azure::backends::plan(&client, &stack, removed))?;
        let local_only = ", or pass --local-only to edit the file only";
        settings.check_uploaded_keys(|name| change.writes(Kind::NamedValue, name), local_only)?;
        Some((client, change))
    } else {
        None
    };
    let changes = apim.as_ref().map(|(_, change)| change.labels()).unwrap_or_default();
    if sync.apply.what_if {
        if printer.json() {
            printer.print_json(&serde_json::json!({"what_if": true, "config": what, "apim": changes}))?;
        } else {
            printer.line(format!("What-if: would have {what} in {}.", path.display()))?;
            for label in &changes {
                printer.line(format!("  APIM: would write {label}"))?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let target = if deployed { format!("{} and APIM", path.display()) } else { path.display().to_string() };
    printer.note(format!("Plan: backends {verb} in {}.", path.display()));
    for label in &changes {
        printer.note(format!("  APIM: will write {label}"));
    }
    sync.apply.confirm(&format!("backends {verb} changes {target}"), &format!("Apply to {target}?"))?;
    edit::write_atomically(path, &edited.text)?;
    // Not read here, but `serve` (and `deploy` for a new backend) will: say so now.
    for (backend, var) in settings.config.unset_backend_keys() {
        printer.note(format!("note: backend `{backend}` reads its key from {var}, which is unset: `export {var}=...`"));
    }
    let Some((client, change)) = apim else {
        printer
            .note(format!("{what} in {}; APIM is left as it is (run `oai-lb deploy` to update it).", path.display()));
        return report(printer, &what, &[]);
    };
    let bars = Bars::new(printer, true);
    let observer = |event: Event<'_>| bars.event(event);
    let applied = crate::cli::runtime()?.block_on(azure::backends::apply(&client, change, &observer));
    bars.clear();
    applied.map_err(|e| {
        Error::caused_by(format!("{what} in {}, but APIM was not fully updated", path.display()), e)
            .fix("run `oai-lb deploy`")
    })?;
    printer.note(format!("{what} in {}; APIM: {} change(s) applied.", path.display(), changes.len()));
    report(printer, &what, &changes)
}

fn report(printer: &Printer, what: &str, apim: &[String]) -> Result<ExitCode, Error> {
    if printer.json() {
        printer.print_json(&serde_json::json!({"what_if": false, "config": what, "apim": apim}))?;
    }
    Ok(ExitCode::SUCCESS)
}
