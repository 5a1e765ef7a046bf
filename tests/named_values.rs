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

#[test]
fn set_refuses_the_names_oai_lb_manages() {
    let env = Env::deployed(CONFIG);
    let before = env.fake.resource(&format!("{APIM}/namedValues/oai-lb-backends")).unwrap();
    for name in ["oai-lb-backends", "oai-lb-key-gone"] {
        let err = stderr(env.cmd(&["named-values", "set", name, "x", "--yes"]).assert().code(2));
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("error: named value {name} is managed by oai-lb")), "{err}");
        assert!(err.contains("(fix: change oai-lb.toml and run `oai-lb deploy`"), "{err}");
    }
    assert_eq!(env.fake.resource(&format!("{APIM}/namedValues/oai-lb-backends")).unwrap(), before);
}

#[test]
fn list_shows_every_named_value_of_the_service_marking_oai_lbs() {
    let env = Env::deployed(CONFIG);
    env.cmd(&["named-values", "set", "team", "platform", "--yes"]).assert().success();
    // Made in the portal, not by oai-lb: listed too, never touched.
    let portal = format!("{APIM}/namedValues/portal-secret");
    env.fake.insert(
        &portal,
        serde_json::json!({"properties": {"displayName": "portal-secret", "value": "p4ss", "secret": true}}),
    );

    let table = stdout(env.cmd(&["named-values", "list"]).assert().success());
    let header = table.lines().next().unwrap();
    assert!(header.contains("MANAGED") && header.contains("STATE"), "{table}");
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name}: {table}"))
            .to_string()
    };
    assert!(row("oai-lb-backends").contains("oai-lb") && row("oai-lb-backends").contains("in sync"), "{table}");
    assert!(row("team").contains("platform") && !row("team").contains("in sync"), "{table}");
    assert!(row("portal-secret").contains("(secret)") && !table.contains("p4ss"), "{table}");

    let json = stdout(env.cmd(&["--output", "json", "named-values", "list"]).assert().success());
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let find = |name: &str| rows.as_array().unwrap().iter().find(|r| r["name"] == name).cloned().unwrap();
    assert_eq!(
        (find("oai-lb-backends")["managed"].clone(), find("oai-lb-backends")["state"].clone()),
        (true.into(), "in sync".into())
    );
    assert_eq!(find("team")["managed"], false);
    assert_eq!(find("team")["state"], serde_json::Value::Null);
    assert_eq!(find("portal-secret")["value"], serde_json::Value::Null, "a secret is never printed");
    assert!(!json.contains("p4ss"));
    // oai-lb's first, then the others by name.
    let names: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    let first_other = names.iter().position(|n| !n.starts_with("oai-lb-")).unwrap();
    assert_eq!(&names[first_other..], ["portal-secret", "team"], "{names:?}");
}
