//! The APIM named values a rendered policy reads (`{{name}}`), and the backend list the
//! smart policy keeps in one of them.
//!
//! The list lives in a named value rather than in the XML so that `backends set` changes a
//! priority without re-validating the policy; it carries a hash of itself, and the policy
//! keys its cooldown cache with that hash, so a new list takes effect on the next request.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{ListedBackend, Options};
use crate::config::{BackendAuth, Config, Strategy};

pub use crate::names::{
    BACKENDS_NAMED_VALUE, CLIENT_APP_ID_NAMED_VALUE, CLIENT_AUDIENCE_NAMED_VALUE, IDENTITY_CLIENT_ID_NAMED_VALUE,
    TENANT_ID_NAMED_VALUE, backend_key_named_value,
};

/// APIM refuses named values longer than this.
pub const MAX_NAMED_VALUE_LEN: usize = 4096;

/// A named value `deploy` must create. Its `name` is both the resource name and the
/// display name, which is what `{{…}}` references resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedValue {
    pub name: String,
    pub value: NamedValueSource,
    pub secret: bool,
}

/// Where a named value's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum NamedValueSource {
    /// Known from the config.
    Text(String),
    /// The client id of the user-assigned identity `deploy` creates.
    IdentityClientId,
    /// Read from this environment variable at deploy time; never written to the config.
    Env(String),
}

/// Every named value the rendered policy or the APIM backend resources reference, sorted by
/// name, so `deploy` creates exactly these.
pub fn required_named_values(config: &Config, strategy: Strategy) -> Vec<NamedValue> {
    let options = Options::of(config);
    let backends = super::backends(config);
    let mut values = Vec::new();
    if strategy == Strategy::Policy {
        values.push(NamedValue {
            name: BACKENDS_NAMED_VALUE.into(),
            value: NamedValueSource::Text(backends_json(&backends)),
            secret: false,
        });
    }
    if options.entra_backends {
        values.push(NamedValue {
            name: IDENTITY_CLIENT_ID_NAMED_VALUE.into(),
            value: NamedValueSource::IdentityClientId,
            secret: false,
        });
    }
    if let (Some(client), Some(tenant)) = (&options.client_auth, &options.tenant_id) {
        for (name, value) in [
            (TENANT_ID_NAMED_VALUE, tenant),
            (CLIENT_AUDIENCE_NAMED_VALUE, &client.audience),
            (CLIENT_APP_ID_NAMED_VALUE, &client.client_id),
        ] {
            values.push(NamedValue { name: name.into(), value: NamedValueSource::Text(value.clone()), secret: false });
        }
    }
    for backend in &config.backends {
        if let (BackendAuth::ApiKey, Some(env)) = (backend.auth, &backend.api_key_env) {
            values.push(NamedValue {
                name: backend_key_named_value(&backend.name),
                value: NamedValueSource::Env(env.clone()),
                secret: true,
            });
        }
    }
    values.sort_by(|a, b| a.name.cmp(&b.name));
    values
}

/// The value of [`BACKENDS_NAMED_VALUE`] for this config.
pub fn backends_named_value(config: &Config) -> String {
    backends_json(&super::backends(config))
}

/// Every `{{name}}` a policy document references, sorted and without duplicates.
pub fn referenced_named_values(xml: &str) -> Vec<String> {
    let mut names: Vec<String> = xml
        .split("{{")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}").map(|(name, _)| name.trim().to_string()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `{"hash":"…","backends":[…]}`; `'`, `<`, `>` and `&` are written as `\u00XX` so the
/// value is safe inside the single-quoted attribute that reads it.
pub(crate) fn backends_json(backends: &[ListedBackend]) -> String {
    #[derive(Serialize)]
    struct List<'a> {
        hash: String,
        backends: &'a [ListedBackend],
    }
    let list = serde_json::to_string(backends).expect("plain data serializes");
    let hash = hex_prefix(&Sha256::digest(list.as_bytes()));
    let json = serde_json::to_string(&List { hash, backends }).expect("plain data serializes");
    json.replace('\'', "\\u0027").replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

fn hex_prefix(digest: &[u8]) -> String {
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_once_each() {
        let xml = "<a v='{{b}}'>{{a}} {{b}} {{ c }}</a> {{unclosed";
        assert_eq!(referenced_named_values(xml), vec!["a", "b", "c"]);
    }

    #[test]
    fn backend_list_hash_changes_with_the_list() {
        let a = ListedBackend { id: "a".into(), priority: 1, weight: 1, auth: BackendAuth::None, deployments: vec![] };
        let mut b = a.clone();
        b.priority = 2;
        let one = backends_json(std::slice::from_ref(&a));
        assert_eq!(one, backends_json(std::slice::from_ref(&a)));
        assert_ne!(one, backends_json(&[b]));
        let parsed: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert_eq!(parsed["hash"].as_str().unwrap().len(), 16);
        assert_eq!(parsed["backends"][0]["id"], "a");
    }

    #[test]
    fn attribute_breaking_characters_are_json_escaped() {
        let odd = ListedBackend {
            id: "x".into(),
            priority: 1,
            weight: 1,
            auth: BackendAuth::None,
            deployments: vec!["it's <&>".into()],
        };
        let json = backends_json(&[odd]);
        assert!(!json.contains(['\'', '<', '>', '&']), "{json}");
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["backends"][0]["deployments"][0], "it's <&>");
    }
}
