//! `oai-lb serve` as a user runs it: the binary, its exit codes and its messages.

use assert_cmd::Command;

fn oai_lb() -> Command {
    Command::cargo_bin("oai-lb").unwrap()
}

#[test]
fn a_bad_config_exits_2_with_one_line_naming_file_key_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oai-lb.toml");
    std::fs::write(&path, "[[backends]]\nname = \"a\"\nurl = \"https://a.example\"\npriority = 0\n").unwrap();
    let out = oai_lb().args(["serve", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("oai-lb.toml: backends[0].priority: must be from 1 to 100, not 0 (fix:"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn malformed_toml_and_a_missing_file_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oai-lb.toml");
    std::fs::write(&path, "[balancer\nlisten = 1").unwrap();
    let out = oai_lb().args(["serve", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));

    let out = oai_lb().args(["serve", "--config"]).arg(dir.path().join("absent.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oai-lb init"));
}

#[test]
fn a_public_listen_address_without_keys_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oai-lb.toml");
    std::fs::write(&path, "[[backends]]\nname = \"a\"\nurl = \"https://a.example\"\n").unwrap();
    let out = oai_lb().args(["serve", "--listen", "0.0.0.0:0", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-unauthenticated"));
}
