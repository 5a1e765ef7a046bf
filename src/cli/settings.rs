//! One resolved settings value per command: the config file (read here and only here),
//! the flags and the `OAI_LB_*` variables, merged before the command runs. A command names
//! the environment variables it uses ([`EnvUse`]); no other is checked.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{Error, GlobalArgs};
use crate::azure::{BackendKeys, Stack, Tuning};
use crate::config::{BackendAuth, Config, EnvUse};

/// The config of one command, loaded and checked for what the command uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub path: PathBuf,
    pub config: Config,
}

impl Settings {
    /// Reads `--config` (the one `Config::load` of the program) and checks the environment
    /// variables `uses` names.
    pub fn load(global: &GlobalArgs, uses: EnvUse) -> Result<Settings, Error> {
        let config = Config::load(&global.config)?;
        config.check_env(&global.config, uses)?;
        Ok(Settings { path: global.config.clone(), config })
    }

    /// `--listen` / `OAI_LB_LISTEN` over `balancer.listen`: the address `serve` binds.
    pub fn with_listen(mut self, flag: Option<SocketAddr>) -> Settings {
        if let Some(addr) = flag {
            self.config.balancer.listen = addr.to_string();
        }
        self
    }

    /// True when the config has `[azure]` and `[apim]`, so APIM can be asked.
    pub fn has_apim(&self) -> bool {
        self.config.azure.is_some() && self.config.apim.is_some()
    }

    /// The stack of the config, for commands that work on the deployed APIM.
    pub fn stack(&self) -> Result<Stack, Error> {
        if !self.has_apim() {
            return Err(Error::usage(format!(
                "{}: this command works on the deployed APIM, which needs the [azure] and [apim] sections (fix: add them, see `oai-lb init`)",
                self.path.display()
            )));
        }
        Ok(Stack::new(&self.config, &backend_keys(&self.config))?)
    }
}

impl Settings {
    /// A key is read only where APIM gets it: `writes(name)` says whether the command writes
    /// the named value `name`; an `api-key` backend whose key named value is written needs
    /// its variable set. No other key is required. `other_fix` ends the fix (`, or …`).
    pub fn check_uploaded_keys(&self, writes: impl Fn(&str) -> bool, other_fix: &str) -> Result<(), Error> {
        for (backend, var) in self.config.unset_backend_keys() {
            if writes(&crate::names::backend_key_named_value(backend)) {
                return Err(Error::usage(format!(
                    "APIM needs the key of backend `{backend}`, and environment variable {var} is not set"
                ))
                .fix(format!("export {var}=...{other_fix}")));
            }
        }
        Ok(())
    }
}

/// The api-keys of the config's `api-key` backends whose variables are set (and, with
/// `[balancer.azure]`, the client keys). The stack neither compares nor writes an unset
/// one; a command that would upload it refuses first ([`Settings::check_uploaded_keys`],
/// and `check_deploy_env` for the client keys).
fn backend_keys(config: &Config) -> BackendKeys {
    let set = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    let keys = BackendKeys::new(config.backends.iter().filter(|b| b.auth == BackendAuth::ApiKey).filter_map(|b| {
        let key = set(b.api_key_env.as_deref()?)?;
        Some((b.name.clone(), key))
    }));
    let client_keys = config.balancer.azure.as_ref().and(config.balancer.client_keys_env.as_deref()).and_then(set);
    keys.with_client_keys(client_keys)
}

/// The ARM timing knobs, from `OAI_LB_ARM_POLL_MS`, `OAI_LB_ARM_RETRY_BASE_MS`,
/// `OAI_LB_ARM_RETRY_MAX_MS` and `OAI_LB_ARM_PRINCIPAL_WAIT_MS` (see `deploy --help`).
pub fn arm_tuning() -> Tuning {
    let ms = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse().ok());
    Tuning {
        poll_ms: ms("OAI_LB_ARM_POLL_MS"),
        retry_base_ms: ms("OAI_LB_ARM_RETRY_BASE_MS"),
        retry_max_ms: ms("OAI_LB_ARM_RETRY_MAX_MS"),
        principal_wait_ms: ms("OAI_LB_ARM_PRINCIPAL_WAIT_MS"),
    }
}
