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

/// Exactly one JSON document in `text` (what `--output json` promises on stdout).
fn one_json(what: &str, text: &str) -> serde_json::Value {
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}): {text}"));
    assert_eq!(docs.len(), 1, "{what}: one JSON document on stdout, got {}: {text}", docs.len());
    docs.into_iter().next().unwrap()
}

fn stdout_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}

/// Two `api-key` backends whose variables are unset in every command below, and one
/// without a key: only a command that sends a key may ask for one.
const KEYED: &str = concat!(
    azure_apim!(),
    r#"
[[backends]]
name = "keyed"
url = "https://keyed.openai.azure.com"
auth = "api-key"
api_key_env = "OAI_LB_TEST_KEYED_KEY"

[[backends]]
name = "east"
url = "https://east.openai.azure.com"
"#
);

#[test]
fn secrets_are_read_only_by_the_commands_that_send_them() {
    let env = Env::new(KEYED);
    // deploy uploads the key, so it needs it; here it has it.
    let refused = env.cmd(&["deploy", "--yes"]).assert().code(2);
    assert!(stderr_of(&refused).contains("export OAI_LB_TEST_KEYED_KEY"), "{}", stderr_of(&refused));
    assert_eq!(env.fake.writes(), 0, "deploy refused before writing");
    env.cmd(&["deploy", "--yes"]).env("OAI_LB_TEST_KEYED_KEY", "k-1").assert().success();
    let key = env.fake.resource(&format!("{}/namedValues/oai-lb-key-keyed", apim::APIM)).unwrap();
    assert_eq!(key["properties"]["secret"], true);

    // From here on the variable is unset: nothing below sends the key.
    let listed = stdout_of(&env.cmd(&["backends", "list", "--local-only"]).assert().success());
    assert!(listed.contains("keyed") && listed.contains("$OAI_LB_TEST_KEYED_KEY"), "{listed}");
    env.cmd(&["backends", "list"]).assert().success();
    assert!(stdout_of(&env.cmd(&["policy", "render"]).assert().success()).starts_with("<policies>"));
    env.cmd(&["status"]).assert().success();
    env.cmd(&["deploy", "--yes"]).assert().success(); // the key is in APIM already: not re-sent
    let add = ["backends", "add", "west", "--url", "https://west.openai.azure.com", "--priority", "2", "--yes"];
    env.cmd(&add).assert().success();
    assert!(env.fake.resource(&format!("{}/backends/west", apim::APIM)).is_some(), "west reached APIM");
    env.cmd(&["backends", "set", "east", "--weight", "3", "--yes"]).assert().success();
    env.cmd(&["backends", "set", "keyed", "--priority", "2", "--local-only", "--yes"]).assert().success();
    env.cmd(&["backends", "remove", "west", "--yes"]).assert().success();

    // A new keyed backend's key must reach APIM: that edit needs it, and writes nothing without.
    let before = env.config_text();
    let add = [
        "backends",
        "add",
        "north",
        "--url",
        "https://north.openai.azure.com",
        "--api-key-env",
        "OAI_LB_TEST_NORTH_KEY",
    ];
    let refused = env.cmd(&add).arg("--yes").assert().code(2);
    let err = stderr_of(&refused);
    assert!(err.starts_with("error: APIM needs the key of backend `north`"), "{err}");
    assert!(err.contains("export OAI_LB_TEST_NORTH_KEY") && err.lines().count() == 1, "{err}");
    assert_eq!(env.config_text(), before, "nothing written");
    env.cmd(&add).args(["--local-only", "--yes"]).assert().success();

    // serve sends the keys: it needs them.
    let serve = env.cmd(&["serve"]).assert().code(2);
    assert!(stderr_of(&serve).contains("export OAI_LB_TEST_KEYED_KEY"), "{}", stderr_of(&serve));
}

#[test]
fn init_writes_the_file_and_says_what_to_export() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::cargo_bin("oai-lb").unwrap();
    cmd.current_dir(dir.path()).env_clear().write_stdin("");
    let done =
        cmd.args(["init", "--backend", "k=https://k.openai.azure.com,key-env=OAI_LB_TEST_INIT_KEY"]).assert().success();
    let err = stderr_of(&done);
    assert!(err.contains("`export OAI_LB_TEST_INIT_KEY=...`") && err.contains("then `oai-lb serve`"), "{err}");
    let text = std::fs::read_to_string(dir.path().join("oai-lb.toml")).unwrap();
    assert!(text.contains("OAI_LB_TEST_INIT_KEY"), "{text}");
}

/// Each command that changes something, on a deployed stack: off a terminal it refuses
/// without `--yes` (exit 2, one line, nothing written), `--what-if` writes nothing, and
/// `-y` goes ahead.
#[test]
fn every_change_takes_what_if_and_yes() {
    let env = Env::deployed(APIM);
    let policy = format!("{}/apis/openai/policies/policy", apim::APIM);
    /// A command, and what to change behind its back first so it has something to do.
    type Case<'a> = (&'a [&'a str], &'a dyn Fn(&Env));
    let cases: &[Case<'_>] = &[
        (&["named-values", "set", "team", "platform"], &|_| {}),
        (&["named-values", "remove", "team"], &|_| {}),
        (&["backends", "add", "west", "--url", "https://west.openai.azure.com"], &|_| {}),
        (&["backends", "set", "west", "--priority", "3"], &|_| {}),
        (&["backends", "remove", "west"], &|_| {}),
        // policy push needs a deployed policy that differs.
        (&["policy", "push"], &|env: &Env| env.fake.edit(&policy, |p| p["properties"]["value"] = "<policies/>".into())),
        (&["deploy"], &|env: &Env| env.fake.remove(&format!("{}/namedValues/oai-lb-backends", apim::APIM))),
    ];
    for (args, drift) in cases {
        drift(&env);
        let (writes, config) = (env.fake.writes(), env.config_text());
        let refused = env.cmd(args).assert().code(2);
        let err = stderr_of(&refused);
        // The plan may come first (notes on stderr); the error is the one last line.
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: ") && last.contains("stdin is not a terminal (fix: pass --yes"),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().filter(|l| l.starts_with("error")).count(), 1, "{args:?}: {err}");
        env.cmd(args).arg("--what-if").assert().success();
        assert_eq!((env.fake.writes(), env.config_text()), (writes, config.clone()), "{args:?} wrote");
        env.cmd(args).arg("-y").assert().success();
        assert!(env.fake.writes() > writes, "{args:?} -y wrote nothing");
    }

    let (writes, ids) = (env.fake.writes(), env.fake.resource_ids().len());
    env.cmd(&["destroy"]).assert().code(2);
    env.cmd(&["destroy", "--what-if"]).assert().success();
    assert_eq!((env.fake.writes(), env.fake.resource_ids().len()), (writes, ids), "destroy wrote");
    env.cmd(&["destroy", "-y"]).assert().success();
    assert!(env.fake.resource(apim::APIM).is_none(), "destroy -y deleted APIM");

    let dir = tempfile::tempdir().unwrap();
    let init = ["init", "--force", "--backend", "a=https://a.openai.azure.com"];
    oai_lb(&dir, LOCAL).args(init).assert().code(2);
    oai_lb(&dir, LOCAL).args(init).arg("--what-if").assert().success();
    assert_eq!(std::fs::read_to_string(dir.path().join("oai-lb.toml")).unwrap(), LOCAL);
    let mut forced = Command::cargo_bin("oai-lb").unwrap();
    forced.current_dir(dir.path()).env_clear().write_stdin("").args(init).arg("-y").assert().success();
    assert!(std::fs::read_to_string(dir.path().join("oai-lb.toml")).unwrap().contains("a.openai.azure.com"));
}

/// A long-running command (`serve`, `simulate`) started with `--output json`: its one JSON
/// document, read as soon as it is complete.
struct Running {
    child: std::process::Child,
    doc: serde_json::Value,
}

impl Running {
    fn start(mut cmd: std::process::Command) -> Running {
        use std::io::BufRead;
        let mut child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut text = String::new();
        let doc = loop {
            let mut line = String::new();
            assert!(out.read_line(&mut line).unwrap() > 0, "stdout ended before a JSON document: {text}");
            text.push_str(&line);
            if let Ok(doc) = serde_json::from_str(&text) {
                break doc;
            }
        };
        child.stdout = Some(out.into_inner());
        Running { child, doc }
    }

    /// Stops it with SIGTERM (as a service manager would) and returns the rest of stdout
    /// and all of stderr.
    fn stop(mut self) -> (String, String) {
        use std::io::Read;
        // SAFETY: signals our own child, by its id.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(status.success() || status.code().is_none(), "{status:?}: {err}");
        (out, err)
    }
}

fn binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("oai-lb"));
    cmd.env_remove("OAI_LB_CONFIG").env_remove("OAI_LB_OUTPUT").env_remove("RUST_LOG");
    cmd
}

/// One plain HTTP/1.1 request; returns the status line.
fn http_post(url: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_string()
}

/// Every command that takes `--output json` prints exactly one JSON document on stdout,
/// `--what-if` and long-running servers included; prose stays on stderr.
#[test]
fn output_json_is_one_document_on_stdout_for_every_command() {
    // The local commands, in a folder with no config yet.
    let dir = tempfile::tempdir().unwrap();
    let local = |args: &[&str]| {
        let mut cmd = Command::cargo_bin("oai-lb").unwrap();
        cmd.current_dir(dir.path()).env_clear().env("COLUMNS", "100").write_stdin("").args(["--output", "json"]);
        let assert = cmd.args(args).assert();
        let what = args.join(" ");
        let code = assert.get_output().status.code();
        assert_eq!(code, Some(0), "{what}: {}", stderr_of(&assert));
        one_json(&what, &stdout_of(&assert))
    };
    let plan = local(&["init", "--what-if", "--backend", "east=https://east.openai.azure.com"]);
    assert_eq!(plan["what_if"], true);
    assert!(plan["text"].as_str().unwrap().contains("[[backends]]"));
    let written = local(&["init", "--backend", "east=https://east.openai.azure.com"]);
    assert_eq!(written["backends"], 1);
    local(&["backends", "list", "--local-only"]);
    let what_if = local(&["backends", "add", "west", "--url", "https://west.openai.azure.com", "--what-if"]);
    assert_eq!(what_if["what_if"], true);
    local(&["backends", "add", "west", "--url", "https://west.openai.azure.com", "--yes"]);
    local(&["backends", "set", "west", "--weight", "2", "--yes"]);
    local(&["backends", "remove", "west", "--yes"]);
    assert!(local(&["policy", "render"])["policy"].as_str().unwrap().starts_with("<policies>"));
    assert_eq!(local(&["policy", "render", "--out", "policy.xml"])["path"], "policy.xml");

    // `completions` prints a script: it refuses --output rather than ignore it.
    let mut completions = Command::cargo_bin("oai-lb").unwrap();
    let refused = completions.env_clear().args(["completions", "bash", "--output", "json"]).assert().code(2);
    assert_eq!(
        stderr_of(&refused),
        "error: --output: `completions` prints a shell script, never JSON (fix: drop the flag)\n"
    );
    assert!(stdout_of(&refused).is_empty());

    // The servers: a simulated backend, the balancer in front, a probe through it.
    let mut sim = binary();
    sim.args(["--output", "json", "simulate", "--backend", "east:0:60000:10000000"]);
    let sim = Running::start(sim);
    let sim_url = sim.doc[0]["url"].as_str().unwrap().to_string();
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, format!("[[backends]]\nname = \"east\"\nurl = \"{sim_url}\"\n")).unwrap();
    let mut serve = binary();
    serve.arg("--config").arg(&config).args(["--output", "json", "serve", "--listen", "localhost:0"]);
    let serve = Running::start(serve);
    let lb = serve.doc["listening"].as_str().unwrap().to_string();
    assert!(lb.starts_with("http://127.0.0.1:"), "localhost resolves to loopback: {lb}");
    let chat = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    let status = http_post(&lb, chat, r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}"#);
    assert!(status.contains(" 200 "), "{status}");
    let mut probe = Command::cargo_bin("oai-lb").unwrap();
    let probed = probe
        .env_clear()
        .args(["--output", "json", "probe", "--target", &lb, "--duration", "1s", "--rps", "5"])
        .assert()
        .success();
    assert!(one_json("probe", &stdout_of(&probed))["requests"].as_u64().unwrap() > 0);
    let (rest, logs) = serve.stop();
    assert!(rest.trim().is_empty(), "serve printed more than one document: {rest}");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["target"] == "oai_lb::access"), "an access line, as JSON: {logs}");
    let (rest, _) = sim.stop();
    assert!(rest.trim().is_empty(), "simulate printed more than one document: {rest}");
    let mut demo = Command::cargo_bin("oai-lb").unwrap();
    let shown = demo.env_clear().args(["--output", "json", "demo", "--duration", "1s"]).assert().success();
    one_json("demo", &stdout_of(&shown));

    // The Azure commands, against the fake ARM.
    let env = Env::new(APIM);
    let azure = |args: &[&str], code: i32| {
        let assert = env.cmd(&[&["--output", "json"], args].concat()).assert();
        let what = args.join(" ");
        assert_eq!(assert.get_output().status.code(), Some(code), "{what}: {}", stderr_of(&assert));
        one_json(&what, &stdout_of(&assert))
    };
    assert_eq!(azure(&["deploy", "--what-if"], 0)["applied"], false);
    assert_eq!(azure(&["deploy", "--yes"], 0)["applied"], true);
    azure(&["status"], 0);
    azure(&["backends", "list"], 0);
    azure(&["backends", "add", "west", "--url", "https://west.openai.azure.com", "--what-if"], 0);
    azure(&["backends", "add", "west", "--url", "https://west.openai.azure.com", "--yes"], 0);
    azure(&["backends", "set", "west", "--priority", "2", "--yes"], 0);
    azure(&["backends", "remove", "west", "--yes"], 0);
    assert_eq!(azure(&["named-values", "set", "team", "platform", "--what-if"], 0)["what_if"], true);
    azure(&["named-values", "set", "team", "platform", "--yes"], 0);
    azure(&["named-values", "list"], 0);
    assert_eq!(azure(&["named-values", "remove", "team", "--what-if"], 0)["what_if"], true);
    assert_eq!(azure(&["named-values", "remove", "team", "--yes"], 0)["what_if"], false);
    azure(&["policy", "show"], 0);
    azure(&["policy", "diff"], 0);
    azure(&["policy", "push", "--what-if"], 0);
    let policy = format!("{}/apis/openai/policies/policy", apim::APIM);
    env.fake.edit(&policy, |p| p["properties"]["value"] = "<policies/>".into());
    assert_eq!(azure(&["policy", "diff"], 3)["drift"], true);
    assert_eq!(azure(&["policy", "push", "--what-if"], 0)["pushed"], false);
    assert_eq!(azure(&["policy", "push", "--yes"], 0)["pushed"], true);
    let plan = azure(&["destroy", "--what-if"], 0);
    assert_eq!((plan["what_if"].clone(), plan["deleted"].clone()), (true.into(), false.into()));
    assert_eq!(azure(&["destroy", "--yes"], 0)["deleted"], true);
}

/// An error names what the user typed: the flag, not the config key it becomes; a negative
/// number is our one line too; `init` without backends points at the real next step.
#[test]
fn errors_speak_the_language_of_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let add = ["backends", "add", "west", "--url", "https://west.openai.azure.com", "--yes"];
    for (flag, value) in [("--priority", "0"), ("--priority", "-1"), ("--weight", "101")] {
        let refused = oai_lb(&dir, LOCAL).args(add).args([flag, value]).assert().code(2);
        let err = stderr_of(&refused);
        assert_eq!(
            err,
            format!(
                "error: {flag}: must be from 1 to 100, not {value} (fix: 1 is the most preferred; 1 is also the default)\n"
            )
        );
        assert_eq!(std::fs::read_to_string(dir.path().join("oai-lb.toml")).unwrap(), LOCAL);
    }
    let refused = oai_lb(&dir, LOCAL).args(["backends", "set", "east", "--priority", "-3", "--yes"]).assert().code(2);
    assert!(
        stderr_of(&refused).starts_with("error: --priority: must be from 1 to 100, not -3"),
        "{}",
        stderr_of(&refused)
    );
    let refused =
        oai_lb(&dir, LOCAL).args(["backends", "add", "w", "--url", "http://example.com", "--yes"]).assert().code(2);
    let err = stderr_of(&refused);
    assert!(
        err.starts_with("error: --url: ") && err.contains("(fix: use https://HOST") && err.lines().count() == 1,
        "{err}"
    );

    // --priority defaults to 1.
    oai_lb(&dir, LOCAL).args(add).assert().success();
    let config = std::fs::read_to_string(dir.path().join("oai-lb.toml")).unwrap();
    let west = &config[config.find("\"west\"").unwrap()..];
    assert!(west.contains("priority = 1"), "{config}");

    let refused = oai_lb(&dir, LOCAL).args(["serve", "--listen", "nowhere.invalid:8080"]).assert().code(2);
    let err = stderr_of(&refused);
    assert!(err.starts_with("error: --listen: cannot resolve `nowhere.invalid:8080`") && err.contains("fix:"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let mut init = Command::cargo_bin("oai-lb").unwrap();
    let done = init.current_dir(empty.path()).env_clear().write_stdin("").arg("init").assert().success();
    let err = stderr_of(&done);
    assert!(err.contains("next: add a backend with `oai-lb backends add NAME --url"), "{err}");
    assert!(!err.contains("next: `oai-lb serve`"), "{err}");
    let fresh = tempfile::tempdir().unwrap();
    let json = Command::cargo_bin("oai-lb")
        .unwrap()
        .current_dir(fresh.path())
        .env_clear()
        .args(["--output", "json", "init", "--what-if"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let _ = one_json("init --what-if", &String::from_utf8(json).unwrap());
}

/// The README's CI step reads `.endpoint` and `.subscription_key` from
/// `deploy --yes --show-secrets --output json`: both are there on the first run (changes
/// applied) and on a re-run (nothing to do).
#[test]
fn the_readme_ci_snippet_finds_its_json_paths() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("### In a CI/CD pipeline").expect("the CI section");
    let snippet = &readme[start..start + readme[start..].find("```\n\n").unwrap()];
    let deploy = snippet.lines().find(|l| l.trim_start().starts_with("oai-lb deploy")).unwrap();
    let args: Vec<&str> = deploy.split('>').next().unwrap().split_whitespace().skip(1).collect();
    let paths: Vec<&str> =
        snippet.split("jq -r ").skip(1).map(|rest| rest.split_whitespace().next().unwrap()).collect();
    assert!(paths.contains(&".endpoint") && paths.contains(&".subscription_key"), "{paths:?}");
    assert!(snippet.contains("export APIM_KEY=") && snippet.contains("--api-key-env APIM_KEY"), "{snippet}");

    let env = Env::new(APIM);
    for run in ["first", "again"] {
        let out = env.cmd(&args).assert().success();
        let doc = one_json(run, &stdout_of(&out));
        for path in &paths {
            let value = doc.pointer(&path.replace('.', "/")).and_then(|v| v.as_str());
            assert!(value.is_some_and(|v| !v.is_empty()), "{run}: {path} in {doc}");
        }
    }
    env.cmd(&["status", "--check"]).assert().success();
}

/// Help reads well: every flag and argument says what it is, `--credential` is `<KIND>`
/// everywhere, no flag filled from the environment shows as required in a usage line, and
/// `completions` lists no global flag (it ignores them).
#[test]
fn every_flag_has_help_and_one_value_name() {
    fn walk(cmd: &clap::Command, path: &str, problems: &mut Vec<String>) {
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let id = format!("{path} {}", arg.get_id());
            let help = arg.get_help().or(arg.get_long_help()).map(|h| h.to_string()).unwrap_or_default();
            if help.trim().is_empty() {
                problems.push(format!("{id}: no help"));
            }
            if arg.get_id() == "credential" && arg.get_value_names().map(|v| v.to_vec()) != Some(vec!["KIND".into()]) {
                problems.push(format!("{id}: --credential is <KIND> everywhere"));
            }
            if arg.get_env().is_some() && arg.is_required_set() {
                problems.push(format!("{id}: filled from the environment, so not required"));
            }
            if path.ends_with("completions") && arg.is_global_set() {
                problems.push(format!("{id}: completions ignores global flags"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), problems);
        }
    }
    let mut command = oai_lb::cli::command();
    command.build();
    let mut problems = Vec::new();
    walk(&command, "oai-lb", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
