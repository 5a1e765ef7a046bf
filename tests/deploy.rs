//! `oai-lb deploy` against the fake ARM server: from nothing, idempotent, what-if, under
//! throttling, resumed after a failure, and a clear ARM error.

#[path = "fake_arm/mod.rs"]
mod fake_arm;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use fake_arm::{FakeArm, Options};
use serde_json::Value;

const SUB: &str = "00000000-0000-0000-0000-000000000000";
const RG: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test";
const APIM: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test/providers/Microsoft.ApiManagement/service/apim-test";

fn config(strategy: &str, publisher: &str) -> String {
    // A pool gives every member the same headers, so its members all use Entra.
    let partner_auth = if strategy == "pool" {
        "auth = \"entra\""
    } else {
        "auth = \"api-key\"\napi_key_env = \"OAI_LB_TEST_PARTNER_KEY\""
    };
    format!(
        r#"
[azure]
subscription_id = "{SUB}"
resource_group = "rg-test"
location = "eastus"

[apim]
name = "apim-test"
sku = "Developer"
publisher_email = "ops@example.com"
publisher_name = "{publisher}"
strategy = "{strategy}"

[[openai]]
name = "contoso-eastus"
location = "eastus"
priority = 1
deployments = [
  {{ name = "gpt-4o", model = "gpt-4o", version = "2024-11-20", sku = "GlobalStandard", capacity = 50 }},
  {{ name = "embeddings", model = "text-embedding-3-large", version = "1", sku = "Standard", capacity = 20 }},
]

[[openai]]
name = "contoso-westus"
location = "westus"
priority = 2
deployments = [{{ name = "gpt-4o", model = "gpt-4o", version = "2024-11-20" }}]

[[backends]]
name = "partner"
url = "https://partner.openai.azure.com"
priority = 2
{partner_auth}
"#
    )
}

struct Setup {
    fake: FakeArm,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn setup(options: Options, strategy: &str) -> Setup {
    let fake = FakeArm::start(options);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oai-lb.toml");
    std::fs::write(&config, self::config(strategy, "Contoso")).unwrap();
    Setup { fake, _dir: dir, config }
}

fn deploy(s: &Setup, args: &[&str]) -> assert_cmd::assert::Assert {
    deploy_with(&s.fake.url, &s.config, args)
}

fn deploy_with(url: &str, config: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("oai-lb")
        .unwrap()
        .env_clear()
        .env("PATH", fake_arm::path_with_fake_az())
        .env("HOME", std::env::temp_dir())
        .env("OAI_LB_ARM_ENDPOINT", url)
        .env("OAI_LB_ARM_POLL_MS", "5")
        .env("OAI_LB_ARM_RETRY_BASE_MS", "5")
        .env("OAI_LB_ARM_PRINCIPAL_WAIT_MS", "20000")
        .env("OAI_LB_TEST_PARTNER_KEY", "partner-secret-key")
        .arg("--config")
        .arg(config)
        .arg("deploy")
        .args(["--credential", "cli"])
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}
fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

fn assert_no_rejections(fake: &FakeArm) {
    let rejected = fake.rejections();
    assert!(rejected.is_empty(), "requests rejected for shape/api-version: {rejected:#?}");
}

#[test]
fn deploys_the_whole_stack_from_nothing_then_does_nothing() {
    let s = setup(Options::default(), "pool");
    let first = deploy(&s, &["--yes", "--show-secrets"]);
    let out = stdout(&first);
    assert!(first.get_output().status.success(), "stdout:\n{out}\nstderr:\n{}", stderr(&first));
    assert_no_rejections(&s.fake);
    assert!(out.contains("Gateway URL: https://apim-test.azure-api.net/openai"), "{out}");
    let sub = s.fake.resource(&format!("{APIM}/subscriptions/oai-lb")).unwrap();
    let key = sub["properties"]["primaryKey"].as_str().unwrap();
    assert!(out.contains(key), "the key is printed with --show-secrets: {out}");
    assert!(!out.contains("partner-secret-key"), "{out}");

    let ids = s.fake.resource_ids();
    let has = |suffix: &str| ids.iter().any(|id| id.ends_with(suffix));
    for suffix in [
        "/resourceGroups/rg-test",
        "/userAssignedIdentities/apim-test-identity",
        "/accounts/contoso-eastus/deployments/gpt-4o",
        "/accounts/contoso-eastus/deployments/embeddings",
        "/accounts/contoso-westus/deployments/gpt-4o",
        "/service/apim-test",
        "/namedValues/oai-lb-identity-client-id",
        "/namedValues/oai-lb-backends",
        "/backends/contoso-eastus",
        "/backends/partner",
        "/backends/oai-lb-pool",
        "/apis/openai",
        "/apis/openai/policies/policy",
        "/subscriptions/oai-lb",
    ] {
        assert!(has(suffix), "{suffix} missing from {ids:#?}");
    }
    let roles = ids.iter().filter(|id| id.contains("/roleAssignments/")).count();
    assert_eq!(roles, 2, "{ids:#?}");
    // The first role assignment met PrincipalNotFound and was retried.
    assert!(s.fake.requests().iter().any(|r| r.code.as_deref() == Some("PrincipalNotFound")));
    let identity = s
        .fake
        .resource(&format!("{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/apim-test-identity"))
        .unwrap();
    let client_id = s.fake.resource(&format!("{APIM}/namedValues/oai-lb-identity-client-id")).unwrap();
    assert_eq!(client_id["properties"]["value"], identity["properties"]["clientId"]);
    let pool = s.fake.resource(&format!("{APIM}/backends/oai-lb-pool")).unwrap();
    assert!(pool["properties"].get("url").is_none());
    assert_eq!(pool["properties"]["pool"]["services"].as_array().unwrap().len(), 3);
    let single = s.fake.resource(&format!("{APIM}/backends/partner")).unwrap();
    assert_eq!(single["properties"]["url"], "https://partner.openai.azure.com/openai");
    assert_eq!(single["properties"]["circuitBreaker"]["rules"][0]["acceptRetryAfter"], true);

    let writes = s.fake.writes();
    let second = deploy(&s, &["--yes"]);
    assert!(second.get_output().status.success(), "{}", stderr(&second));
    assert!(stdout(&second).contains("No changes"), "{}", stdout(&second));
    assert_eq!(s.fake.writes(), writes, "a second run writes nothing");
    assert_no_rejections(&s.fake);
}

#[test]
fn what_if_writes_nothing_and_shows_changed_fields() {
    let s = setup(Options::default(), "policy");
    let plan = deploy(&s, &["--what-if", "--output", "json"]);
    assert!(plan.get_output().status.success(), "{}", stderr(&plan));
    assert_eq!(s.fake.writes(), 0);
    let json: Value = serde_json::from_str(&stdout(&plan)).unwrap();
    assert_eq!(json["applied"], false);
    assert!(json["plan"].as_array().unwrap().iter().all(|c| c["action"] == "create"), "{json:#}");

    deploy(&s, &["--yes"]).success();
    std::fs::write(&s.config, config("policy", "Fabrikam")).unwrap();
    let writes = s.fake.writes();
    let plan = deploy(&s, &["--what-if"]);
    let out = stdout(&plan);
    assert!(plan.get_output().status.success(), "{}", stderr(&plan));
    assert!(out.contains("APIM service apim-test") && out.contains("properties.publisherName"), "{out}");
    assert!(out.contains("nothing was written"), "{out}");
    assert_eq!(s.fake.writes(), writes);
}

#[test]
fn converges_through_injected_throttling_and_server_errors() {
    let options = Options { throttle_rate: 0.10, error_rate: 0.05, seed: 42, ..Options::default() };
    let s = setup(options, "pool");
    let run = deploy(&s, &["--yes"]);
    assert!(run.get_output().status.success(), "{}", stderr(&run));
    let requests = s.fake.requests();
    assert!(requests.iter().any(|r| r.status == 429), "throttling was injected");
    assert!(requests.iter().any(|r| r.status == 500), "errors were injected");
    assert_no_rejections(&s.fake);
    let writes = s.fake.writes();
    let again = deploy(&s, &["--yes"]);
    assert!(stdout(&again).contains("No changes"), "{}", stdout(&again));
    assert_eq!(s.fake.writes(), writes);
}

#[test]
fn an_interrupted_deploy_resumes() {
    let options = Options { fail_once: Some("/service/apim-test".into()), ..Options::default() };
    let s = setup(options, "policy");
    let failed = deploy(&s, &["--yes"]).code(1);
    let err = stderr(&failed);
    assert!(err.contains("APIM service apim-test: ARM operation Failed InternalOperationError"), "{err}");
    assert!(err.contains("run `oai-lb deploy` again"), "{err}");
    assert!(s.fake.resource(&format!("{APIM}/apis/openai")).is_none(), "nothing under the failed service");

    let resumed = deploy(&s, &["--yes"]);
    assert!(resumed.get_output().status.success(), "{}", stderr(&resumed));
    assert!(
        stdout(&resumed).contains("| APIM service apim-test") || stdout(&resumed).contains("APIM service apim-test")
    );
    assert!(s.fake.resource(&format!("{APIM}/apis/openai/policies/policy")).is_some());
    let again = deploy(&s, &["--yes"]);
    assert!(stdout(&again).contains("No changes"), "{}", stdout(&again));
    assert_no_rejections(&s.fake);
}

#[test]
fn an_arm_error_ends_with_one_clear_line_and_exit_1() {
    let options = Options { forbid: Some("Microsoft.CognitiveServices".into()), ..Options::default() };
    let s = setup(options, "policy");
    let failed = deploy(&s, &["--yes"]).code(1);
    let err = stderr(&failed);
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert!(line.contains("OpenAI account contoso-"), "{err}");
    assert!(line.contains("ARM 403 AuthorizationFailed: The client does not have authorization"), "{err}");
    assert!(line.contains("(request id "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn never_prompts_without_a_terminal() {
    let s = setup(Options::default(), "policy");
    let run = deploy(&s, &[]).code(2);
    assert!(stderr(&run).contains("pass --yes"), "{}", stderr(&run));
    assert_eq!(s.fake.writes(), 0);
}

#[test]
fn deploy_needs_azure_and_apim_sections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oai-lb.toml");
    std::fs::write(&path, "[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\n").unwrap();
    let run = deploy_with("http://127.0.0.1:9", &path, &["--yes"]).code(2);
    assert!(stderr(&run).contains("[azure] and [apim]"), "{}", stderr(&run));
}

#[test]
fn plain_http_endpoints_must_be_loopback() {
    let s = setup(Options::default(), "policy");
    let run = deploy_with("http://arm.example.com", &s.config, &["--yes"]).code(2);
    assert!(stderr(&run).contains("loopback"), "{}", stderr(&run));
}

#[test]
fn updates_keep_what_oai_lb_does_not_own() {
    let s = setup(Options::default(), "policy");
    deploy(&s, &["--yes"]).success();
    let account = format!("{RG}/providers/Microsoft.CognitiveServices/accounts/contoso-eastus");
    let identity = format!("{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/apim-test-identity");
    // Set out of band: a custom domain and a VNet on APIM, network rules and someone's tag
    // on the account, a tag on the identity; and our own tags removed so each needs a write.
    s.fake.edit(APIM, |apim| {
        apim["properties"]["hostnameConfigurations"] =
            serde_json::json!([{"type": "Proxy", "hostName": "api.contoso.com", "certificateSource": "KeyVault"}]);
        apim["properties"]["virtualNetworkType"] = serde_json::json!("External");
        apim["tags"] = serde_json::json!({"cost-center": "42"});
    });
    s.fake.edit(&account, |a| {
        a["properties"]["networkAcls"] =
            serde_json::json!({"defaultAction": "Deny", "ipRules": [{"value": "1.2.3.4"}]});
        a["tags"] = serde_json::json!({"owner": "data-team"});
    });
    s.fake.edit(&identity, |i| i["tags"] = serde_json::json!({"owner": "platform"}));
    std::fs::write(&s.config, config("policy", "Contoso Ltd")).unwrap();

    let out = deploy(&s, &["--yes"]);
    assert!(out.get_output().status.success(), "{}", stderr(&out));
    assert_no_rejections(&s.fake);
    let apim = s.fake.resource(APIM).unwrap();
    assert_eq!(apim["properties"]["publisherName"], "Contoso Ltd");
    assert_eq!(apim["properties"]["hostnameConfigurations"][0]["hostName"], "api.contoso.com");
    assert_eq!(apim["properties"]["virtualNetworkType"], "External");
    assert_eq!(apim["tags"], serde_json::json!({"cost-center": "42", "managed-by": "oai-lb"}));
    let a = s.fake.resource(&account).unwrap();
    assert_eq!(a["properties"]["networkAcls"]["defaultAction"], "Deny");
    assert_eq!(a["tags"], serde_json::json!({"owner": "data-team", "managed-by": "oai-lb"}));
    let i = s.fake.resource(&identity).unwrap();
    assert_eq!(i["tags"], serde_json::json!({"owner": "platform", "managed-by": "oai-lb"}));
    let patched: Vec<String> = s.fake.requests().into_iter().filter(|r| r.method == "PATCH").map(|r| r.path).collect();
    assert_eq!(patched.len(), 3, "APIM, the account and the identity are patched, not replaced: {patched:?}");
}

#[test]
fn the_backend_url_is_the_accounts_reported_endpoint_and_models_do_not_auto_upgrade() {
    let s = setup(Options::default(), "policy");
    deploy(&s, &["--yes"]).success();
    let deployment = format!("{RG}/providers/Microsoft.CognitiveServices/accounts/contoso-eastus/deployments/gpt-4o");
    assert_eq!(s.fake.resource(&deployment).unwrap()["properties"]["versionUpgradeOption"], "NoAutoUpgrade");
    // An account whose endpoint is not `{name}.openai.azure.com` (another cloud, a
    // different subdomain): the backend follows what ARM reports.
    let account = format!("{RG}/providers/Microsoft.CognitiveServices/accounts/contoso-eastus");
    s.fake
        .edit(&account, |a| a["properties"]["endpoint"] = serde_json::json!("https://contoso-eastus.openai.azure.us/"));
    deploy(&s, &["--yes"]).success();
    let backend = s.fake.resource(&format!("{APIM}/backends/contoso-eastus")).unwrap();
    assert_eq!(backend["properties"]["url"], "https://contoso-eastus.openai.azure.us/openai");
    let writes = s.fake.writes();
    deploy(&s, &["--yes"]).success();
    assert_eq!(s.fake.writes(), writes, "converged");
}

#[test]
fn a_role_assignment_made_by_the_bicep_is_the_clis_own() {
    let s = setup(Options::default(), "policy");
    deploy(&s, &["--yes"]).success();
    let account = format!("{RG}/providers/Microsoft.CognitiveServices/accounts/contoso-eastus");
    let ids = s.fake.resource_ids();
    let ours = ids.iter().find(|id| id.starts_with(&account) && id.contains("/roleAssignments/")).unwrap().clone();
    let body = s.fake.resource(&ours).unwrap();
    let principal = body["properties"]["principalId"].as_str().unwrap();
    // bicep/modules/roles.bicep names it guid(account.id, principalId, openAiUserRole)
    // (tests/bicep.rs evaluates that expression): the CLI's name is that GUID.
    let bicep_name = oai_lb::names::role_assignment(&account, principal, "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd");
    assert!(ours.ends_with(&format!("/roleAssignments/{bicep_name}")), "{ours}");

    // As if `az deployment` had made it: the CLI finds it and writes nothing.
    s.fake.remove(&ours);
    let bicep_id = format!("{account}/providers/Microsoft.Authorization/roleAssignments/{bicep_name}");
    s.fake.insert(&bicep_id, serde_json::json!({"properties": body["properties"].clone()}));
    let writes = s.fake.writes();
    deploy(&s, &["--yes"]).success();
    assert_eq!(s.fake.writes(), writes);

    // Under any other name ARM answers 409 RoleAssignmentExists (as the old UUID v5 did).
    s.fake.remove(&bicep_id);
    let other =
        format!("{account}/providers/Microsoft.Authorization/roleAssignments/00000000-0000-0000-0000-000000000001");
    s.fake.insert(&other, serde_json::json!({"properties": body["properties"].clone()}));
    let out = deploy(&s, &["--yes"]);
    assert!(!out.get_output().status.success());
    assert!(stderr(&out).contains("RoleAssignmentExists"), "{}", stderr(&out));
}
