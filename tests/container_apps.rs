//! `[balancer.azure]` against the fake ARM: `deploy` creates the Container Apps environment
//! (on the Log Analytics workspace), the Azure Cache for Redis and the container app running
//! `oai-lb serve`, every body validated against the official specs; a second run writes
//! nothing although secret values are write-only; `--what-if`, `status`, `probe --target aca`
//! and `destroy` work on them; client keys are required; no secret is ever printed.

mod apim;
mod fake_arm;

use apim::{Env, stderr, stdout};
use oai_lb::config::Config;
use serde_json::{Value, json};

const RG: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-oai-lb";
const CLIENT_KEYS: &str = "ck-first-5f1c2a,ck-second-9d0e7b";
const WEST_KEY: &str = "west-key-8a7b6c5d";

fn env_id() -> String {
    format!("{RG}/providers/Microsoft.App/managedEnvironments/apim-oai-lb-env")
}
fn app_id() -> String {
    format!("{RG}/providers/Microsoft.App/containerApps/apim-oai-lb-lb")
}
fn redis_id() -> String {
    format!("{RG}/providers/Microsoft.Cache/redis/apim-oai-lb-redis")
}
fn workspace_id() -> String {
    format!("{RG}/providers/Microsoft.OperationalInsights/workspaces/apim-oai-lb-logs")
}

fn config(extra: &str) -> String {
    format!(
        r#"{}
[balancer]
listen = "127.0.0.1:8080"
client_keys_env = "OAI_LB_TEST_CLIENT_KEYS"

[balancer.azure]
image = "ghcr.io/contoso/oai-lb:1.0.0"
min_replicas = 2
max_replicas = 7
concurrent_requests = 30

[[openai]]
name = "contoso-east"
location = "eastus"
deployments = [{{ name = "gpt-4o", model = "gpt-4o", version = "2024-11-20" }}]

[[backends]]
name = "west"
url = "https://west.openai.azure.com"
auth = "api-key"
api_key_env = "OAI_LB_TEST_WEST_KEY"
{extra}"#,
        azure_apim!()
    )
}

/// `oai-lb` on the fake ARM with the keys exported.
fn cmd(env: &Env, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = env.cmd(args);
    cmd.env("OAI_LB_TEST_CLIENT_KEYS", CLIENT_KEYS).env("OAI_LB_TEST_WEST_KEY", WEST_KEY);
    cmd
}

/// (stdout, stderr) of a finished command.
fn texts(run: &assert_cmd::assert::Assert) -> (String, String) {
    let o = run.get_output();
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn assert_no_rejections(env: &Env) {
    let rejected = env.fake.rejections();
    assert!(rejected.is_empty(), "requests rejected for shape/api-version: {rejected:#?}");
}

/// Every secret the stack holds: none may ever be printed.
fn secrets(env: &Env) -> Vec<String> {
    let mut all: Vec<String> = CLIENT_KEYS.split(',').map(str::to_string).collect();
    all.push(WEST_KEY.into());
    if let Some(redis) = env.fake.resource(&redis_id()) {
        all.push(redis["properties"]["accessKeys"]["primaryKey"].as_str().unwrap().to_string());
    }
    if let Some(w) = env.fake.resource(&workspace_id())
        && let Some(k) = w["properties"]["primarySharedKey"].as_str()
    {
        all.push(k.to_string());
    }
    all
}

fn assert_no_secret_in(env: &Env, outputs: &[&str]) {
    for secret in secrets(env) {
        for text in outputs {
            assert!(!text.contains(&secret), "a secret was printed: {text}");
        }
    }
}

/// One request to the fake ARM, as a client would send it.
fn arm(env: &Env, method: &str, path: &str) -> Value {
    let version = if path.contains("Microsoft.Cache") { "2024-11-01" } else { "2025-07-01" };
    let url = format!("{}{path}?api-version={version}", env.fake.url);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let request = reqwest::Client::new()
            .request(method.parse().unwrap(), url)
            .bearer_auth(fake_arm::TOKEN)
            .header("content-length", "0");
        let reply = request.send().await.unwrap();
        assert!(reply.status().is_success(), "{method} {path}: {}", reply.status());
        reply.json().await.unwrap()
    })
}

fn secret_value(app: &Value, name: &str) -> String {
    let secrets = app["properties"]["configuration"]["secrets"].as_array().unwrap();
    let s = secrets.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no secret {name}: {app:#}"));
    s["value"].as_str().unwrap().to_string()
}

#[test]
fn deploy_creates_environment_cache_and_app_then_a_second_run_writes_nothing() {
    let env = Env::new(&config(""));
    let run = cmd(&env, &["deploy", "--yes"]).assert();
    let (out, err) = texts(&run);
    assert!(run.get_output().status.success(), "{out}\n{err}");
    assert_no_rejections(&env);

    // The environment logs to the workspace it created, with the workspace's own keys.
    let workspace = env.fake.resource(&workspace_id()).expect("a workspace for the environment");
    let environment = env.fake.resource(&env_id()).expect("the environment");
    let la = &environment["properties"]["appLogsConfiguration"];
    assert_eq!(la["destination"], "log-analytics");
    assert_eq!(la["logAnalyticsConfiguration"]["customerId"], workspace["properties"]["customerId"]);
    assert_eq!(la["logAnalyticsConfiguration"]["sharedKey"], workspace["properties"]["primarySharedKey"]);

    // The cache: TLS only, and the poller waited out its provisioning before the app used it.
    let redis = env.fake.resource(&redis_id()).expect("the cache");
    let p = &redis["properties"];
    assert_eq!(p["enableNonSslPort"], false);
    assert_eq!(p["minimumTlsVersion"], "1.2");
    assert_eq!(p["sku"], json!({"name": "Basic", "family": "C", "capacity": 0}));
    let requests = env.fake.requests();
    let redis_path = redis_id();
    let position = |pred: &dyn Fn(&fake_arm::Recorded) -> bool| requests.iter().position(pred);
    let redis_put = position(&|r| r.method == "PUT" && r.path == redis_path).expect("PUT of the cache");
    let polls = requests[redis_put..].iter().filter(|r| r.method == "GET" && r.path == redis_path).count();
    assert!(polls >= 3, "the cache is Creating for 3 reads; the poller read it {polls} times");
    let list_keys = position(&|r| r.path == format!("{redis_path}/listKeys") && r.status == 200).unwrap();
    let app_put = position(&|r| r.method == "PUT" && r.path == app_id()).expect("PUT of the app");
    assert!(redis_put < list_keys && list_keys < app_put, "the key is read once the cache exists, before the app");
    assert!(requests.iter().all(|r| !(r.path.ends_with("/listKeys") && r.status != 200)), "listKeys while Creating");

    // The app: serve from the image, the stack's identity, scale bounds and rule, ingress on
    // serve's port, the config as a secret volume, every key as a secret behind a variable.
    let app = env.fake.resource(&app_id()).expect("the container app");
    let identity = format!("{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/apim-oai-lb-identity");
    assert!(app["identity"]["userAssignedIdentities"].get(&identity).is_some(), "{app:#}");
    assert_eq!(app["properties"]["environmentId"], json!(env_id()));
    let ingress = &app["properties"]["configuration"]["ingress"];
    assert_eq!((ingress["external"].clone(), ingress["targetPort"].clone()), (json!(true), json!(8080)));
    let template = &app["properties"]["template"];
    assert_eq!(template["scale"]["minReplicas"], 2);
    assert_eq!(template["scale"]["maxReplicas"], 7);
    assert_eq!(template["scale"]["rules"][0]["http"]["metadata"]["concurrentRequests"], "30");
    // Liveness on /healthz; traffic only once /readyz says the config and Redis are there.
    let probes = &template["containers"][0]["probes"];
    assert_eq!(probes[0]["type"], "Liveness");
    assert_eq!(probes[0]["httpGet"]["path"], "/healthz");
    assert_eq!(probes[1]["type"], "Readiness");
    assert_eq!(probes[1]["httpGet"]["path"], "/readyz");
    let container = &template["containers"][0];
    assert_eq!(container["image"], "ghcr.io/contoso/oai-lb:1.0.0");
    let env_var = |name: &str| {
        container["env"].as_array().unwrap().iter().find(|e| e["name"] == name).cloned().unwrap_or(Value::Null)
    };
    assert_eq!(env_var("OAI_LB_TEST_CLIENT_KEYS")["secretRef"], "client-keys");
    assert_eq!(env_var("OAI_LB_TEST_WEST_KEY")["secretRef"], "key-west");
    assert_eq!(env_var("OAI_LB_REDIS_PASSWORD")["secretRef"], "redis-password");
    let client_id = env.fake.resource(&identity).unwrap()["properties"]["clientId"].clone();
    assert_eq!(env_var("AZURE_CLIENT_ID")["value"], client_id, "ManagedIdentityCredential picks the stack's identity");
    assert_eq!(env_var("OAI_LB_CONFIG")["value"], "/etc/oai-lb/oai-lb.toml");
    assert_eq!(template["volumes"][0]["storageType"], "Secret");
    assert_eq!(secret_value(&app, "client-keys"), CLIENT_KEYS);
    assert_eq!(secret_value(&app, "key-west"), WEST_KEY);
    assert_eq!(secret_value(&app, "redis-password"), p["accessKeys"]["primaryKey"].as_str().unwrap());
    assert!(app["tags"]["oai-lb-secrets"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(app["tags"]["managed-by"], "oai-lb");
    // The mounted config is one serve loads: every backend, all addresses, Redis over TLS,
    // client keys required.
    let mounted = Config::parse(std::path::Path::new("mounted.toml"), &secret_value(&app, "oai-lb-config"))
        .expect("the mounted config is valid");
    assert_eq!(mounted.balancer.listen, "0.0.0.0:8080");
    assert_eq!(mounted.balancer.client_keys_env.as_deref(), Some("OAI_LB_TEST_CLIENT_KEYS"));
    assert_eq!(mounted.backends.len(), 2);
    let shared = mounted.balancer.shared_state.as_ref().unwrap();
    assert_eq!(shared.url, "rediss://apim-oai-lb-redis.redis.cache.windows.net:6380");
    // The identity may call the account the app balances over.
    let roles = env.fake.resource_ids();
    assert!(
        roles.iter().any(|id| id.contains("accounts/contoso-east/providers/Microsoft.Authorization/roleAssignments/"))
    );

    // As ARM does: GET never returns secret values (nor the environment's key); listSecrets does.
    let shown = arm(&env, "GET", &app_id());
    let names: Vec<&str> = shown["properties"]["configuration"]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert!(s.get("value").is_none(), "GET returned a secret value: {s}");
            s["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names, ["oai-lb-config", "client-keys", "redis-password", "key-west"]);
    assert!(
        arm(&env, "GET", &env_id())
            .pointer("/properties/appLogsConfiguration/logAnalyticsConfiguration/sharedKey")
            .is_none()
    );
    assert!(arm(&env, "GET", &redis_id()).pointer("/properties/accessKeys").is_none());
    let listed = arm(&env, "POST", &format!("{}/listSecrets", app_id()));
    assert!(listed["value"].as_array().unwrap().iter().any(|s| s["value"] == CLIENT_KEYS));

    assert!(out.contains("Balancer URL (Container Apps): https://apim-oai-lb-lb."), "{out}");
    assert_no_secret_in(&env, &[&out, &err]);

    // A second run reads everything (keys through their POST actions) and writes nothing.
    let writes = env.fake.writes();
    let again = cmd(&env, &["deploy", "--yes"]).assert().success();
    let (again_out, again_err) = texts(&again);
    assert!(again_out.contains("No changes"), "{again_out}");
    assert_eq!(env.fake.writes(), writes, "a second run makes 0 PUT/PATCH/DELETE/POST-that-writes");
    assert_no_rejections(&env);
    assert_no_secret_in(&env, &[&again_out, &again_err]);

    // A new client key is seen through the hash tag: only the app is written.
    let writes = env.fake.writes();
    let rotated = cmd(&env, &["deploy", "--yes"]).env("OAI_LB_TEST_CLIENT_KEYS", "ck-rotated-3e4f").assert().success();
    let rotated_out = stdout(rotated);
    assert!(rotated_out.contains("tags.oai-lb-secrets"), "{rotated_out}");
    let new_writes: Vec<_> = env.fake.requests().into_iter().filter(|r| r.is_write()).skip(writes).collect();
    let revision =
        env.fake.resource(&app_id()).unwrap()["properties"]["latestRevisionName"].as_str().unwrap().to_string();
    let paths: Vec<&str> = new_writes.iter().map(|r| r.path.as_str()).collect();
    // Secrets alone make no new revision: the running one restarts to read them.
    assert_eq!(paths, [app_id(), format!("{}/revisions/{revision}/restart", app_id())], "{new_writes:#?}");
    let restarted = env.fake.resource(&format!("{}/revisions/{revision}", app_id())).unwrap();
    assert_eq!(restarted["properties"]["restarts"], 1);
    assert_eq!(secret_value(&env.fake.resource(&app_id()).unwrap(), "client-keys"), "ck-rotated-3e4f");
    assert!(!rotated_out.contains("ck-rotated-3e4f"), "{rotated_out}");
}

#[test]
fn the_environment_uses_the_monitoring_workspace() {
    let env = Env::new(&config("\n[monitoring]\n"));
    cmd(&env, &["deploy", "--yes"]).assert().success();
    assert_no_rejections(&env);
    let workspaces: Vec<String> =
        env.fake.resource_ids().into_iter().filter(|id| id.contains("/workspaces/")).collect();
    assert_eq!(workspaces, [workspace_id()], "one workspace, shared by [monitoring] and the environment");
    let workspace = env.fake.resource(&workspace_id()).unwrap();
    let environment = env.fake.resource(&env_id()).unwrap();
    assert_eq!(
        environment["properties"]["appLogsConfiguration"]["logAnalyticsConfiguration"]["customerId"],
        workspace["properties"]["customerId"]
    );
    let writes = env.fake.writes();
    cmd(&env, &["deploy", "--yes"]).assert().success();
    assert_eq!(env.fake.writes(), writes);
}

#[test]
fn what_if_lists_the_new_resources_and_writes_nothing() {
    let env = Env::new(&config(""));
    let out = stdout(cmd(&env, &["deploy", "--what-if"]).assert().success());
    for label in [
        "Container Apps environment apim-oai-lb-env",
        "Azure Cache for Redis apim-oai-lb-redis",
        "container app apim-oai-lb-lb",
    ] {
        let line = out.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("{label} missing: {out}"));
        assert!(line.contains("create"), "{line}");
    }
    assert_eq!(env.fake.writes(), 0);
    let json: Value =
        serde_json::from_str(&stdout(cmd(&env, &["--output", "json", "deploy", "--what-if"]).assert().success()))
            .unwrap();
    let types: Vec<&str> = json["plan"].as_array().unwrap().iter().filter_map(|c| c["type"].as_str()).collect();
    for t in ["Microsoft.App/managedEnvironments", "Microsoft.Cache/redis", "Microsoft.App/containerApps"] {
        assert!(types.contains(&t), "{t} not planned: {types:?}");
    }
    assert_no_secret_in(&env, &[&json.to_string()]);
}

/// The FQDN ARM gave the deployed Container App's ingress.
fn deployed_fqdn(env: &Env) -> String {
    env.fake.resource(&app_id()).unwrap()["properties"]["configuration"]["ingress"]["fqdn"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn status_shows_the_url_and_the_running_replicas() {
    let env = Env::new(&config(""));
    cmd(&env, &["deploy", "--yes"]).assert().success();
    let fqdn = deployed_fqdn(&env);
    let table = stdout(cmd(&env, &["status"]).assert().success());
    assert!(table.contains(&format!("https://{fqdn}")), "{table}");
    assert!(table.contains("2 replica(s) running, scales 2-7"), "{table}");
    assert!(table.contains("probe --target aca --watch"), "{table}");
    let json: Value =
        serde_json::from_str(&stdout(cmd(&env, &["--output", "json", "status"]).assert().success())).unwrap();
    let app = &json["container_app"];
    assert_eq!(app["url"], json!(format!("https://{fqdn}")));
    assert_eq!(app["replicas"], 2, "the latest ready revision's running pods");
    assert_eq!((app["min_replicas"].clone(), app["max_replicas"].clone()), (json!(2), json!(7)));
    assert_eq!(app["running_status"], "Running");
    assert_eq!(app["deployed"], "in sync");
    assert_eq!(json["drift"], json!([]));
    assert!(
        env.fake
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.starts_with(&format!("{}/revisions/", app_id())))
    );
    assert_no_secret_in(&env, &[&table, &json.to_string()]);
}

#[test]
fn probe_targets_the_deployed_app_without_printing_the_key() {
    let env = Env::new(&config(""));
    cmd(&env, &["deploy", "--yes"]).assert().success();
    let fqdn = deployed_fqdn(&env);
    // The fake's FQDN does not resolve: the probe reaches ARM, finds the app and reports
    // that nothing answered at its URL, which is a failure (exit 1).
    let run =
        cmd(&env, &["probe", "--target", "aca", "--watch", "--duration", "1s", "--timeout", "2s"]).assert().code(1);
    let (out, err) = texts(&run);
    assert!(err.contains(&format!("https://{fqdn}")), "{err}");
    assert_no_secret_in(&env, &[&out, &err]);
    // Without the keys exported it says which variable to set.
    let missing = env.cmd(&["probe", "--target", "aca", "--duration", "1s"]).assert().code(2);
    let err = stderr(missing);
    assert!(err.contains("OAI_LB_TEST_CLIENT_KEYS") && err.contains("fix:"), "{err}");
}

#[test]
fn destroy_removes_what_deploy_created_app_first_and_leaves_the_rest() {
    let env = Env::new(&config(""));
    cmd(&env, &["deploy", "--yes"]).assert().success();
    // Someone else's app in the same environment's group: not ours, kept.
    let other = format!("{RG}/providers/Microsoft.App/containerApps/someone-elses");
    env.fake.insert(&other, json!({"location": "eastus", "properties": {"environmentId": env_id()}}));
    let run = cmd(&env, &["destroy", "--yes"]).assert().success();
    assert_no_secret_in(&env, &[&stdout(run)]);
    let left = env.fake.resource_ids();
    for ours in [app_id(), redis_id(), env_id(), workspace_id()] {
        assert!(!left.contains(&ours), "{ours} is left: {left:#?}");
    }
    assert!(left.contains(&other), "only what oai-lb created is deleted: {left:#?}");
    let deletes: Vec<String> =
        env.fake.requests().into_iter().filter(|r| r.method == "DELETE").map(|r| r.path).collect();
    let at = |id: String| deletes.iter().position(|p| *p == id).unwrap_or_else(|| panic!("{id} not deleted"));
    assert!(at(app_id()) < at(redis_id()) && at(app_id()) < at(env_id()), "the app goes first: {deletes:#?}");
    assert!(at(env_id()) < at(workspace_id()), "the environment before its workspace: {deletes:#?}");
}

#[test]
fn client_keys_are_required_by_deploy_and_by_serve() {
    let without = config("").replace("client_keys_env = \"OAI_LB_TEST_CLIENT_KEYS\"\n", "");
    let env = Env::new(&without);
    let err = stderr(cmd(&env, &["deploy", "--what-if"]).assert().code(2));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("balancer.client_keys_env") && err.contains("fix:"), "{err}");
    let err = stderr(cmd(&env, &["serve"]).assert().code(2));
    assert!(err.contains("balancer.client_keys_env") && err.contains("fix:"), "{err}");
    assert_eq!(env.fake.requests().len(), 0);

    // With the key named but not exported, deploy says what to export.
    let env = Env::new(&config(""));
    let err = stderr(env.cmd(&["deploy", "--yes"]).env("OAI_LB_TEST_WEST_KEY", WEST_KEY).assert().code(2));
    assert!(err.contains("OAI_LB_TEST_CLIENT_KEYS") && err.contains("export"), "{err}");
    assert_eq!(env.fake.writes(), 0);
}

#[test]
fn destroy_keeps_a_namesake_oai_lb_did_not_create() {
    let env = Env::new(&config(""));
    // Someone else's group and cache, of the names this config would use.
    env.fake.insert(RG, json!({"location": "eastus"}));
    env.fake.insert(
        &redis_id(),
        json!({"location": "eastus", "properties": {"sku": {"name": "Basic", "family": "C", "capacity": 0}}}),
    );
    let err = stderr(cmd(&env, &["destroy", "--yes"]).assert().success());
    assert!(err.contains("Azure Cache for Redis apim-oai-lb-redis has no managed-by: oai-lb tag"), "{err}");
    assert!(env.fake.resource(&redis_id()).is_some());
    assert!(!env.fake.requests().iter().any(|r| r.method == "DELETE" && r.path == redis_id()));
}

/// Kills the balancer when the test ends, passed or not.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_mounted_config_runs_serve_which_requires_a_client_key() {
    let env = Env::new(&config(""));
    cmd(&env, &["deploy", "--yes"]).assert().success();
    let app = env.fake.resource(&app_id()).unwrap();
    let mut mounted = Config::parse(std::path::Path::new("m.toml"), &secret_value(&app, "oai-lb-config")).unwrap();
    // The cache is only reachable on Azure; everything else is what the container loads.
    mounted.balancer.shared_state = None;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oai-lb.toml");
    std::fs::write(&path, toml::to_string(&mounted).unwrap()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let serve = |keys: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_oai-lb"));
        c.args(["serve", "--workers", "1", "--listen", &listen, "--config"])
            .arg(&path)
            .env("OAI_LB_TEST_WEST_KEY", WEST_KEY)
            .env("OAI_LB_CREDENTIAL", "cli")
            .env("PATH", fake_arm::path_with_fake_az())
            .env_remove("OAI_LB_TEST_CLIENT_KEYS")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(keys) = keys {
            c.env("OAI_LB_TEST_CLIENT_KEYS", keys);
        }
        c
    };
    // Without the client-keys secret the replica refuses to start.
    let refused = serve(None).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("OAI_LB_TEST_CLIENT_KEYS"));

    let _child = Child(serve(Some(CLIENT_KEYS)).spawn().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let base = format!("http://{listen}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while client.get(format!("{base}/healthz")).send().await.is_err() {
            assert!(std::time::Instant::now() < deadline, "serve did not start");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let chat = format!("{base}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21");
        let body = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
        let anonymous = client.post(&chat).body(body).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "no client key: refused");
        let wrong = client.post(&chat).header("api-key", "not-a-key").body(body).send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        let second_key = CLIENT_KEYS.split(',').nth(1).unwrap();
        let keyed = client.post(&chat).header("api-key", second_key).body(body).send().await.unwrap();
        assert_ne!(keyed.status(), 401, "a client key from the secret is accepted");
    });
}
