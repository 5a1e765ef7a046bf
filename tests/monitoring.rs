//! `[monitoring]` against the fake ARM: the workspace, the component, the logger and the API
//! diagnostic are created (or existing ones used), validated against the official specs like
//! every other body, converge to 0 writes, never print the connection string, and `status`
//! says where to look.

mod apim;
mod fake_arm;

use apim::{APIM, Env, stderr, stdout};
use serde_json::{Value, json};

const RG: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-oai-lb";
const OTHER_RG: &str = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-observability";

fn config(monitoring: &str) -> String {
    format!(
        "{}\n[[openai]]\nname = \"contoso-east\"\nlocation = \"eastus\"\ndeployments = [{{ name = \"gpt-4o\", model = \"gpt-4o\", version = \"2024-11-20\" }}]\n\n{monitoring}",
        azure_apim!()
    )
}

fn assert_no_rejections(env: &Env) {
    let rejected = env.fake.rejections();
    assert!(rejected.is_empty(), "requests rejected for shape/api-version: {rejected:#?}");
}

fn writes_to(env: &Env, needle: &str) -> usize {
    env.fake.requests().iter().filter(|r| r.is_write() && r.path.contains(needle)).count()
}

#[test]
fn creates_the_workspace_component_logger_and_diagnostic_then_writes_nothing() {
    let env = Env::new(&config("[monitoring]\nsampling_percentage = 50\nlog_headers = [\"x-custom-trace\"]\n"));
    let run = env.cmd(&["deploy", "--yes"]).assert();
    let out = String::from_utf8_lossy(&run.get_output().stdout).into_owned();
    assert!(run.get_output().status.success(), "{out}\n{}", String::from_utf8_lossy(&run.get_output().stderr));
    assert_no_rejections(&env);

    let workspace_id = format!("{RG}/providers/Microsoft.OperationalInsights/workspaces/apim-oai-lb-logs");
    let component_id = format!("{RG}/providers/Microsoft.Insights/components/apim-oai-lb-insights");
    let component = env.fake.resource(&component_id).expect("the component");
    assert_eq!(component["properties"]["WorkspaceResourceId"], workspace_id);
    assert!(env.fake.resource(&workspace_id).is_some());
    let connection = component["properties"]["ConnectionString"].as_str().unwrap().to_string();
    let key = component["properties"]["InstrumentationKey"].as_str().unwrap().to_string();

    let value = env.fake.resource(&format!("{APIM}/namedValues/oai-lb-appinsights-connection-string")).unwrap();
    assert_eq!(value["properties"]["secret"], true);
    assert_eq!(value["properties"]["value"], json!(connection), "the named value holds the connection string");
    let logger = env.fake.resource(&format!("{APIM}/loggers/oai-lb-appinsights")).unwrap();
    assert_eq!(logger["properties"]["loggerType"], "applicationInsights");
    assert_eq!(logger["properties"]["credentials"]["connectionString"], "{{oai-lb-appinsights-connection-string}}");
    assert_eq!(logger["properties"]["resourceId"], json!(component_id));
    let diagnostic = env.fake.resource(&format!("{APIM}/apis/openai/diagnostics/applicationinsights")).unwrap();
    let p = &diagnostic["properties"];
    assert_eq!(p["metrics"], true);
    assert_eq!(p["sampling"]["percentage"], 50.0);
    assert!(p["loggerId"].as_str().unwrap().ends_with("/loggers/oai-lb-appinsights"));
    let logged = p.to_string().to_ascii_lowercase();
    assert!(logged.contains("x-ratelimit-remaining-tokens") && logged.contains("x-custom-trace"), "{p:#}");
    for secret in ["\"api-key\"", "\"authorization\""] {
        let headers = format!("{}{}", p["frontend"]["request"]["headers"], p["backend"]["request"]["headers"]);
        assert!(!headers.to_ascii_lowercase().contains(secret), "{secret} is logged: {p:#}");
    }
    let policy = env.fake.resource(&format!("{APIM}/apis/openai/policies/policy")).unwrap();
    let xml = policy["properties"]["value"].as_str().unwrap();
    assert!(xml.contains("azure-openai-emit-token-metric") && xml.contains("Backend ID"), "{xml}");

    for text in [&out, &String::from_utf8_lossy(&run.get_output().stderr).into_owned()] {
        assert!(!text.contains(&connection) && !text.contains(&key), "a secret was printed: {text}");
    }

    // A second run reads everything (the secret through listValue) and writes nothing.
    let writes = env.fake.writes();
    let again = env.cmd(&["deploy", "--yes"]).assert().success();
    let again = stdout(again);
    assert!(again.contains("No changes"), "{again}");
    assert_eq!(env.fake.writes(), writes, "a second run writes nothing");
    assert!(!again.contains(&connection) && !again.contains(&key), "{again}");

    // status says where to look, in both forms, without the secret.
    let status = stdout(env.cmd(&["status"]).assert().success());
    assert!(status.contains(&component_id) && status.contains(&workspace_id), "{status}");
    assert!(status.contains("customMetrics") && status.contains("Backend ID"), "{status}");
    assert!(!status.contains(&connection) && !status.contains(&key), "{status}");
    let json: Value =
        serde_json::from_str(&stdout(env.cmd(&["status", "--output", "json"]).assert().success())).unwrap();
    assert_eq!(json["monitoring"]["app_insights_id"], json!(component_id));
    assert_eq!(json["monitoring"]["logger"], "in sync");
    assert_eq!(json["monitoring"]["diagnostic"], "in sync");
    assert!(json["monitoring"]["tokens_query"].as_str().unwrap().contains("ago(1h)"));

    // Editing backends leaves the monitoring resources alone and converges with them.
    let writes = env.fake.writes();
    env.cmd(&["backends", "add", "north", "--url", "https://north.openai.azure.com", "--priority", "2", "--yes"])
        .assert()
        .success();
    assert_eq!(writes_to(&env, "oai-lb-appinsights"), 2, "the named value and the logger, written once each");
    assert!(env.fake.writes() > writes);
    assert!(stdout(env.cmd(&["deploy", "--yes"]).assert().success()).contains("No changes"));

    // A change in the portal is drift, and deploy puts it back.
    env.fake.edit(&format!("{APIM}/apis/openai/diagnostics/applicationinsights"), |d| {
        d["properties"]["metrics"] = json!(false);
    });
    let plan = stdout(env.cmd(&["deploy", "--what-if"]).assert().success());
    assert!(plan.contains("diagnostic applicationinsights") && plan.contains("properties.metrics"), "{plan}");
}

#[test]
fn uses_an_existing_component_and_never_writes_or_deletes_it() {
    let component_id = format!("{OTHER_RG}/providers/Microsoft.Insights/components/shared-insights");
    let workspace_id = format!("{OTHER_RG}/providers/Microsoft.OperationalInsights/workspaces/shared-logs");
    let connection = "InstrumentationKey=0f0f0f0f-aaaa-bbbb-cccc-123456789abc;IngestionEndpoint=https://x.in.applicationinsights.azure.com/";
    let env = Env::new(&config(&format!("[monitoring]\napp_insights_id = \"{component_id}\"\n")));
    env.fake.insert(
        &component_id,
        json!({"location": "eastus", "kind": "web", "properties": {
            "Application_Type": "web", "WorkspaceResourceId": workspace_id, "ConnectionString": connection,
            "InstrumentationKey": "0f0f0f0f-aaaa-bbbb-cccc-123456789abc",
        }}),
    );
    let run = env.cmd(&["deploy", "--yes"]).assert();
    let out = String::from_utf8_lossy(&run.get_output().stdout).into_owned();
    assert!(run.get_output().status.success(), "{out}\n{}", String::from_utf8_lossy(&run.get_output().stderr));
    assert_no_rejections(&env);
    assert!(!out.contains(connection), "{out}");
    assert_eq!(writes_to(&env, "Microsoft.Insights"), 0, "the existing component is not written");
    assert_eq!(writes_to(&env, "Microsoft.OperationalInsights"), 0, "no workspace is created");
    let value = env.fake.resource(&format!("{APIM}/namedValues/oai-lb-appinsights-connection-string")).unwrap();
    assert_eq!(value["properties"]["value"], connection);
    let logger = env.fake.resource(&format!("{APIM}/loggers/oai-lb-appinsights")).unwrap();
    assert_eq!(logger["properties"]["resourceId"], json!(component_id));

    let writes = env.fake.writes();
    let again = stdout(env.cmd(&["deploy", "--yes"]).assert().success());
    assert!(again.contains("No changes"), "{again}");
    assert!(again.contains("Application Insights component shared-insights (existing)"), "{again}");
    assert_eq!(env.fake.writes(), writes);

    let status = stdout(env.cmd(&["status"]).assert().success());
    assert!(status.contains(&component_id) && status.contains(&workspace_id), "{status}");

    let plan = stdout(env.cmd(&["destroy", "--what-if"]).assert().success());
    assert!(!plan.contains("shared-insights"), "{plan}");
    env.cmd(&["destroy", "--yes"]).assert().success();
    assert!(env.fake.resource(&component_id).is_some(), "destroy left the existing component alone");
}

#[test]
fn a_missing_existing_component_is_a_config_error() {
    let component_id = format!("{OTHER_RG}/providers/Microsoft.Insights/components/nope");
    let env = Env::new(&config(&format!("[monitoring]\napp_insights_id = \"{component_id}\"\n")));
    let err = stderr(env.cmd(&["deploy", "--yes"]).assert().code(2));
    assert!(err.contains("nope") && err.contains("does not exist") && err.contains("fix:"), "{err}");
    assert_eq!(env.fake.writes(), 0);
}

#[test]
fn an_existing_workspace_gets_a_new_component() {
    let workspace_id = format!("{OTHER_RG}/providers/Microsoft.OperationalInsights/workspaces/shared-logs");
    let env = Env::new(&config(&format!("[monitoring]\nworkspace_id = \"{workspace_id}\"\n")));
    env.fake.insert(&workspace_id, json!({"location": "eastus", "properties": {"sku": {"name": "PerGB2018"}}}));
    env.cmd(&["deploy", "--yes"]).assert().success();
    assert_no_rejections(&env);
    assert_eq!(writes_to(&env, "Microsoft.OperationalInsights"), 0);
    let component =
        env.fake.resource(&format!("{RG}/providers/Microsoft.Insights/components/apim-oai-lb-insights")).unwrap();
    assert_eq!(component["properties"]["WorkspaceResourceId"], json!(workspace_id));
    let writes = env.fake.writes();
    assert!(stdout(env.cmd(&["deploy", "--yes"]).assert().success()).contains("No changes"));
    assert_eq!(env.fake.writes(), writes);
}
