//! `init` on a terminal: asks for what the flags left out.

use dialoguer::{Confirm, Input, Select};

use super::Args;
use crate::cli::Error;
use crate::config::template::{Starter, StarterApim};
use crate::config::{self, BackendAuth, BackendConfig, Strategy};

/// Asks for what the flags left out.
pub(super) fn ask(args: Args) -> Result<Starter, Error> {
    let prompt_failed = |e: dialoguer::Error| Error::caused_by("cannot read the answer", e);
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
                Some(name) => Some(StarterApim {
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
            .items(&auths.map(BackendAuth::as_str))
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
    Ok(Starter { azure, apim, listen: args.listen, backends })
}
