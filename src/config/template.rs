//! The commented starter file `oai-lb init` writes.

use std::path::Path;

use toml_edit::DocumentMut;

use super::{BackendConfig, ConfigError, Strategy};

/// What the file will say, after flags and answers are merged.
#[derive(Debug, Default)]
pub struct Starter {
    /// Subscription, resource group, location.
    pub azure: Option<(String, String, String)>,
    pub apim: Option<StarterApim>,
    pub listen: Option<String>,
    pub backends: Vec<BackendConfig>,
}

/// The `[apim]` table of a starter file.
#[derive(Debug)]
pub struct StarterApim {
    pub name: String,
    pub sku: String,
    pub publisher_email: String,
    pub publisher_name: String,
    pub strategy: Strategy,
}

/// The file: commented sections as text, backends appended with the same code as
/// `backends add`.
pub fn render(path: &Path, answers: &Starter) -> Result<String, ConfigError> {
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
            super::APIM_SKUS.join(" | "),
            quote(&apim.publisher_email),
            quote(&apim.publisher_name),
            quote(apim.strategy.as_str()),
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
        super::edit::add_backend(path, &mut doc, backend)?;
    }
    if let Some(first) = doc.get_mut("backends").and_then(|b| b.as_array_of_tables_mut()).and_then(|b| b.get_mut(0)) {
        // A blank line after the help makes it a heading: it stays when the first backend
        // is removed (see `edit`).
        first.decor_mut().set_prefix(format!("{BACKENDS_HELP}\n"));
    }
    Ok(doc.to_string())
}
