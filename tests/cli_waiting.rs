//! What a user sees while a command waits on ARM, and when they stop it: retries are
//! shown (one line per retry off a terminal), a refused connection fails within seconds
//! with the endpoint and the fix, `backends list` falls back to the local list, Ctrl-C in
//! `deploy` says what was written and how to resume.

mod apim;
mod fake_arm;

use std::time::{Duration, Instant};

use apim::{Env, stderr, stdout};
use fake_arm::Options;

const CONFIG: &str = apim::TWO_ENTRA_BACKENDS;

/// An `Env` whose ARM endpoint refuses connections (nothing listens on the port), with the
/// default retry timing (no `OAI_LB_ARM_RETRY_BASE_MS`): what a user meets.
fn unreachable(env: &Env, args: &[&str]) -> (assert_cmd::Command, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut cmd = env.cmd(args);
    cmd.env("OAI_LB_ARM_ENDPOINT", &endpoint).env_remove("OAI_LB_ARM_RETRY_BASE_MS");
    (cmd, endpoint)
}

#[test]
fn a_refused_arm_is_retried_visibly_and_given_up_within_seconds() {
    let env = Env::new(CONFIG);
    let (mut cmd, endpoint) = unreachable(&env, &["status"]);
    let started = Instant::now();
    let out = cmd.assert().code(1).get_output().clone();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "gave up after {took:?}");
    assert!(took >= Duration::from_millis(2400), "two quick retries (0.8 s, 1.6 s) first: {took:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            "ARM unreachable (connection refused), retry 1/2 in 800 ms…".to_string(),
            "ARM unreachable (connection refused), retry 2/2 in 1.6 s…".to_string(),
            format!(
                "error: resource group rg-oai-lb: cannot reach ARM at {endpoint}: connection refused (3 attempts) (fix: check the network, any proxy, and the ARM endpoint: --arm-endpoint / OAI_LB_ARM_ENDPOINT)"
            ),
        ],
        "{err}"
    );
    // -q hides the retries, not the error.
    let (mut cmd, _) = unreachable(&env, &["-q", "status"]);
    let err = stderr(cmd.assert().code(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn backends_list_without_arm_lists_the_config_and_says_the_deployed_state_is_unavailable() {
    let env = Env::new(CONFIG);
    let (mut cmd, endpoint) = unreachable(&env, &["--output", "json", "backends", "list"]);
    let out = cmd.assert().code(0).get_output().clone();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows: Vec<(&str, u64, &str)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["priority"].as_u64().unwrap(), r["deployed"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [("east", 1, "unavailable"), ("west", 2, "unavailable")]);
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("warning: the deployed state is unavailable: ")
            && last.contains(&format!("cannot reach ARM at {endpoint}: connection refused"))
            && last.ends_with("; listing oai-lb.toml only"),
        "{err}"
    );

    let (mut cmd, _) = unreachable(&env, &["backends", "list"]);
    let table = stdout(cmd.assert().code(0));
    let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "PRIORITY", "WEIGHT", "AUTH", "DEPLOYMENTS", "URL", "DEPLOYED"]);
    assert_eq!(lines[1], ["east", "1", "1", "entra", "all", "https://east.openai.azure.com", "unavailable"]);
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_deploy_says_what_was_written_and_that_a_rerun_resumes() {
    // Every long-running write stays `InProgress` for a long while (2000 polls, 10 ms
    // apart): the deploy is still running when it is interrupted.
    let env = Env::new(CONFIG);
    env.fake.set_options(|o| *o = Options { lro_polls: 2000, ..Options::default() });
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("oai-lb"));
    cmd.arg("--config")
        .arg(&env.config)
        .args(["deploy", "--yes"])
        .env("OAI_LB_ARM_ENDPOINT", &env.fake.url)
        .env("OAI_LB_CREDENTIAL", "cli")
        .env("PATH", fake_arm::path_with_fake_az())
        .env("OAI_LB_ARM_POLL_MS", "10")
        .env("OAI_LB_ARM_RETRY_BASE_MS", "5")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Wait until the resource group is written and the next writes have started.
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.fake.writes() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let last = err.lines().last().unwrap();
    assert!(last.starts_with("error: interrupted: "), "{err}");
    assert!(last.contains(" resource(s) written so far (resource group rg-oai-lb"), "{err}");
    assert!(last.contains("write(s) were under way and may still finish in Azure ("), "{err}");
    assert!(
        last.ends_with(
            "(fix: run `oai-lb deploy` again to resume: it reads what exists and writes only what is missing)"
        ),
        "{err}"
    );

    // Azure finishes what was under way; the re-run resumes: what was written is not
    // written again.
    env.fake.finish_operations();
    env.fake.set_options(|o| o.lro_polls = 1);
    let before = env.fake.writes();
    let rerun = stdout(env.cmd(&["deploy", "--yes"]).assert().success());
    assert!(rerun.contains("Deployed: "), "{rerun}");
    let group_puts = env.fake.requests()[before..]
        .iter()
        .filter(|r| r.is_write() && r.path.ends_with("/resourceGroups/rg-oai-lb"))
        .count();
    assert_eq!(group_puts, 0, "the resource group was written before the interrupt");
}
