//! `oai-lb init`: writes a commented oai-lb.toml, from flags, or by asking on a terminal.
//! It never asks when stdin is not a terminal or `--yes` is given, and the file it writes
//! always loads (it is validated before it is written).

mod ask;

use std::io::IsTerminal;
use std::process::ExitCode;

use serde::Serialize;

use super::azure::ApplyArgs;
use super::backends::AuthArg;
use super::policy::StrategyArg;
use super::{Error, GlobalArgs, Printer};
use crate::config::template::{self, Starter, StarterApim};
use crate::config::{self, BackendAuth, BackendConfig, Config, Strategy};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Overwrite an existing file (asks first; --yes when stdin is not a terminal).
    #[arg(long)]
    pub force: bool,
    /// --yes: ask nothing, use the flags and defaults (implied when stdin is not a terminal).
    /// --what-if: print the file and write nothing.
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// Azure subscription for deploy (with --resource-group and --location).
    #[arg(long)]
    pub subscription_id: Option<String>,
    /// The resource group deploy creates or uses (asked on a terminal; default rg-oai-lb).
    #[arg(long)]
    pub resource_group: Option<String>,
    /// The Azure region, e.g. eastus.
    #[arg(long)]
    pub location: Option<String>,
    /// API Management service name (with --publisher-email and --publisher-name).
    #[arg(long)]
    pub apim_name: Option<String>,
    /// The APIM pricing tier (default Developer).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(config::APIM_SKUS))]
    pub apim_sku: Option<String>,
    /// The APIM publisher's email (APIM requires it).
    #[arg(long)]
    pub publisher_email: Option<String>,
    /// The APIM publisher's name (APIM requires it).
    #[arg(long)]
    pub publisher_name: Option<String>,
    /// The APIM strategy.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Where `serve` listens.
    #[arg(long, value_name = "IP:PORT")]
    pub listen: Option<String>,
    /// A backend (repeatable): NAME=URL[,priority=N][,weight=W][,key-env=VAR][,auth=api-key|entra|none].
    #[arg(long = "backend", value_name = "NAME=URL[,…]", value_parser = parse_backend)]
    pub backends: Vec<BackendConfig>,
}

#[derive(Serialize)]
struct Written<'a> {
    path: &'a str,
    backends: usize,
    azure: bool,
    apim: bool,
    /// Key variables the file names that are unset: `serve` and `deploy` read them.
    export: &'a [String],
    /// The command to run next, in words.
    next: &'a str,
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    let path = &global.config;
    if path.exists() && !args.force {
        return Err(Error::usage(format!(
            "{} already exists (fix: pass --force to overwrite it, or --config PATH to write elsewhere)",
            path.display()
        )));
    }
    let overwrite = path.exists();
    let apply = args.apply.clone();
    let interactive = !apply.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let answers = if interactive { ask::ask(args)? } else { from_flags(args)? };
    let text = template::render(path, &answers)?;
    // The file must load. The keys it names are read by `serve`, not here: an unset one is
    // a line of advice, not a reason to lose the answers.
    let config = Config::parse(path, &text)?;
    let export: Vec<String> = config.unset_backend_keys().into_iter().map(|(_, var)| var.to_string()).collect();
    if apply.what_if {
        if printer.json() {
            let plan = serde_json::json!({"what_if": true, "path": path.display().to_string(), "text": text, "export": export});
            return printer.print_json(&plan).map(|()| ExitCode::SUCCESS);
        }
        printer.line(text.trim_end())?;
        printer.note(format!("What-if: {} was not written.", path.display()));
        return Ok(ExitCode::SUCCESS);
    }
    if overwrite {
        let what = format!("init --force would overwrite {}", path.display());
        apply.confirm(&what, &format!("Overwrite {}?", path.display()))?;
    }
    config::edit::write_atomically(path, &text)?;
    let next = next_step(&answers, &export);
    if printer.json() {
        printer.print_json(&Written {
            path: &path.display().to_string(),
            backends: answers.backends.len(),
            azure: answers.azure.is_some(),
            apim: answers.apim.is_some(),
            export: &export,
            next: &next,
        })?;
    } else {
        printer.note(format!("wrote {} with {} backend(s); next: {next}", path.display(), answers.backends.len()));
    }
    Ok(ExitCode::SUCCESS)
}

/// What to run after `init`: a command that works with the file as written.
fn next_step(answers: &Starter, export: &[String]) -> String {
    let run = if answers.apim.is_some() { "`oai-lb serve` or `oai-lb deploy`" } else { "`oai-lb serve`" };
    if answers.backends.is_empty() {
        return format!(
            "add a backend with `oai-lb backends add NAME --url https://NAME.openai.azure.com`, then {run}"
        );
    }
    let exports: Vec<String> = export.iter().map(|var| format!("`export {var}=...`")).collect();
    match exports.is_empty() {
        true => run.to_string(),
        false => format!("{} (keys the file names), then {run}", exports.join(", ")),
    }
}

/// Flags only: groups must be complete (all of Azure's three, all of APIM's three).
fn from_flags(args: Args) -> Result<Starter, Error> {
    let azure = match (args.subscription_id, args.resource_group, args.location) {
        (None, None, None) => None,
        (Some(s), Some(r), Some(l)) => Some((s, r, l)),
        _ => {
            return Err(Error::usage(
                "Azure needs all of --subscription-id, --resource-group and --location (fix: pass the missing ones)",
            ));
        }
    };
    let apim = match (args.apim_name, args.publisher_email, args.publisher_name) {
        (None, None, None) => None,
        (Some(name), Some(publisher_email), Some(publisher_name)) => Some(StarterApim {
            name,
            sku: args.apim_sku.unwrap_or_else(|| "Developer".into()),
            publisher_email,
            publisher_name,
            strategy: args.strategy.map(Strategy::from).unwrap_or_default(),
        }),
        _ => {
            return Err(Error::usage(
                "APIM needs all of --apim-name, --publisher-email and --publisher-name (fix: pass the missing ones)",
            ));
        }
    };
    if apim.is_some() && azure.is_none() {
        return Err(Error::usage(
            "APIM is deployed into Azure (fix: also pass --subscription-id, --resource-group and --location)",
        ));
    }
    Ok(Starter { azure, apim, listen: args.listen, backends: args.backends })
}

/// `NAME=URL[,priority=N][,weight=W][,key-env=VAR][,auth=api-key|entra|none]`.
fn parse_backend(spec: &str) -> Result<BackendConfig, String> {
    let (name, rest) = spec.split_once('=').ok_or("expected NAME=URL[,priority=N][,weight=W][,key-env=VAR]")?;
    let mut parts = rest.split(',');
    let url = parts.next().unwrap_or_default().trim();
    if url.is_empty() {
        return Err(format!("backend `{name}` has no URL"));
    }
    let mut backend = BackendConfig {
        name: name.trim().to_string(),
        url: url.to_string(),
        priority: 1,
        weight: 1,
        auth: BackendAuth::None,
        api_key_env: None,
        deployments: Vec::new(),
    };
    let mut auth = None;
    for part in parts {
        let (key, value) = part.split_once('=').ok_or_else(|| format!("`{part}` is not KEY=VALUE"))?;
        let number = || value.trim().parse::<u32>().map_err(|_| format!("{key} must be a whole number, not `{value}`"));
        match key.trim() {
            "priority" => backend.priority = number()?,
            "weight" => backend.weight = number()?,
            "key-env" => backend.api_key_env = Some(value.trim().to_string()),
            "auth" => {
                let parsed = <AuthArg as clap::ValueEnum>::from_str(value.trim(), false)
                    .map_err(|_| format!("auth `{value}` is not one of api-key, entra, none"))?;
                auth = Some(BackendAuth::from(parsed));
            }
            other => return Err(format!("unknown key `{other}` (use priority, weight, key-env or auth)")),
        }
    }
    backend.auth = auth.unwrap_or(if backend.api_key_env.is_some() { BackendAuth::ApiKey } else { BackendAuth::None });
    Ok(backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_specs() {
        let b = parse_backend("east=https://e.openai.azure.com,priority=2,weight=3,key-env=EAST_KEY").unwrap();
        assert_eq!((b.name.as_str(), b.priority, b.weight), ("east", 2, 3));
        assert_eq!((b.auth, b.api_key_env.as_deref()), (BackendAuth::ApiKey, Some("EAST_KEY")));
        let b = parse_backend("west=https://w.openai.azure.com,auth=entra").unwrap();
        assert_eq!((b.priority, b.auth), (1, BackendAuth::Entra));
        assert!(parse_backend("nourl").is_err());
        assert!(parse_backend("x=").is_err());
        assert!(parse_backend("x=https://x,priority=high").unwrap_err().contains("whole number"));
        assert!(parse_backend("x=https://x,colour=red").unwrap_err().contains("unknown key"));
    }
}
