//! A config file and the `oai-lb` binary pointed at a fresh fake ARM (with the fake `az`
//! for credentials), shared by the tests of the commands that work on APIM.
#![allow(dead_code)]

use std::path::PathBuf;

use assert_cmd::Command;

use super::fake_arm::{self, FakeArm, Options};

/// The `[azure]` and `[apim]` tables every APIM test config starts with, as a literal so
/// configs can be built with `concat!(azure_apim!(), "...")`.
#[macro_export]
macro_rules! azure_apim {
    () => {
        r#"[azure]
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-oai-lb"
location = "eastus"

[apim]
name = "apim-oai-lb"
publisher_email = "ops@example.com"
publisher_name = "Contoso"
"#
    };
}

/// A config with two Entra backends, priority 1 (`east`) and priority 2 (`west`).
pub const TWO_ENTRA_BACKENDS: &str = concat!(
    azure_apim!(),
    r#"
[[backends]]
name = "east"
url = "https://east.openai.azure.com"
priority = 1
auth = "entra"

[[backends]]
name = "west"
url = "https://west.openai.azure.com"
priority = 2
auth = "entra"
"#
);

/// The APIM service id of the configs below.
pub const APIM: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-oai-lb/providers/Microsoft.ApiManagement/service/apim-oai-lb";

pub struct Env {
    pub fake: FakeArm,
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Env {
    pub fn new(config: &str) -> Env {
        let fake = FakeArm::start(Options::default());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oai-lb.toml");
        std::fs::write(&path, config).unwrap();
        Env { fake, config: path, _dir: dir }
    }

    /// A fake ARM on which `oai-lb deploy --yes` has run.
    pub fn deployed(config: &str) -> Env {
        let env = Env::new(config);
        env.cmd(&["deploy", "--yes"]).assert().success();
        env
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
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

    pub fn config_text(&self) -> String {
        std::fs::read_to_string(&self.config).unwrap()
    }
}

pub fn stdout(assert: assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

pub fn stderr(assert: assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}
