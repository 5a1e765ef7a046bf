//! `oai-lb backends`: edits keep the file's comments and layout, bad edits leave it
//! untouched, and mistakes are one-line usage errors (exit 2).

use std::path::PathBuf;

use assert_cmd::Command;

const CONFIG: &str = r#"# Our team's balancer. Keep this comment.

[balancer]
listen = "127.0.0.1:8080"   # local only

# PTU first, pay-as-you-go when it is throttled.
[[backends]]
name = "ptu"
url = "https://ptu.openai.azure.com"
priority = 1    # the reserved capacity
auth = "entra"

[[backends]]
name = "paygo"
url = "https://paygo.openai.azure.com"
priority = 2
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oai-lb.toml");
        std::fs::write(&path, CONFIG).unwrap();
        Fixture { _dir: dir, path }
    }
    fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        Command::cargo_bin("oai-lb").unwrap().arg("--config").arg(&self.path).args(args).write_stdin("").assert()
    }
    fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap()
    }
    fn list(&self) -> serde_json::Value {
        let out = self.run(&["--output", "json", "backends", "list"]).success().get_output().stdout.clone();
        serde_json::from_slice(&out).unwrap()
    }
}

#[test]
fn add_set_remove_keep_comments_and_layout() {
    let f = Fixture::new();
    f.run(&["backends", "add", "sweden", "--url", "https://sweden.openai.azure.com", "--priority", "2", "--yes"])
        .success();
    f.run(&[
        "backends",
        "add",
        "emb",
        "--url",
        "https://emb.openai.azure.com",
        "--priority",
        "3",
        "--weight",
        "2",
        "--auth",
        "entra",
        "--deployment",
        "text-embedding-3-large",
        "--yes",
    ])
    .success();
    f.run(&["backends", "set", "ptu", "--priority", "5", "--weight", "4", "--yes"]).success();
    f.run(&["backends", "remove", "paygo", "--yes"]).success();

    let text = f.text();
    for kept in ["# Our team's balancer. Keep this comment.", "# local only", "# PTU first", "# the reserved capacity"]
    {
        assert!(text.contains(kept), "lost `{kept}`:\n{text}");
    }
    assert!(text.contains("priority = 5    # the reserved capacity"), "the value changed in place:\n{text}");
    assert!(!text.contains("paygo"));

    let list = f.list();
    let rows: Vec<(&str, u64, u64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].as_str().unwrap(), b["priority"].as_u64().unwrap(), b["weight"].as_u64().unwrap()))
        .collect();
    assert_eq!(rows, [("ptu", 5, 4), ("sweden", 2, 1), ("emb", 3, 2)]);
    assert_eq!(list[2]["deployments"], serde_json::json!(["text-embedding-3-large"]));
    assert_eq!(list[2]["auth"], "entra");
}

#[test]
fn removing_the_first_backend_takes_the_comment_directly_above_it() {
    // The comment touches ptu's header, so it is ptu's (a comment block belongs to the table
    // below it); paygo keeps its own layout. See config::edit for the heading rule.
    let f = Fixture::new();
    f.run(&["backends", "remove", "ptu", "--yes"]).success();
    let want = r#"# Our team's balancer. Keep this comment.

[balancer]
listen = "127.0.0.1:8080"   # local only

[[backends]]
name = "paygo"
url = "https://paygo.openai.azure.com"
priority = 2
"#;
    assert_eq!(f.text(), want);
}

#[test]
fn mistakes_are_usage_errors_that_leave_the_file_untouched() {
    let f = Fixture::new();
    let cases: [(&[&str], &str); 6] = [
        (&["backends", "add", "ptu", "--url", "https://x.openai.azure.com", "--priority", "1"], "already exists"),
        (&["backends", "set", "nope", "--priority", "1"], "no backend is named `nope`"),
        (&["backends", "remove", "nope"], "configured: ptu, paygo"),
        (&["backends", "set", "ptu"], "nothing to change"),
        (&["backends", "set", "ptu", "--priority", "0"], "error: --priority: must be from 1 to 100, not 0"),
        (&["backends", "add", "x", "--url", "http://example.com", "--priority", "1"], "plain http"),
    ];
    for (args, expected) in cases {
        let out = f.run(args).code(2).get_output().stderr.clone();
        let err = String::from_utf8_lossy(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
        assert_eq!(f.text(), CONFIG, "{args:?} changed the file");
    }
}

/// A local edit reads no key: the backend is added with its variable unset, and the note
/// says what `serve` will need.
#[test]
fn an_api_key_backend_is_added_with_its_variable_unset_and_the_note_says_what_to_export() {
    let f = Fixture::new();
    let add = ["backends", "add", "k", "--url", "https://k.openai.azure.com", "--priority", "1"];
    let done = f.run(&[&add[..], &["--api-key-env", "OAI_LB_SURELY_UNSET_VAR", "--yes"]].concat()).success();
    let err = String::from_utf8_lossy(&done.get_output().stderr).into_owned();
    assert!(err.contains("`export OAI_LB_SURELY_UNSET_VAR=...`"), "{err}");
    let text = f.text();
    assert!(text.contains("api_key_env = \"OAI_LB_SURELY_UNSET_VAR\"") && text.contains("auth = \"api-key\""));
    let set = Command::cargo_bin("oai-lb")
        .unwrap()
        .arg("--config")
        .arg(&f.path)
        .args([
            "backends",
            "add",
            "s",
            "--url",
            "https://s.openai.azure.com",
            "--api-key-env",
            "OAI_LB_BACKENDS_TEST_KEY",
        ])
        .arg("--yes")
        .env("OAI_LB_BACKENDS_TEST_KEY", "secret-value")
        .assert()
        .success();
    let err = String::from_utf8_lossy(&set.get_output().stderr).into_owned();
    assert!(!err.contains("OAI_LB_BACKENDS_TEST_KEY") && !err.contains("secret-value"), "{err}");
    assert!(!f.text().contains("secret-value"), "the key itself is never written");
}

#[test]
fn list_prints_a_table() {
    let f = Fixture::new();
    let out = f.run(&["backends", "list"]).success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.lines().next().unwrap().contains("NAME"));
    assert!(out.contains("ptu") && out.contains("paygo") && out.contains("entra"));
}

#[test]
fn a_missing_config_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("oai-lb")
        .unwrap()
        .arg("--config")
        .arg(dir.path().join("none.toml"))
        .args(["backends", "remove", "x"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("oai-lb init"));
}
