//! `oai-lb init`: writes a commented oai-lb.toml, from flags, or by asking on a terminal.
//! It never asks when stdin is not a terminal or `--yes` is given, and the file it writes
//! always loads (it is validated before it is written).

use std::io::IsTerminal;
use std::process::ExitCode;

use dialoguer::{Confirm, Input, Select};
use serde::Serialize;
use toml_edit::DocumentMut;

use super::backends::{AuthArg, auth_name};
use super::backends::{add_backend, write_atomically};
use super::policy::{StrategyArg, strategy_name};
use super::{Error, GlobalArgs, Printer};
use crate::config::{self, BackendAuth, BackendConfig, Config, Strategy};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// Ask nothing: use the flags and defaults (implied when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Azure subscription for deploy (with --resource-group and --location).
    #[arg(long)]
    pub subscription_id: Option<String>,
    #[arg(long)]
    pub resource_group: Option<String>,
    #[arg(long)]
    pub location: Option<String>,
    /// API Management service name (with --publisher-email and --publisher-name).
    #[arg(long)]
    pub apim_name: Option<String>,
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(config::APIM_SKUS))]
    pub apim_sku: Option<String>,
    #[arg(long)]
    pub publisher_email: Option<String>,
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

/// What the file will say, after flags and answers are merged.
#[derive(Debug, Default)]
struct Answers {
    azure: Option<(String, String, String)>,
    apim: Option<Apim>,
    listen: Option<String>,
    backends: Vec<BackendConfig>,
}

#[derive(Debug)]
struct Apim {
    name: String,
    sku: String,
    publisher_email: String,
    publisher_name: String,
    strategy: Strategy,
}

#[derive(Serialize)]
struct Written<'a> {
    path: &'a str,
    backends: usize,
    azure: bool,
    apim: bool,
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    let path = &global.config;
    if path.exists() && !args.force {
        return Err(Error::usage(format!(
            "{} already exists (fix: pass --force to overwrite it, or --config PATH to write elsewhere)",
            path.display()
        )));
    }
    let interactive = !args.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let answers = if interactive { ask(args)? } else { from_flags(args)? };
    let text = render(&answers)?;
    Config::parse(path, &text)?;
    write_atomically(path, &text)?;
    if printer.json() {
        printer.print_json(&Written {
            path: &path.display().to_string(),
            backends: answers.backends.len(),
            azure: answers.azure.is_some(),
            apim: answers.apim.is_some(),
        })?;
    } else {
        printer.note(format!(
            "wrote {} with {} backend(s); next: `oai-lb serve`{}",
            path.display(),
            answers.backends.len(),
            if answers.apim.is_some() { " or `oai-lb deploy`" } else { "" }
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Flags only: groups must be complete (all of Azure's three, all of APIM's three).
fn from_flags(args: Args) -> Result<Answers, Error> {
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
        (Some(name), Some(publisher_email), Some(publisher_name)) => Some(Apim {
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
    Ok(Answers { azure, apim, listen: args.listen, backends: args.backends })
}

/// Asks for what the flags left out.
fn ask(args: Args) -> Result<Answers, Error> {
    let prompt_failed = |e: dialoguer::Error| Error::failure(format!("cannot read the answer: {e}"));
    let text = |prompt: &str, default: Option<String>| -> Result<String, Error> {
        let mut input = Input::<String>::new().with_prompt(prompt).allow_empty(default.is_none());
        if let Some(d) = default {
            input = input.default(d);
        }
        input.interact_text().map_err(prompt_failed)
    };
    let non_empty = |s: String| (!s.trim().is_empty()).then(|| s.trim().to_string());

    let subscription = match args.subscription_id {
        Some(s) => Some(s),
        None => non_empty(text("Azure subscription id (empty: local balancer only)", None)?),
    };
    let azure = match subscription {
        Some(subscription) => {
            let group = args.resource_group.map_or_else(|| text("Resource group", Some("rg-oai-lb".into())), Ok)?;
            let location = args.location.map_or_else(|| text("Location", Some("eastus".into())), Ok)?;
            Some((subscription, group, location))
        }
        None => None,
    };
    let apim = match (&azure, args.apim_name) {
        (None, _) => None,
        (Some(_), name) => {
            let name = match name {
                Some(n) => Some(n),
                None => non_empty(text("APIM service name (empty: no APIM)", None)?),
            };
            match name {
                None => None,
                Some(name) => Some(Apim {
                    name,
                    sku: args.apim_sku.unwrap_or_else(|| "Developer".into()),
                    publisher_email: args.publisher_email.map_or_else(|| text("Publisher email", None), Ok)?,
                    publisher_name: args.publisher_name.map_or_else(|| text("Publisher name", None), Ok)?,
                    strategy: args.strategy.map(Strategy::from).unwrap_or_default(),
                }),
            }
        }
    };

    let mut backends = args.backends;
    loop {
        let question = if backends.is_empty() { "Add a backend?" } else { "Add another backend?" };
        if !Confirm::new().with_prompt(question).default(backends.is_empty()).interact().map_err(prompt_failed)? {
            break;
        }
        let name: String = Input::new()
            .with_prompt("Name")
            .validate_with(
                |n: &String| {
                    if backends.iter().any(|b| &b.name == n) { Err("that name is taken") } else { Ok(()) }
                },
            )
            .interact_text()
            .map_err(prompt_failed)?;
        let url: String = Input::new()
            .with_prompt("URL")
            .validate_with(|u: &String| config::validate_backend_url(u).map(|_| ()))
            .interact_text()
            .map_err(prompt_failed)?;
        let priority: u32 =
            Input::new().with_prompt("Priority (1 = preferred)").default(1).interact_text().map_err(prompt_failed)?;
        let auths = [BackendAuth::ApiKey, BackendAuth::Entra, BackendAuth::None];
        let choice = Select::new()
            .with_prompt("Authentication")
            .items(&auths.map(auth_name))
            .default(0)
            .interact()
            .map_err(prompt_failed)?;
        let auth = auths[choice];
        let api_key_env = if auth == BackendAuth::ApiKey {
            let default = format!("AOAI_{}_KEY", name.to_uppercase().replace(['-', '.'], "_"));
            Some(text("Environment variable holding its key", Some(default))?)
        } else {
            None
        };
        backends.push(BackendConfig { name, url, priority, weight: 1, auth, api_key_env, deployments: Vec::new() });
    }
    Ok(Answers { azure, apim, listen: args.listen, backends })
}

/// The file: commented sections as text, backends appended with the same code as
/// `backends add`.
fn render(answers: &Answers) -> Result<String, Error> {
    let quote = |s: &str| toml_edit::Value::from(s).to_string();
    let mut text = String::from(
        "# oai-lb configuration, written by `oai-lb init`. Every command reads it; flags and\n\
         # OAI_LB_* environment variables override it. Secrets never live here: a backend names\n\
         # the environment variable that holds its key.\n",
    );
    if let Some((subscription, group, location)) = &answers.azure {
        text.push_str(&format!(
            "\n[azure]                      # used by deploy / backends / policy / destroy\n\
             subscription_id = {}\nresource_group  = {}\nlocation        = {}\n",
            quote(subscription),
            quote(group),
            quote(location)
        ));
    }
    if let Some(apim) = &answers.apim {
        text.push_str(&format!(
            "\n[apim]\nname            = {}\n\
             sku             = {}        # {}\n\
             publisher_email = {}\npublisher_name  = {}\n\
             api_path        = \"openai\"           # clients call https://<name>.azure-api.net/openai\n\
             strategy        = {}           # policy: the smart policy | pool: native backend pool + circuit breaker\n\
             # Clients send Entra tokens instead of subscription keys (needs tenant_id under [azure]):\n\
             # [apim.client_auth]\n\
             # audience  = \"api://oai-lb\"\n\
             # client_id = \"<client id of the calling app>\"\n",
            quote(&apim.name),
            quote(&apim.sku),
            config::APIM_SKUS.join(" | "),
            quote(&apim.publisher_email),
            quote(&apim.publisher_name),
            quote(strategy_name(apim.strategy)),
        ));
    }
    let listen = answers.listen.as_deref().unwrap_or("127.0.0.1:8080");
    text.push_str(&format!(
        "\n[balancer]                   # used by serve\n\
         listen          = {}\n\
         # client_keys_env = \"OAI_LB_CLIENT_KEYS\"  # comma-separated keys clients must send\n\
         all_throttled   = \"reject\"           # reject: 429 with the soonest Retry-After | primary: send to the first backend\n\
         default_cooldown_secs = 10           # rest for a failed backend that sends no Retry-After\n",
        quote(listen)
    ));
    const BACKENDS_HELP: &str = "\n# One table per endpoint. priority 1 is preferred; weight shares traffic within a\n\
         # priority; auth = \"api-key\" (with api_key_env) | \"entra\" | \"none\".\n";
    if answers.backends.is_empty() {
        text.push_str(BACKENDS_HELP);
        text.push_str(
            "# [[backends]]\n# name     = \"eastus\"\n# url      = \"https://contoso-eastus.openai.azure.com\"\n\
             # priority = 1\n# auth     = \"api-key\"\n# api_key_env = \"AOAI_EASTUS_KEY\"\n",
        );
        return Ok(text);
    }
    let mut doc: DocumentMut = text.parse().expect("the template is valid TOML");
    for backend in &answers.backends {
        add_backend(&mut doc, backend)?;
    }
    if let Some(first) = doc.get_mut("backends").and_then(|b| b.as_array_of_tables_mut()).and_then(|b| b.get_mut(0)) {
        first.decor_mut().set_prefix(BACKENDS_HELP);
    }
    Ok(doc.to_string())
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
