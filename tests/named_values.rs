//! `oai-lb named-values` against the fake ARM: secrets are stored as secrets and never
//! printed, values the policy uses cannot be removed, --what-if writes nothing.

mod apim;
mod fake_arm;

use apim::{APIM, Env, stderr, stdout};

const CONFIG: &str = concat!(
    azure_apim!(),
    r#"
[[backends]]
name = "east"
url = "https://east.openai.azure.com"
auth = "entra"
"#
);

#[test]
fn set_list_remove() {
    let env = Env::deployed(CONFIG);
    env.cmd(&["named-values", "set", "team", "platform", "--yes"]).assert().success();
    let out = env
        .cmd(&["named-values", "set", "token", "--from-env", "OAI_LB_NV_TEST_SECRET", "--secret", "--yes"])
        .env("OAI_LB_NV_TEST_SECRET", "s3cr3t-value")
        .assert()
        .success();
    assert!(!String::from_utf8_lossy(&out.get_output().stdout).contains("s3cr3t-value"));
    let token = env.fake.resource(&format!("{APIM}/namedValues/token")).unwrap();
    assert_eq!(token["properties"]["secret"], true);
    assert_eq!(env.fake.resource(&format!("{APIM}/namedValues/team")).unwrap()["properties"]["value"], "platform");

    let listed = stdout(env.cmd(&["named-values", "list"]).assert().success());
    assert!(listed.contains("oai-lb-backends") && listed.contains("in sync"), "{listed}");
    let json = stdout(env.cmd(&["--output", "json", "named-values", "list"]).assert().success());
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let backends = rows.as_array().unwrap().iter().find(|r| r["name"] == "oai-lb-backends").unwrap();
    assert!(backends["value"].as_str().unwrap().contains("\"east\""));

    let before = env.fake.writes();
    env.cmd(&["named-values", "remove", "team", "--what-if"]).assert().success();
    env.cmd(&["named-values", "set", "team", "other", "--what-if"]).assert().success();
    assert_eq!(env.fake.writes(), before, "--what-if writes nothing");
    env.cmd(&["named-values", "remove", "team", "--yes"]).assert().success();
    assert!(env.fake.resource(&format!("{APIM}/namedValues/team")).is_none());
}

#[test]
fn mistakes_are_usage_errors() {
    let env = Env::deployed(CONFIG);
    let err = stderr(env.cmd(&["named-values", "remove", "oai-lb-backends"]).assert().code(2));
    assert!(err.contains("the policy uses {{oai-lb-backends}}"), "{err}");
    assert!(env.fake.resource(&format!("{APIM}/namedValues/oai-lb-backends")).is_some());
    let err = stderr(env.cmd(&["named-values", "remove", "nope"]).assert().code(2));
    assert!(err.contains("no named value nope"), "{err}");
    let err = stderr(env.cmd(&["named-values", "set", "bad name", "x"]).assert().code(2));
    assert!(err.contains("not a valid named value name"), "{err}");
    let err = stderr(env.cmd(&["named-values", "set", "k", "--from-env", "OAI_LB_SURELY_UNSET_VAR"]).assert().code(2));
    assert!(err.contains("export OAI_LB_SURELY_UNSET_VAR"), "{err}");
}
