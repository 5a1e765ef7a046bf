//! What the fake ARM does for Container Apps, Azure Cache for Redis and Log Analytics keys,
//! as the real services document it:
//!
//! - a managed environment checks its Log Analytics customer id and shared key against the
//!   workspace, gets a default domain, and never returns the shared key;
//! - a container app needs its environment (provisioned), every `secretRef` must name one
//!   of its secrets, a secret needs a value (or a Key Vault URL), a registry's identity must
//!   be one of the app's; it gets an ingress FQDN and a revision (a new one when its template
//!   changes) whose `replicas` is the running pod count; GET never returns secret values,
//!   `listSecrets` does;
//! - a Redis cache stays `Creating` for a while after its PUT (no operation header: the
//!   caller watches `provisioningState`), gets a host name, TLS port and access keys, which
//!   only `listKeys` returns (refused while the cache is not provisioned);
//! - a workspace's shared keys come from `sharedKeys`;
//! - a revision restarts with `POST …/revisions/{name}/restart` (counted in the fake's own
//!   `properties.restarts`, which the real API does not have).

use serde_json::{Value, json};

use super::{Answer, State, Stored, error};

pub fn is_type(id: &str, provider: &str, kind: &str) -> bool {
    let segments: Vec<&str> = id.trim_matches('/').split('/').collect();
    segments.len() == 8 && segments[5].eq_ignore_ascii_case(provider) && segments[6].eq_ignore_ascii_case(kind)
}

pub fn is_environment(id: &str) -> bool {
    is_type(id, "Microsoft.App", "managedEnvironments")
}
pub fn is_app(id: &str) -> bool {
    is_type(id, "Microsoft.App", "containerApps")
}
pub fn is_redis(id: &str) -> bool {
    is_type(id, "Microsoft.Cache", "redis")
}
pub fn is_workspace(id: &str) -> bool {
    is_type(id, "Microsoft.OperationalInsights", "workspaces")
}

/// A random key (Azure's are base64 of 32-64 random bytes; hex serves the same purpose).
fn new_key() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// A workspace's shared keys, made on first use (an existing workspace inserted by a test
/// has them too).
fn workspace_keys(stored: &mut Stored) -> (String, String) {
    let props = &mut stored.body["properties"];
    for k in ["primarySharedKey", "secondarySharedKey"] {
        if props.get(k).and_then(Value::as_str).is_none() {
            props[k] = json!(new_key());
        }
    }
    (props["primarySharedKey"].as_str().unwrap().to_string(), props["secondarySharedKey"].as_str().unwrap().to_string())
}

/// Checks and completes a PUT body of these types before it is stored; `Err` answers it.
pub fn on_put(st: &mut State, key: &str, body: &mut Value, existing: Option<&Stored>) -> Result<(), Answer> {
    let keep = |p: &str| existing.and_then(|e| e.body.pointer(p).cloned());
    if is_workspace(key) {
        for k in ["primarySharedKey", "secondarySharedKey"] {
            body["properties"][k] = keep(&format!("/properties/{k}")).unwrap_or_else(|| json!(new_key()));
        }
    }
    if is_redis(key) {
        let name = body["name"].as_str().unwrap_or("").to_string();
        let props = &mut body["properties"];
        props["hostName"] = json!(format!("{name}.redis.cache.windows.net"));
        props["port"] = json!(6379);
        props["sslPort"] = json!(6380);
        props["accessKeys"] = keep("/properties/accessKeys")
            .unwrap_or_else(|| json!({"primaryKey": new_key(), "secondaryKey": new_key()}));
    }
    if is_environment(key) {
        let la = body.pointer("/properties/appLogsConfiguration/logAnalyticsConfiguration").cloned();
        if let Some(la) = la {
            let customer = la["customerId"].as_str().unwrap_or("");
            let shared = la["sharedKey"].as_str().unwrap_or("");
            let ids: Vec<String> = st
                .resources
                .iter()
                .filter(|(k, s)| is_workspace(k) && s.body.pointer("/properties/customerId") == Some(&json!(customer)))
                .map(|(k, _)| k.clone())
                .collect();
            let valid = ids.iter().any(|k| {
                let (primary, secondary) = workspace_keys(st.resources.get_mut(k).expect("listed"));
                shared == primary || shared == secondary
            });
            if !valid {
                return Err(error(
                    400,
                    "ValidationError",
                    "The Log Analytics workspace customer id or shared key of appLogsConfiguration is invalid.",
                ));
            }
        }
        let domain = keep("/properties/defaultDomain").unwrap_or_else(|| {
            json!(format!("{}.eastus.azurecontainerapps.io", &uuid::Uuid::new_v4().simple().to_string()[..10]))
        });
        body["properties"]["defaultDomain"] = domain;
        body["properties"]["staticIp"] = json!("20.1.2.3");
    }
    if is_app(key) {
        check_app(st, body)?;
        complete_app(st, key, body, existing);
    }
    Ok(())
}

fn check_app(st: &State, body: &Value) -> Result<(), Answer> {
    let invalid = |m: String| Err(error(400, "ValidationError", &m));
    let env = body.pointer("/properties/environmentId").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    match st.resources.get(&env) {
        None => {
            return Err(error(404, "ManagedEnvironmentNotFound", &format!("The environment '{env}' was not found.")));
        }
        Some(e) if e.state != "Succeeded" => {
            return Err(error(
                409,
                "ManagedEnvironmentNotReadyForAppCreation",
                "The environment is not provisioned yet.",
            ));
        }
        _ => {}
    }
    let secrets =
        body.pointer("/properties/configuration/secrets").and_then(Value::as_array).cloned().unwrap_or_default();
    let names: Vec<&str> = secrets.iter().filter_map(|s| s["name"].as_str()).collect();
    for s in &secrets {
        if s.get("value").and_then(Value::as_str).is_none_or(str::is_empty) && s.get("keyVaultUrl").is_none() {
            return invalid(format!("Secret '{}' has no value.", s["name"]));
        }
        let name = s["name"].as_str().unwrap_or("");
        let ok = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return invalid(format!(
                "Secret name '{name}' must consist of lower case alphanumeric characters, '-' or '.'."
            ));
        }
    }
    let template = body.pointer("/properties/template").cloned().unwrap_or(Value::Null);
    let mut refs: Vec<String> = Vec::new();
    for c in template["containers"].as_array().into_iter().flatten() {
        for e in c["env"].as_array().into_iter().flatten() {
            if let Some(r) = e["secretRef"].as_str() {
                refs.push(r.to_string());
            }
        }
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let volume = m["volumeName"].as_str().unwrap_or("");
            if !template["volumes"].as_array().into_iter().flatten().any(|v| v["name"] == volume) {
                return invalid(format!("Volume mount '{volume}' names no volume."));
            }
        }
    }
    for v in template["volumes"].as_array().into_iter().flatten() {
        for s in v["secrets"].as_array().into_iter().flatten() {
            refs.push(s["secretRef"].as_str().unwrap_or("").to_string());
        }
    }
    if let Some(missing) = refs.iter().find(|r| !names.contains(&r.as_str())) {
        return invalid(format!("SecretRef '{missing}' defined for the container app is not found in its secrets."));
    }
    let identities = body.pointer("/identity/userAssignedIdentities").and_then(Value::as_object);
    for r in body.pointer("/properties/configuration/registries").and_then(Value::as_array).into_iter().flatten() {
        let id = r["identity"].as_str().unwrap_or("");
        if !identities.is_some_and(|ids| ids.keys().any(|k| k.eq_ignore_ascii_case(id))) {
            return invalid(format!("Registry identity '{id}' is not assigned to the container app."));
        }
    }
    Ok(())
}

/// The FQDN, the running status and the revision: a new revision when the template
/// changed, running `minReplicas` pods (no traffic reaches the fake, so the HTTP rule
/// never scales it out); older revisions are deactivated (single revision mode).
fn complete_app(st: &mut State, key: &str, body: &mut Value, existing: Option<&Stored>) {
    let name = body["name"].as_str().unwrap_or("").to_string();
    let env = body.pointer("/properties/environmentId").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    let domain =
        st.resources.get(&env).and_then(|e| e.body.pointer("/properties/defaultDomain").cloned()).unwrap_or(json!(""));
    let fqdn = format!("{name}.{}", domain.as_str().unwrap_or(""));
    let template = body.pointer("/properties/template").cloned().unwrap_or(Value::Null);
    let previous = existing.and_then(|e| {
        let same = e.body.pointer("/properties/template") == Some(&template);
        same.then(|| e.body.pointer("/properties/latestRevisionName").cloned()).flatten()
    });
    let count = st.resources.keys().filter(|k| k.starts_with(&format!("{key}/revisions/"))).count();
    let revision =
        previous.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| format!("{name}--{:07}", count + 1));
    let props = &mut body["properties"];
    if props["configuration"]["ingress"].is_object() {
        props["configuration"]["ingress"]["fqdn"] = json!(fqdn);
        props["configuration"]["ingress"]["traffic"] = json!([{"latestRevision": true, "weight": 100}]);
    }
    props["latestRevisionName"] = json!(revision);
    props["latestReadyRevisionName"] = json!(revision);
    props["latestRevisionFqdn"] = json!(format!("{revision}.{}", domain.as_str().unwrap_or("")));
    props["runningStatus"] = json!("Running");
    let replicas = template.pointer("/scale/minReplicas").and_then(Value::as_u64).unwrap_or(0);
    let id = format!("{}/revisions/{revision}", body["id"].as_str().unwrap_or(""));
    let stored = Stored {
        body: json!({
            "id": id,
            "name": revision,
            "type": "Microsoft.App/containerApps/revisions",
            "properties": {
                "active": true,
                "replicas": replicas,
                "trafficWeight": 100,
                "healthState": "Healthy",
                "provisioningState": "Provisioned",
                "runningState": "Running",
                "template": template,
            },
        }),
        state: "Provisioned".into(),
    };
    for (_, r) in st.resources.iter_mut().filter(|(k, _)| k.starts_with(&format!("{key}/revisions/"))) {
        r.body["properties"]["active"] = json!(false);
        r.body["properties"]["replicas"] = json!(0);
        r.body["properties"]["trafficWeight"] = json!(0);
    }
    st.resources.insert(id.to_ascii_lowercase(), stored);
}

/// What GET leaves out of these types: secret values, keys.
pub fn present(id: &str, body: &mut Value) {
    let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) else { return };
    if is_workspace(id) {
        props.remove("primarySharedKey");
        props.remove("secondarySharedKey");
    }
    if is_redis(id) {
        props.remove("accessKeys");
    }
    if is_environment(id)
        && let Some(la) = props
            .get_mut("appLogsConfiguration")
            .and_then(|a| a.get_mut("logAnalyticsConfiguration"))
            .and_then(Value::as_object_mut)
    {
        la.remove("sharedKey");
    }
    if is_app(id)
        && let Some(secrets) =
            props.get_mut("configuration").and_then(|c| c.get_mut("secrets")).and_then(Value::as_array_mut)
    {
        for s in secrets.iter_mut().filter_map(Value::as_object_mut) {
            s.remove("value");
        }
    }
}

/// The POST actions of these types, or `None` for others.
pub fn post(st: &mut State, target: &str, action: &str) -> Option<Answer> {
    let key = target.to_ascii_lowercase();
    if action == "restart" && key.contains("/providers/microsoft.app/containerapps/") && key.contains("/revisions/") {
        // A restarted revision's replicas start again and read the app's current secrets.
        return Some(match st.resources.get_mut(&key) {
            Some(r) => {
                let restarts = r.body["properties"]["restarts"].as_u64().unwrap_or(0);
                r.body["properties"]["restarts"] = json!(restarts + 1);
                (200, Value::Null, Vec::new())
            }
            None => error(404, "ContainerAppRevisionNotFound", &format!("Revision '{target}' was not found.")),
        });
    }
    let stored = st.resources.get_mut(&key)?;
    match action {
        "sharedKeys" if is_workspace(&key) => {
            let (primary, secondary) = workspace_keys(stored);
            Some((200, json!({"primarySharedKey": primary, "secondarySharedKey": secondary}), Vec::new()))
        }
        "listKeys" if is_redis(&key) => {
            if stored.state != "Succeeded" {
                return Some(error(409, "Conflict", "The cache is not provisioned yet; its keys are not available."));
            }
            // A cache inserted by a test has keys too.
            if !stored.body["properties"]["accessKeys"].is_object() {
                stored.body["properties"]["accessKeys"] = json!({"primaryKey": new_key(), "secondaryKey": new_key()});
            }
            Some((200, stored.body["properties"]["accessKeys"].clone(), Vec::new()))
        }
        "listSecrets" if is_app(&key) => {
            let secrets = stored.body.pointer("/properties/configuration/secrets").cloned().unwrap_or(json!([]));
            Some((200, json!({"value": secrets}), Vec::new()))
        }
        _ => None,
    }
}
