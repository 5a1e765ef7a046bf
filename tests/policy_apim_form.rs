//! Idempotence against the form APIM stores a policy in: the fake ARM keeps every pushed
//! policy re-serialized as APIM does (tabs, CRLF, `&quot;`, `&#xA;` in attributes), so the
//! plan, `status --check`, `policy diff` and `policy push` must compare content
//! (`policy::equivalent`), not bytes.

mod apim;
mod fake_arm;

use apim::{APIM, Env, stdout};
use oai_lb::config::Config;
use oai_lb::policy;

const CONFIG: &str = r#"
[azure]
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-oai-lb"
location = "eastus"
tenant_id = "11111111-1111-1111-1111-111111111111"

[apim]
name = "apim-oai-lb"
publisher_email = "ops@example.com"
publisher_name = "Contoso"

[apim.client_auth]
audience = "api://oai-lb"
client_id = "22222222-2222-2222-2222-222222222222"

[[backends]]
name = "east"
url = "https://east.openai.azure.com"
priority = 1
auth = "entra"

[[backends]]
name = "west"
url = "https://west.openai.azure.com"
priority = 2
"#;

const POLICY: &str = "/apis/openai/policies/policy";

fn rendered(env: &Env) -> String {
    let config = Config::load(&env.config).unwrap();
    policy::render(&config, policy::configured_strategy(&config)).unwrap()
}

#[test]
fn the_fake_stores_policies_as_apim_does() {
    let env = Env::deployed(CONFIG);
    let stored =
        env.fake.resource(&format!("{APIM}{POLICY}")).unwrap()["properties"]["value"].as_str().unwrap().to_string();
    let rendered = rendered(&env);
    assert_ne!(stored, rendered, "APIM gives back its own serialization");
    assert!(stored.contains("\r\n\t<inbound>") && stored.contains("&#xA;") && stored.contains("&quot;"), "{stored}");
    assert!(policy::equivalent(&rendered, &stored));
    // `format=rawxml` returns expressions without XML encoding: not a document to parse.
    let raw = fake_arm::apim_xml::raw(&stored);
    assert!(raw.contains("context.Variables[\"oaiLbBackends\"]") && raw.contains(" < "), "{raw}");
    assert!(policy::normalize(&raw).is_err());
    // An edit is still an edit.
    assert!(!policy::equivalent(&rendered, &stored.replace("86400", "60")));
}

#[test]
fn deploy_again_writes_nothing_and_no_command_sees_drift() {
    let env = Env::deployed(CONFIG);
    assert!(env.fake.rejections().is_empty(), "{:?}", env.fake.rejections());
    let writes = env.fake.writes();

    let again = stdout(env.cmd(&["deploy", "--yes"]).assert().success());
    assert!(again.contains("No changes"), "{again}");
    assert_eq!(env.fake.writes(), writes, "a second deploy writes nothing");
    env.cmd(&["status", "--check"]).assert().success();
    env.cmd(&["policy", "diff"]).assert().success();
    let push = env.cmd(&["policy", "push", "--yes"]).assert().success();
    assert!(String::from_utf8_lossy(&push.get_output().stderr).contains("nothing to push"));
    assert_eq!(env.fake.writes(), writes, "policy push writes nothing either");

    // A backend added through the CLI converges too, and leaves no drift behind.
    env.cmd(&["backends", "add", "north", "--url", "https://north.openai.azure.com", "--priority", "3", "--yes"])
        .assert()
        .success();
    env.cmd(&["status", "--check"]).assert().success();
    env.cmd(&["policy", "diff"]).assert().success();
    let writes = env.fake.writes();
    env.cmd(&["deploy", "--yes"]).assert().success();
    assert_eq!(env.fake.writes(), writes);

    // An out-of-band edit is drift for every command alike.
    env.fake.edit(&format!("{APIM}{POLICY}"), |policy| {
        let value = policy["properties"]["value"].as_str().unwrap().replace("86400", "60");
        policy["properties"]["value"] = serde_json::json!(value);
    });
    env.cmd(&["status", "--check"]).assert().code(3);
    env.cmd(&["policy", "diff"]).assert().code(3);
    env.cmd(&["policy", "push", "--yes"]).assert().success();
    env.cmd(&["status", "--check"]).assert().success();
}
