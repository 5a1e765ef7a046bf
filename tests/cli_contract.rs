//! The command-line interface, pinned: every command's `--help`, and the one error line and
//! exit code of the failures scripts meet (a missing `--yes` off a terminal, a bad config,
//! an ARM error).

mod apim;
mod fake_arm;

use assert_cmd::Command;

use apim::Env;

const COMMANDS: &[&[&str]] = &[
    &[],
    &["init"],
    &["deploy"],
    &["backends"],
    &["backends", "add"],
    &["backends", "list"],
    &["backends", "set"],
    &["backends", "remove"],
    &["named-values"],
    &["named-values", "set"],
    &["named-values", "list"],
    &["named-values", "remove"],
    &["policy"],
    &["policy", "render"],
    &["policy", "diff"],
    &["policy", "push"],
    &["policy", "show"],
    &["status"],
    &["destroy"],
    &["serve"],
    &["probe"],
    &["simulate"],
    &["demo"],
    &["completions"],
];

const LOCAL: &str = "[[backends]]\nname = \"east\"\nurl = \"https://east.openai.azure.com\"\npriority = 1\n";

const APIM: &str = concat!(azure_apim!(), "\n[[backends]]\nname = \"east\"\nurl = \"https://east.openai.azure.com\"\n");

/// `oai-lb` in a fresh folder with `oai-lb.toml` holding `config`, with no `OAI_LB_*`
/// variable or terminal width of the caller leaking in.
fn oai_lb(dir: &tempfile::TempDir, config: &str) -> Command {
    std::fs::write(dir.path().join("oai-lb.toml"), config).unwrap();
    let mut cmd = Command::cargo_bin("oai-lb").unwrap();
    cmd.current_dir(dir.path()).env_clear().env("COLUMNS", "100").write_stdin("");
    cmd
}

/// The exit code and stderr, as one snapshot; request ids (random) are replaced.
fn outcome(assert: assert_cmd::assert::Assert) -> String {
    let out = assert.get_output();
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    while let Some(at) = stderr.find("(request id ") {
        let start = at + "(request id ".len();
        let Some(len) = stderr[start..].find(')') else { break };
        stderr.replace_range(start..start + len, "[id]");
        if !stderr[start + "[id]".len()..].contains("(request id ") {
            break;
        }
    }
    format!("exit {}\n{stderr}", out.status.code().unwrap_or(-1))
}

#[test]
fn help_of_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for command in COMMANDS {
        let out = oai_lb(&dir, "").args(*command).arg("--help").assert().success().get_output().stdout.clone();
        let name = if command.is_empty() { "oai-lb".to_string() } else { command.join("-") };
        insta::assert_snapshot!(format!("help_{name}"), String::from_utf8(out).unwrap());
    }
}

#[test]
fn a_mutating_command_off_a_terminal_needs_yes() {
    let dir = tempfile::tempdir().unwrap();
    let add = ["backends", "add", "west", "--url", "https://west.openai.azure.com", "--priority", "2"];
    insta::assert_snapshot!("missing_yes_backends_add", outcome(oai_lb(&dir, LOCAL).args(add).assert().code(2)));
    assert_eq!(std::fs::read_to_string(dir.path().join("oai-lb.toml")).unwrap(), LOCAL, "nothing written");
    oai_lb(&dir, LOCAL).args(add).arg("--what-if").assert().success();
    assert_eq!(std::fs::read_to_string(dir.path().join("oai-lb.toml")).unwrap(), LOCAL, "--what-if writes nothing");
    oai_lb(&dir, LOCAL).args(add).arg("--yes").assert().success();
    assert!(std::fs::read_to_string(dir.path().join("oai-lb.toml")).unwrap().contains("west"));

    let env = Env::new(APIM);
    let deploy = env.cmd(&["deploy"]).assert().code(2);
    insta::assert_snapshot!("missing_yes_deploy", outcome(deploy));
    assert_eq!(env.fake.writes(), 0);
}

#[test]
fn a_bad_config_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = oai_lb(&dir, "[balancer]\nlisen = \"127.0.0.1:8080\"\n").args(["policy", "render"]).assert().code(2);
    insta::assert_snapshot!("bad_config", outcome(bad));
    let wrong =
        oai_lb(&dir, "[[backends]]\nname = \"a\"\nurl = \"http://example.com\"\n").arg("serve").assert().code(2);
    insta::assert_snapshot!("bad_backend_url", outcome(wrong));
}

#[test]
fn an_arm_error_is_one_line_with_its_cause_and_exit_1() {
    let env = Env::deployed(APIM);
    env.fake.set_options(|o| o.forbid = Some("namedValues".into()));
    let set = env.cmd(&["named-values", "set", "team", "platform", "--yes"]).assert().code(1);
    insta::assert_snapshot!("arm_error", outcome(set));
}

#[test]
fn policy_render_needs_no_backend_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[[backends]]\nname = \"k\"\nurl = \"https://k.openai.azure.com\"\nauth = \"api-key\"\napi_key_env = \"OAI_LB_SURELY_UNSET_VAR\"\n";
    let out = oai_lb(&dir, config).args(["policy", "render"]).assert().success().get_output().stdout.clone();
    assert!(String::from_utf8(out).unwrap().starts_with("<policies>"));
    // serve reads the key, so it checks it.
    let serve = oai_lb(&dir, config).arg("serve").assert().code(2);
    assert!(outcome(serve).contains("export OAI_LB_SURELY_UNSET_VAR"));
}
