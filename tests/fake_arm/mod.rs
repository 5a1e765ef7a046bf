//! A fake Azure Resource Manager for the tests: it routes requests to the operations of the
//! official specs in `tests/armspecs`, rejects other api-versions, validates every PUT/PATCH
//! body against the spec's schema (`$ref`s resolved, readOnly and unknown properties
//! rejected), answers long-running PUTs with 201 + `Azure-AsyncOperation` and a few
//! `InProgress` polls, requires parents to exist and be provisioned, injects throttling and
//! server errors, answers `PrincipalNotFound` for a new identity's first role assignments,
//! rejects a policy (or a logger's credentials) naming a missing `{{named value}}`, gives
//! Application Insights components their keys, stores policies re-serialized as
//! APIM does (`apim_xml`), and records every request.
//!
//! It also behaves as ARM does where that bites: a new APIM service stays `Activating` for
//! a while, and child writes meanwhile get 409 `ServiceLocked`; a deleted APIM service or
//! Cognitive Services account (alone or with its resource group) stays soft-deleted
//! (`…/locations/{l}/deletedservices/{name}`, `…/locations/{l}/resourceGroups/{rg}/deletedAccounts/{name}`)
//! and its name cannot be created again (`ServiceAlreadyExistsInSoftDeletedState`,
//! `FlagMustBeSetForRestore`) until it is restored (`properties.restore: true`, which brings
//! its children back) or purged (DELETE of the deleted resource); a PUT replaces the whole
//! resource (fields set out of band with [`FakeArm::edit`] or [`FakeArm::insert`] are
//! lost) while a PATCH merges; and `GET {group}/resources` lists a group's top-level
//! resources. Container Apps environments and apps, Redis caches and workspace keys behave
//! as [`container_apps`] describes (write-only secrets, a cache `Creating` for a while).
#![allow(dead_code)]

pub mod apim_xml;
mod container_apps;
mod schema;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

pub use schema::Specs;

/// The token the fake `az` (tests/bin/az) hands out; anything else is 401.
pub const TOKEN: &str = "fake-arm-token";

/// How the fake misbehaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Share of requests answered 429 with `Retry-After`.
    pub throttle_rate: f64,
    /// Share of requests answered 500.
    pub error_rate: f64,
    /// The `Retry-After` of injected 429s, in seconds.
    pub retry_after_secs: u64,
    /// `InProgress` answers before a long-running operation ends.
    pub lro_polls: u32,
    /// Role assignments per new principal answered `PrincipalNotFound` first.
    pub principal_not_found: u32,
    /// The first long-running operation on a path containing this ends `Failed`.
    pub fail_once: Option<String>,
    /// Writes to paths containing this are answered 403 AuthorizationFailed.
    pub forbid: Option<String>,
    /// Child writes answered 409 `ServiceLocked` while a new APIM service activates.
    pub apim_activating_writes: u32,
    /// GETs a Redis cache answers `Creating` (or `Updating`) after its PUT before it is
    /// provisioned (a real one takes 15-20 minutes).
    pub redis_provisioning_reads: u32,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            throttle_rate: 0.0,
            error_rate: 0.0,
            retry_after_secs: 0,
            lro_polls: 2,
            principal_not_found: 1,
            fail_once: None,
            forbid: None,
            apim_activating_writes: 2,
            redis_provisioning_reads: 3,
            seed: 7,
        }
    }
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub api_version: String,
    pub status: u16,
    /// The ARM error code answered, if any.
    pub code: Option<String>,
    pub message: Option<String>,
}

impl Recorded {
    /// PUT, PATCH, DELETE and POSTs other than the read-only actions (`list*`, and a
    /// workspace's `sharedKeys`: `SharedKeys_GetSharedKeys`).
    pub fn is_write(&self) -> bool {
        match self.method.as_str() {
            "PUT" | "PATCH" | "DELETE" => true,
            "POST" => {
                let action = self.path.rsplit('/').next().unwrap_or("");
                !(action.starts_with("list") || action == "sharedKeys")
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
struct Stored {
    body: Value,
    state: String,
}

#[derive(Debug)]
struct Operation {
    resource: String,
    remaining: u32,
    fail: bool,
    final_state: String,
}

/// A soft-deleted APIM service or OpenAI account: what GET of its deleted id returns, and
/// what a restore brings back (it and its children).
#[derive(Debug, Clone)]
struct Deleted {
    body: Value,
    stash: Vec<(String, Stored)>,
}

struct State {
    options: Options,
    resources: HashMap<String, Stored>,
    /// By lower-case deleted id.
    deleted: HashMap<String, Deleted>,
    /// New APIM services still activating: child writes left to refuse.
    activating: HashMap<String, u32>,
    operations: HashMap<String, Operation>,
    /// Redis caches still provisioning: GETs left before `Succeeded`.
    provisioning: HashMap<String, u32>,
    principals: HashMap<String, u32>,
    failed_once: bool,
    requests: Vec<Recorded>,
    rng: StdRng,
}

/// A running fake ARM on 127.0.0.1.
pub struct FakeArm {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeArm {
    pub fn start(options: Options) -> FakeArm {
        let specs = Arc::new(Specs::load(&specs_dir()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let url = format!("http://{addr}");
        let state = Arc::new(Mutex::new(State {
            rng: StdRng::seed_from_u64(options.seed),
            options,
            resources: HashMap::new(),
            deleted: HashMap::new(),
            activating: HashMap::new(),
            operations: HashMap::new(),
            provisioning: HashMap::new(),
            principals: HashMap::new(),
            failed_once: false,
            requests: Vec::new(),
        }));
        let shared = state.clone();
        let base = url.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else { continue };
                    let (specs, state, base) = (specs.clone(), shared.clone(), base.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let (specs, state, base) = (specs.clone(), state.clone(), base.clone());
                            async move { Ok::<_, Infallible>(handle(&specs, &state, &base, req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        FakeArm { url, state }
    }

    /// Azure finishes every long-running operation still under way, as it does when the
    /// client that started them has gone away (a `deploy` interrupted with Ctrl-C).
    pub fn finish_operations(&self) {
        let mut st = self.state.lock().unwrap();
        let pending: Vec<String> =
            st.operations.iter().filter(|(_, op)| op.remaining > 0).map(|(id, _)| id.clone()).collect();
        for id in pending {
            if let Some(op) = st.operations.get_mut(&id) {
                op.remaining = 0;
            }
            poll_operation(&mut st, &id);
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Write requests so far (see [`Recorded::is_write`]).
    pub fn writes(&self) -> usize {
        self.requests().iter().filter(|r| r.is_write()).count()
    }

    /// Requests rejected for their shape or api-version: must stay empty.
    pub fn rejections(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| {
                matches!(
                    r.code.as_deref(),
                    Some(
                        "InvalidRequestContent"
                            | "InvalidApiVersionParameter"
                            | "NoRegisteredProviderFound"
                            | "ValidationError"
                    )
                )
            })
            .collect()
    }

    /// The stored resource (as GET would return it, secrets included).
    pub fn resource(&self, id: &str) -> Option<Value> {
        self.state.lock().unwrap().resources.get(&id.to_ascii_lowercase()).map(|s| s.body.clone())
    }

    /// Changes a stored resource behind the CLI's back (an edit in the portal).
    pub fn edit(&self, id: &str, change: impl FnOnce(&mut Value)) {
        let mut state = self.state.lock().unwrap();
        let stored = state.resources.get_mut(&id.to_ascii_lowercase()).expect("the resource exists");
        change(&mut stored.body);
    }

    /// Creates a resource behind the CLI's back (someone else's, one made in the portal, or
    /// one in another resource group), as ARM would return it.
    pub fn insert(&self, id: &str, mut body: Value) {
        body["id"] = json!(id);
        body["name"] = json!(id.rsplit('/').next().unwrap_or(""));
        let stored = Stored { body, state: "Succeeded".into() };
        self.state.lock().unwrap().resources.insert(id.to_ascii_lowercase(), stored);
    }

    /// Removes a resource (and its children) behind the CLI's back, without soft delete.
    pub fn remove(&self, id: &str) {
        let key = id.to_ascii_lowercase();
        let prefix = format!("{key}/");
        self.state.lock().unwrap().resources.retain(|k, _| !(k == &key || k.starts_with(&prefix)));
    }

    /// The soft-deleted resources' ids (deletedservices / deletedAccounts), lower case.
    pub fn deleted_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.state.lock().unwrap().deleted.keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn resource_ids(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let mut ids: Vec<String> =
            state.resources.values().filter_map(|s| s.body["id"].as_str().map(str::to_string)).collect();
        ids.sort();
        ids
    }

    pub fn set_options(&self, change: impl FnOnce(&mut Options)) {
        change(&mut self.state.lock().unwrap().options);
    }
}

/// `tests/armspecs/specification`.
pub fn specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/armspecs/specification")
}

/// `PATH` with `tests/bin` (the fake `az`) first.
pub fn path_with_fake_az() -> String {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin");
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

type Reply = Response<Full<Bytes>>;

fn reply(status: u16, body: &Value, headers: &[(&str, String)]) -> Reply {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-ms-request-id", uuid::Uuid::new_v4().to_string());
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    let text = if body.is_null() { String::new() } else { body.to_string() };
    builder.body(Full::new(Bytes::from(text))).expect("response")
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value, Vec<(&'static str, String)>) {
    (status, json!({"error": {"code": code, "message": message}}), Vec::new())
}

async fn handle(specs: &Specs, state: &Mutex<State>, base: &str, req: Request<Incoming>) -> Reply {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.replace("%20", " ")))
                .collect()
        })
        .unwrap_or_default();
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let api_version = query.get("api-version").cloned().unwrap_or_default();

    let mut st = state.lock().unwrap();
    let (status, value, headers) = if auth != format!("Bearer {TOKEN}") {
        error(401, "AuthenticationFailed", "Authentication failed: the bearer token is missing or wrong.")
    } else {
        let roll: f64 = st.rng.random();
        if roll < st.options.throttle_rate {
            let mut e = error(429, "TooManyRequests", "The request is being throttled.");
            e.2.push(("retry-after", st.options.retry_after_secs.to_string()));
            e
        } else if roll < st.options.throttle_rate + st.options.error_rate {
            error(500, "InternalServerError", "Transient failure injected by the fake.")
        } else {
            route(specs, &mut st, base, &method, &path, &query, &body)
        }
    };
    let code = value.pointer("/error/code").and_then(Value::as_str).map(str::to_string);
    let message = value.pointer("/error/message").and_then(Value::as_str).map(str::to_string);
    st.requests.push(Recorded { method, path, api_version, status, code, message });
    drop(st);
    let headers: Vec<(&str, String)> = headers.iter().map(|(k, v)| (*k, v.clone())).collect();
    reply(status, &value, &headers)
}

type Answer = (u16, Value, Vec<(&'static str, String)>);

fn route(
    specs: &Specs,
    st: &mut State,
    base: &str,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Answer {
    let api = query.get("api-version").map(String::as_str).unwrap_or_default();
    if let Some(op_id) = path.strip_prefix("/fakeOperations/") {
        return poll_operation(st, op_id);
    }
    let Some(op) = specs.find(method, path) else {
        return error(400, "NoRegisteredProviderFound", &format!("No spec'd operation for {method} {path}."));
    };
    if op.api_version != api {
        return error(
            400,
            "InvalidApiVersionParameter",
            &format!(
                "The api-version '{api}' is invalid. The supported version for this operation is '{}'.",
                op.api_version
            ),
        );
    }
    let id = path.trim_end_matches('/').to_string();
    let key = id.to_ascii_lowercase();
    if key.contains("/deletedservices/") || key.contains("/deletedaccounts/") {
        return match (method, st.deleted.get(&key)) {
            ("GET", Some(d)) => (200, d.body.clone(), Vec::new()),
            ("DELETE", Some(_)) => {
                st.deleted.remove(&key);
                (200, Value::Null, Vec::new())
            }
            _ => error(404, "ResourceNotFound", &format!("The deleted resource '{id}' was not found.")),
        };
    }
    if method == "GET" && key.ends_with("/resources") && key.split('/').count() == 6 {
        return (200, list_group(st, key.trim_end_matches("/resources")), Vec::new());
    }
    if method == "GET" && is_apim_collection(&key) {
        return list_children(st, base, path, &key, query);
    }
    if method == "GET"
        && let Some(left) = st.provisioning.get_mut(&key)
    {
        *left = left.saturating_sub(1);
        if *left == 0 {
            st.provisioning.remove(&key);
            if let Some(s) = st.resources.get_mut(&key) {
                s.state = "Succeeded".into();
            }
        }
    }
    match method {
        "GET" => match st.resources.get(&key) {
            Some(stored) => {
                let mut body = present(stored);
                // A policy read with `format=rawxml` comes back without XML encoding.
                if query.get("format").is_some_and(|f| f == "rawxml")
                    && let Some(value) = body.pointer_mut("/properties/value")
                {
                    *value = json!(apim_xml::raw(value.as_str().unwrap_or_default()));
                    body["properties"]["format"] = json!("rawxml");
                }
                (200, body, Vec::new())
            }
            None => error(404, "ResourceNotFound", &format!("The resource '{id}' was not found.")),
        },
        "PUT" | "PATCH" => {
            if let Some(forbidden) = &st.options.forbid
                && path.contains(forbidden.as_str())
            {
                return error(
                    403,
                    "AuthorizationFailed",
                    "The client does not have authorization to perform action over this scope.",
                );
            }
            let parsed: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return error(400, "InvalidRequestContent", &format!("The body is not JSON: {e}")),
            };
            if let Some(schema) = &op.body {
                let problems = specs.validate(schema, &parsed);
                if !problems.is_empty() {
                    return error(400, "InvalidRequestContent", &problems.join("; "));
                }
            }
            if method == "PATCH" {
                // A PATCH changes the fields it names and keeps the others.
                let Some(existing) = st.resources.get(&key) else {
                    return error(404, "ResourceNotFound", &format!("The resource '{id}' was not found."));
                };
                let mut merged = existing.body.clone();
                merge(&mut merged, parsed);
                return put(st, base, api, &id, merged, op.long_running);
            }
            put(st, base, api, &id, parsed, op.long_running)
        }
        "POST" => post(st, &id),
        "DELETE" => {
            let prefix = format!("{key}/");
            let removed: Vec<(String, Stored)> = st
                .resources
                .iter()
                .filter(|(k, _)| **k == key || k.starts_with(&prefix))
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect();
            st.resources.retain(|k, _| !(k == &key || k.starts_with(&prefix)));
            soft_delete(st, removed);
            (200, Value::Null, Vec::new())
        }
        _ => error(405, "MethodNotAllowed", method),
    }
}

/// The resource as GET returns it: secrets and import-only fields left out.
fn present(stored: &Stored) -> Value {
    let mut body = stored.body.clone();
    let id = body["id"].as_str().unwrap_or("").to_ascii_lowercase();
    container_apps::present(&id, &mut body);
    if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("provisioningState".into(), json!(stored.state));
        if id.contains("/namedvalues/") && props.get("secret") == Some(&json!(true)) {
            props.remove("value");
        }
        if is_apim_child(&id, "subscriptions") {
            props.remove("primaryKey");
            props.remove("secondaryKey");
        }
        if id.contains("/apis/") && !id.contains("/policies/") {
            props.remove("format");
            props.remove("value");
        }
    }
    body
}

/// The ARM id of the resource `id` lives in (`None` at subscription level).
fn parent_of(id: &str) -> Option<String> {
    let segments: Vec<&str> = id.trim_matches('/').split('/').collect();
    if segments.len() <= 4 {
        return None; // /subscriptions/{s}/resourceGroups/{rg}
    }
    let mut cut = segments.len() - 2;
    if cut >= 2 && segments[cut - 2].eq_ignore_ascii_case("providers") {
        cut -= 2;
    }
    Some(format!("/{}", segments[..cut].join("/")))
}

fn put(st: &mut State, base: &str, api: &str, id: &str, mut body: Value, long_running: bool) -> Answer {
    // APIM keeps a policy in its own serialization, not the bytes it was sent.
    if id.to_ascii_lowercase().ends_with("/policies/policy")
        && body.pointer("/properties/format").and_then(Value::as_str).unwrap_or("xml") == "xml"
        && let Some(value) = body.pointer_mut("/properties/value")
    {
        match apim_xml::stored(value.as_str().unwrap_or_default()) {
            Ok(stored) => *value = json!(stored),
            Err(e) => return error(400, "ValidationError", &format!("The policy is not well-formed XML: {e}")),
        }
    }
    let key = id.to_ascii_lowercase();
    let lower = key.as_str();
    if let Some(deleted_id) = deleted_id(lower, &body) {
        let restore = body.pointer("/properties/restore") == Some(&json!(true));
        if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
            props.remove("restore");
        }
        match st.deleted.get(&deleted_id) {
            Some(_) if restore => {
                let deleted = st.deleted.remove(&deleted_id).expect("found");
                st.resources.extend(deleted.stash);
                if is_apim_service(lower) {
                    // "If this flag is specified and set to True all other properties will be ignored."
                    let shown = present(&st.resources[&key]);
                    return (200, shown, Vec::new());
                }
            }
            Some(_) if is_apim_service(lower) => {
                return error(
                    409,
                    "ServiceAlreadyExistsInSoftDeletedState",
                    &format!(
                        "Api service {} was soft-deleted. In order to create the new service with the same name, you have to either undelete the service or purge it. See https://aka.ms/apimsoftdelete.",
                        body["name"].as_str().unwrap_or(id)
                    ),
                );
            }
            Some(_) => {
                return error(
                    409,
                    "FlagMustBeSetForRestore",
                    &format!(
                        "An existing resource with ID '{id}' has been soft-deleted. To restore the resource, you must specify 'restore' to be 'true' in the property. If you don't want to restore existing resource, please purge it first."
                    ),
                );
            }
            None => {}
        }
    }
    if let Some(service) = service_of(lower)
        && let Some(left) = st.activating.get_mut(&service)
    {
        if *left > 0 {
            *left -= 1;
            return error(
                409,
                "ServiceLocked",
                "The API Management service is transitioning at this moment. Please retry the request later.",
            );
        }
        st.activating.remove(&service);
        if let Some(s) = st.resources.get_mut(&service) {
            s.state = "Succeeded".into();
        }
    }
    if let Some(parent) = parent_of(id) {
        match st.resources.get(&parent.to_ascii_lowercase()) {
            None => {
                return error(404, "ParentResourceNotFound", &format!("The parent resource '{parent}' was not found."));
            }
            Some(p) if p.state != "Succeeded" => {
                return error(409, "ParentResourceNotReady", &format!("The parent '{parent}' is {}.", p.state));
            }
            _ => {}
        }
    }
    if let Some(existing) = st.resources.get(&key)
        && !matches!(existing.state.as_str(), "Succeeded" | "Failed" | "Canceled")
    {
        return error(409, "AnotherOperationInProgress", "Another operation is in progress on this resource.");
    }
    if lower.contains("/microsoft.cognitiveservices/accounts/") && lower.contains("/deployments/") {
        let parent = parent_of(lower).unwrap_or_default();
        let busy = st.resources.iter().any(|(k, s)| {
            k != lower
                && parent_of(k).as_deref() == Some(parent.as_str())
                && !matches!(s.state.as_str(), "Succeeded" | "Failed")
        });
        if busy {
            return error(409, "RequestConflict", "Another deployment operation is in progress on this account.");
        }
    }
    if lower.contains("/providers/microsoft.authorization/roleassignments/") {
        let principal = body.pointer("/properties/principalId").and_then(Value::as_str).unwrap_or("").to_string();
        // ARM refuses a second assignment of the same role to the same principal on the
        // same scope under another name.
        let scope = &lower[..lower.find("/providers/microsoft.authorization/").unwrap_or(0)];
        let role = body.pointer("/properties/roleDefinitionId").and_then(Value::as_str).unwrap_or("");
        let twin = st.resources.iter().any(|(k, s)| {
            k != lower
                && k.starts_with(&format!("{scope}/providers/microsoft.authorization/roleassignments/"))
                && s.body.pointer("/properties/principalId").and_then(Value::as_str) == Some(principal.as_str())
                && s.body.pointer("/properties/roleDefinitionId").and_then(Value::as_str) == Some(role)
        });
        if twin {
            return error(409, "RoleAssignmentExists", "The role assignment already exists.");
        }
        let Some(seen) = st.principals.get_mut(&principal) else {
            return error(400, "PrincipalNotFound", &format!("Principal {principal} does not exist in the directory."));
        };
        if *seen < st.options.principal_not_found {
            *seen += 1;
            return error(400, "PrincipalNotFound", &format!("Principal {principal} does not exist in the directory."));
        }
    }
    // APIM resolves `{{named value}}` references in a policy and in a logger's credentials.
    let references = if lower.contains("/apis/") && lower.ends_with("/policies/policy") {
        body.pointer("/properties/value").and_then(Value::as_str).map(str::to_string)
    } else if is_apim_child(lower, "loggers") {
        body.pointer("/properties/credentials").map(Value::to_string)
    } else {
        None
    };
    if let Some(xml) = references.as_deref() {
        let service = &lower[..lower.find("/apis/").or(lower.find("/loggers/")).unwrap_or(0)];
        for name in named_value_refs(xml) {
            let exists = st.resources.iter().any(|(k, s)| {
                k.starts_with(&format!("{service}/namedvalues/"))
                    && (k.ends_with(&format!("/{}", name.to_ascii_lowercase()))
                        || s.body.pointer("/properties/displayName").and_then(Value::as_str) == Some(name.as_str()))
            });
            if !exists {
                return error(400, "ValidationError", &format!("Cannot find a property '{name}'."));
            }
        }
    }
    if let Some(services) = body.pointer("/properties/pool/services").and_then(Value::as_array) {
        for s in services {
            let target = s["id"].as_str().unwrap_or("").to_ascii_lowercase();
            if !st.resources.contains_key(&target) {
                return error(400, "ValidationError", &format!("Backend '{target}' of the pool does not exist."));
            }
        }
    }
    if let Some(identities) = body.pointer("/identity/userAssignedIdentities").and_then(Value::as_object) {
        for k in identities.keys() {
            if !st.resources.contains_key(&k.to_ascii_lowercase()) {
                return error(400, "InvalidIdentity", &format!("Identity '{k}' does not exist."));
            }
        }
    }

    let existing = st.resources.get(&key).cloned();
    let created = existing.is_none();
    let segments: Vec<&str> = id.trim_matches('/').split('/').collect();
    body["id"] = json!(id);
    body["name"] = json!(segments.last().copied().unwrap_or(""));
    if !body.get("properties").is_some_and(Value::is_object) {
        body["properties"] = json!({});
    }
    if let Err(answer) = container_apps::on_put(st, &key, &mut body, existing.as_ref()) {
        return answer;
    }
    let keep = |p: &str| existing.as_ref().and_then(|e| e.body.pointer(p).cloned());
    let props = body["properties"].as_object_mut().expect("object");
    if lower.contains("/microsoft.managedidentity/userassignedidentities/") {
        let principal = keep("/properties/principalId").unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string()));
        props.insert("principalId".into(), principal.clone());
        props.insert(
            "clientId".into(),
            keep("/properties/clientId").unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string())),
        );
        props.insert("tenantId".into(), json!("11111111-1111-1111-1111-111111111111"));
        st.principals.entry(principal.as_str().unwrap_or("").to_string()).or_insert(0);
    }
    if lower.contains("/microsoft.apimanagement/service/") && segments.len() == 8 {
        props.insert("gatewayUrl".into(), json!(format!("https://{}.azure-api.net", segments[7])));
    }
    if lower.contains("/microsoft.cognitiveservices/accounts/") && segments.len() == 8 {
        let sub = props.get("customSubDomainName").and_then(Value::as_str).unwrap_or(segments[7]).to_string();
        props.insert("endpoint".into(), json!(format!("https://{sub}.openai.azure.com/")));
    }
    if lower.contains("/microsoft.insights/components/") && segments.len() == 8 {
        let key = keep("/properties/InstrumentationKey").unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string()));
        let connection = format!(
            "InstrumentationKey={};IngestionEndpoint=https://eastus-8.in.applicationinsights.azure.com/",
            key.as_str().unwrap_or_default()
        );
        props.insert("InstrumentationKey".into(), key);
        props.insert("ConnectionString".into(), json!(connection));
        props.insert(
            "AppId".into(),
            keep("/properties/AppId").unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string())),
        );
    }
    if lower.contains("/microsoft.operationalinsights/workspaces/") && segments.len() == 8 {
        props.insert(
            "customerId".into(),
            keep("/properties/customerId").unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string())),
        );
    }
    if is_apim_child(lower, "subscriptions") {
        for k in ["primaryKey", "secondaryKey"] {
            let v =
                keep(&format!("/properties/{k}")).unwrap_or_else(|| json!(uuid::Uuid::new_v4().simple().to_string()));
            props.insert(k.into(), v);
        }
    }
    let status = if created { 201 } else { 200 };
    if container_apps::is_redis(&key) {
        // No operation to follow: the cache says `Creating` until it is provisioned.
        let state = if created { "Creating" } else { "Updating" };
        let reads = st.options.redis_provisioning_reads;
        st.provisioning.insert(key.clone(), reads);
        let stored = Stored { body, state: state.into() };
        let shown = present(&stored);
        st.resources.insert(key, stored);
        return (status, shown, Vec::new());
    }
    if long_running {
        let op_id = uuid::Uuid::new_v4().simple().to_string();
        let fail = match &st.options.fail_once {
            Some(p) if !st.failed_once && id.contains(p.as_str()) => {
                st.failed_once = true;
                true
            }
            _ => false,
        };
        let in_progress = if lower.contains("/providers/microsoft.app/") {
            "InProgress"
        } else if created {
            "Creating"
        } else {
            "Updating"
        };
        // A new APIM service activates for a while after its creation reports success.
        let final_state = if created && is_apim_service(&key) { "Activating" } else { "Succeeded" };
        st.operations.insert(
            op_id.clone(),
            Operation { resource: key.clone(), remaining: st.options.lro_polls, fail, final_state: final_state.into() },
        );
        let stored = Stored { body, state: in_progress.into() };
        let shown = present(&stored);
        st.resources.insert(key, stored);
        let poll = format!("{base}/fakeOperations/{op_id}?api-version={api}");
        return (201, shown, vec![("azure-asyncoperation", poll)]);
    }
    let stored = Stored { body, state: "Succeeded".into() };
    let shown = present(&stored);
    st.resources.insert(key, stored);
    (status, shown, Vec::new())
}

fn poll_operation(st: &mut State, op_id: &str) -> Answer {
    let Some(op) = st.operations.get_mut(op_id) else {
        return error(404, "OperationNotFound", op_id);
    };
    if op.remaining > 0 {
        op.remaining -= 1;
        return (200, json!({"id": op_id, "status": "InProgress"}), vec![("retry-after", "0".to_string())]);
    }
    let (resource, fail) = (op.resource.clone(), op.fail);
    let final_state = if fail { "Failed" } else { op.final_state.as_str() }.to_string();
    if let Some(stored) = st.resources.get_mut(&resource) {
        stored.state = final_state.clone();
    }
    if final_state == "Activating" {
        let writes = st.options.apim_activating_writes;
        st.activating.insert(resource.clone(), writes);
    }
    if fail {
        return (
            200,
            json!({"id": op_id, "status": "Failed", "error": {"code": "InternalOperationError", "message": "The fake failed this operation once."}}),
            Vec::new(),
        );
    }
    (200, json!({"id": op_id, "status": "Succeeded"}), Vec::new())
}

fn post(st: &mut State, id: &str) -> Answer {
    let (target, action) = id.rsplit_once('/').unwrap_or((id, ""));
    if let Some(answer) = container_apps::post(st, target, action) {
        return answer;
    }
    let Some(stored) = st.resources.get(&target.to_ascii_lowercase()) else {
        return error(404, "ResourceNotFound", &format!("The resource '{target}' was not found."));
    };
    match action {
        "listSecrets" => (
            200,
            json!({
                "primaryKey": stored.body.pointer("/properties/primaryKey"),
                "secondaryKey": stored.body.pointer("/properties/secondaryKey"),
            }),
            Vec::new(),
        ),
        "listValue" => (200, json!({"value": stored.body.pointer("/properties/value")}), Vec::new()),
        _ => error(400, "UnsupportedAction", action),
    }
}

/// `{{name}}` references in a policy.
fn named_value_refs(xml: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        names.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    names
}

/// True for `…/service/{name}/{kind}/{id}` (an APIM child of that kind).
fn is_apim_child(id: &str, kind: &str) -> bool {
    let segments: Vec<&str> = id.trim_matches('/').split('/').collect();
    segments.len() == 10 && segments[6].eq_ignore_ascii_case("service") && segments[8].eq_ignore_ascii_case(kind)
}

/// True for `…/providers/Microsoft.ApiManagement/service/{name}`.
fn is_apim_service(id: &str) -> bool {
    let segments: Vec<&str> = id.trim_matches('/').split('/').collect();
    segments.len() == 8
        && segments[6].eq_ignore_ascii_case("service")
        && segments[5].eq_ignore_ascii_case("Microsoft.ApiManagement")
}

/// True for `…/providers/Microsoft.CognitiveServices/accounts/{name}`.
fn is_account(id: &str) -> bool {
    let segments: Vec<&str> = id.trim_matches('/').split('/').collect();
    segments.len() == 8
        && segments[6].eq_ignore_ascii_case("accounts")
        && segments[5].eq_ignore_ascii_case("Microsoft.CognitiveServices")
}

/// The APIM service a child id lives in (lower case), if it is one.
fn service_of(id: &str) -> Option<String> {
    let segments: Vec<&str> = id.trim_matches('/').split('/').collect();
    (segments.len() > 8 && is_apim_service(&format!("/{}", segments[..8].join("/"))))
        .then(|| format!("/{}", segments[..8].join("/")).to_ascii_lowercase())
}

/// Where a deleted APIM service or account waits (lower case), given its id and location.
fn deleted_at(id: &str, location: &str) -> Option<String> {
    let segments: Vec<&str> = id.trim_matches('/').split('/').collect();
    let (sub, rg, name) = (segments.get(1)?, segments.get(3)?, segments.get(7)?);
    let location = location.to_ascii_lowercase().replace(' ', "");
    let at = if is_apim_service(id) {
        format!("/subscriptions/{sub}/providers/Microsoft.ApiManagement/locations/{location}/deletedservices/{name}")
    } else if is_account(id) {
        format!(
            "/subscriptions/{sub}/providers/Microsoft.CognitiveServices/locations/{location}/resourceGroups/{rg}/deletedAccounts/{name}"
        )
    } else {
        return None;
    };
    Some(at.to_ascii_lowercase())
}

/// The deleted id a PUT of `id` with `body` would collide with.
fn deleted_id(id: &str, body: &Value) -> Option<String> {
    deleted_at(id, body["location"].as_str().unwrap_or(""))
}

/// Keeps deleted APIM services and accounts (with their children) soft-deleted.
fn soft_delete(st: &mut State, removed: Vec<(String, Stored)>) {
    for (key, stored) in &removed {
        let location = stored.body["location"].as_str().unwrap_or("");
        let Some(at) = deleted_at(key, location) else { continue };
        let prefix = format!("{key}/");
        let stash: Vec<(String, Stored)> =
            removed.iter().filter(|(k, _)| k == key || k.starts_with(&prefix)).cloned().collect();
        let name = stored.body["name"].clone();
        let body = json!({
            "id": at,
            "name": name,
            "location": location,
            "properties": {
                "serviceId": stored.body["id"],
                "deletionDate": "2026-01-01T00:00:00Z",
                "scheduledPurgeDate": "2026-01-03T00:00:00Z",
            },
        });
        st.deleted.insert(at, Deleted { body, stash });
    }
}

/// True for `…/service/{name}/{collection}` (e.g. `namedValues`).
fn is_apim_collection(id: &str) -> bool {
    let segments: Vec<&str> = id.trim_matches('/').split('/').collect();
    segments.len() == 9 && is_apim_service(&format!("/{}", segments[..8].join("/")))
}

/// `GET {service}/{collection}` as APIM's List By Service answers it: `value` (each item as
/// GET shows it, secrets left out), `count`, and a `nextLink` while `$top`/`$skip` leave
/// more. 404 when the service does not exist.
fn list_children(st: &State, base: &str, path: &str, key: &str, query: &HashMap<String, String>) -> Answer {
    let service = key.rsplit_once('/').map_or("", |(s, _)| s);
    if !st.resources.contains_key(service) {
        return error(404, "ResourceNotFound", &format!("The resource '{service}' was not found."));
    }
    let prefix = format!("{key}/");
    let mut all: Vec<Value> = st
        .resources
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
        .map(|(_, stored)| present(stored))
        .collect();
    all.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let count = all.len();
    let skip: usize = query.get("$skip").and_then(|v| v.parse().ok()).unwrap_or(0);
    let top: usize = query.get("$top").and_then(|v| v.parse().ok()).unwrap_or(100);
    let page: Vec<Value> = all.into_iter().skip(skip).take(top).collect();
    let mut body = json!({"value": page, "count": count});
    if skip + top < count {
        let api = query.get("api-version").cloned().unwrap_or_default();
        body["nextLink"] = json!(format!("{base}{path}?api-version={api}&$top={top}&$skip={}", skip + top));
    }
    (200, body, Vec::new())
}

/// `GET {group}/resources`: the group's top-level resources (not their children, not
/// role assignments).
fn list_group(st: &State, group: &str) -> Value {
    let prefix = format!("{group}/providers/");
    let mut value: Vec<Value> = st
        .resources
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && k.trim_matches('/').split('/').count() == 8)
        .map(|(_, s)| {
            let segments: Vec<&str> = s.body["id"].as_str().unwrap_or("").trim_matches('/').split('/').collect();
            let kind = segments.get(5..7).map(|t| t.join("/")).unwrap_or_default();
            json!({"id": s.body["id"], "name": s.body["name"], "type": kind, "location": s.body["location"], "tags": s.body["tags"]})
        })
        .collect();
    value.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    json!({ "value": value })
}

/// JSON merge: objects merge key by key, anything else replaces.
fn merge(into: &mut Value, patch: Value) {
    match (into, patch) {
        (Value::Object(into), Value::Object(patch)) => {
            for (k, v) in patch {
                merge(into.entry(k).or_insert(Value::Null), v);
            }
        }
        (into, patch) => *into = patch,
    }
}
