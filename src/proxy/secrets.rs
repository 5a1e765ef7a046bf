//! Where the proxy gets the secrets the config names (backend keys, client keys, the Redis
//! password): a resolver handed in by whoever starts the server, asked again on every
//! reload. The default resolver reads the environment; embedders and tests pass their own.

use std::fmt;
use std::sync::Arc;

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Looks up a secret by the name the config gives it (an environment variable name).
#[derive(Clone)]
pub struct Secrets(Arc<Lookup>);

impl Secrets {
    /// Secrets from the process environment.
    pub fn from_env() -> Self {
        Secrets(Arc::new(|name| std::env::var(name).ok()))
    }

    /// Secrets from a function (tests, embedders with a vault).
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Secrets(Arc::new(lookup))
    }

    /// The secret called `name`, if it is set.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }
}

impl Default for Secrets {
    fn default() -> Self {
        Secrets::from_env()
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets(..)")
    }
}
