//! `oai-lb policy render` through the binary: stdout, --out, JSON and exit codes.

use assert_cmd::Command;
use oai_lb::config::{Config, Strategy};

const CONFIG: &str = r#"
[apim]
name = "apim-x"
publisher_email = "ops@example.com"
publisher_name = "Contoso"
strategy = "pool"

[[backends]]
name = "east"
url = "https://east.openai.azure.com"
auth = "entra"
"#;

fn setup(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oai-lb.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn oai_lb(path: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("oai-lb").unwrap();
    cmd.arg("--config").arg(path);
    cmd
}

#[test]
fn renders_the_configured_strategy_unless_told_otherwise() {
    let (_dir, path) = setup(CONFIG);
    let config = Config::load(&path).unwrap();
    let out = oai_lb(&path).args(["policy", "render"]).assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8(out).unwrap(), oai_lb::policy::render(&config, Strategy::Pool).unwrap());
    let out =
        oai_lb(&path).args(["policy", "render", "--strategy", "policy"]).assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8(out).unwrap(), oai_lb::policy::render(&config, Strategy::Policy).unwrap());
}

#[test]
fn out_writes_the_file_and_json_lists_named_values() {
    let (dir, path) = setup(CONFIG);
    let file = dir.path().join("policy.xml");
    let out =
        oai_lb(&path).args(["policy", "render", "--out"]).arg(&file).assert().success().get_output().stdout.clone();
    assert!(out.is_empty(), "nothing on stdout with --out");
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("<policies>"));

    let out = oai_lb(&path)
        .args(["--output", "json", "policy", "render", "--strategy", "policy"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["strategy"], "policy");
    assert_eq!(json["format"], "xml");
    let names: Vec<&str> =
        json["named_values"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["oai-lb-backends", "oai-lb-identity-client-id"]);
    assert_eq!(json["named_values"][1]["value"]["kind"], "identity_client_id");
}

#[test]
fn a_config_without_backends_is_a_usage_error() {
    let (_dir, path) = setup("");
    let out = oai_lb(&path).args(["policy", "render"]).assert().code(2).get_output().stderr.clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("no backends") && err.contains("oai-lb backends add"), "{err}");
}
