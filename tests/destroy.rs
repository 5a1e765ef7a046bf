//! `oai-lb destroy` against the fake ARM: what it deletes, in which order, and when it asks.

mod fake_arm;

use std::path::PathBuf;

use assert_cmd::Command;
use fake_arm::{FakeArm, Options};

const CONFIG: &str = r#"
[azure]
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-oai-lb"
location = "eastus"

[apim]
name = "apim-oai-lb"
publisher_email = "ops@example.com"
publisher_name = "Contoso"

[[openai]]
name = "contoso-east"
location = "eastus"
deployments = [{ name = "gpt-4o", model = "gpt-4o", version = "2024-11-20" }]
"#;

struct Env {
    fake: FakeArm,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn deployed() -> Env {
        let fake = FakeArm::start(Options::default());
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("oai-lb.toml");
        std::fs::write(&config, CONFIG).unwrap();
        let env = Env { fake, _dir: dir, config };
        env.cmd(&["deploy", "--yes"]).assert().success();
        assert!(!env.fake.resource_ids().is_empty());
        env
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("oai-lb").unwrap();
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("OAI_LB_ARM_ENDPOINT", &self.fake.url)
            .env("OAI_LB_CREDENTIAL", "cli")
            .env("PATH", fake_arm::path_with_fake_az())
            .env("OAI_LB_ARM_POLL_MS", "5")
            .env("OAI_LB_ARM_RETRY_BASE_MS", "5")
            .write_stdin("")
            .timeout(std::time::Duration::from_secs(60));
        cmd
    }

    /// The paths of the DELETEs the fake received, in order.
    fn deletes(&self) -> Vec<String> {
        self.fake.requests().into_iter().filter(|r| r.method == "DELETE").map(|r| r.path).collect()
    }
}

#[test]
fn refuses_without_yes_when_not_on_a_terminal() {
    let env = Env::deployed();
    let out = env.cmd(&["destroy"]).assert().code(2).get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&out).contains("--yes"));
    assert!(env.deletes().is_empty());
}

#[test]
fn what_if_lists_and_deletes_nothing() {
    let env = Env::deployed();
    let out = env.cmd(&["destroy", "--what-if"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("APIM service apim-oai-lb") && out.contains("resource group"), "{out}");
    assert!(env.deletes().is_empty());
}

#[test]
fn deletes_everything_in_reverse_dependency_order() {
    let env = Env::deployed();
    env.cmd(&["destroy", "--yes", "--purge"]).assert().success();
    let deletes = env.deletes();
    let position = |needle: &str| {
        deletes.iter().position(|p| p.contains(needle)).unwrap_or_else(|| panic!("no DELETE of {needle}: {deletes:?}"))
    };
    assert!(position("/service/apim-oai-lb") < position("/userAssignedIdentities/"), "APIM runs as the identity");
    assert!(position("/accounts/contoso-east") < position("/deletedAccounts/contoso-east"), "purge after delete");
    assert_eq!(
        deletes.iter().rfind(|p| !p.contains("/deletedAccounts/")).map(String::as_str),
        Some("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-oai-lb")
    );
    assert!(env.fake.resource_ids().is_empty(), "left behind: {:?}", env.fake.resource_ids());
    // Run again: nothing left to delete.
    env.cmd(&["destroy", "--yes"]).assert().success();
}

#[test]
fn keep_openai_keeps_the_accounts_and_the_group() {
    let env = Env::deployed();
    env.cmd(&["destroy", "--yes", "--keep-openai"]).assert().success();
    let ids = env.fake.resource_ids();
    assert!(ids.iter().any(|id| id.ends_with("/accounts/contoso-east")), "{ids:?}");
    assert!(ids.iter().any(|id| id.ends_with("/deployments/gpt-4o")), "{ids:?}");
    assert!(
        !ids.iter().any(|id| id.contains("Microsoft.ApiManagement") || id.contains("userAssignedIdentities")),
        "{ids:?}"
    );
}
