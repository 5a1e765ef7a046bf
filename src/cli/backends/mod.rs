//! `oai-lb backends add | list | set | remove`: edits the `[[backends]]` of oai-lb.toml in
//! place (`config::edit`: comments and layout kept, validated, replaced atomically).
//!
//! When the config has `[azure]` and `[apim]`, an edit then converges APIM
//! (`azure::backends`: the backend resources, the named values, the pool and the policy, and
//! a removed backend's resources), unless `--local-only`. Like every mutating command, an
//! edit (local or not) shows its plan and needs `--yes` off a terminal; `--what-if` writes
//! nothing.

mod apply;
mod list;

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::azure::{ApplyArgs, AzureArgs};
use super::values;
use super::{Error, GlobalArgs, Printer};
use crate::config::edit::{self, BackendChange};
use crate::config::{BackendAuth, BackendConfig};
use apply::apply;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: BackendsCommand,
}

#[derive(Debug, Subcommand)]
pub enum BackendsCommand {
    /// Add a backend to oai-lb.toml.
    Add(AddArgs),
    /// List the configured backends (table, or JSON with --output json), with their deployed
    /// state when the config has [azure] and [apim].
    List(ListArgs),
    /// Change a backend's priority, weight or URL.
    Set(SetArgs),
    /// Remove a backend from oai-lb.toml.
    Remove(RemoveArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// A unique name: letters, digits, '-', '_' or '.'.
    pub name: String,
    /// The endpoint, e.g. https://contoso-eastus.openai.azure.com.
    #[arg(long, value_parser = values::backend_url)]
    pub url: String,
    /// 1 to 100; 1 is the most preferred, higher numbers are used while lower ones are
    /// throttled.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = values::rank, allow_negative_numbers = true)]
    pub priority: u32,
    /// 1 to 100: share of traffic among backends of the same priority.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = values::rank, allow_negative_numbers = true)]
    pub weight: u32,
    /// How the balancer authenticates to it (api-key when --api-key-env is given, else none).
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    /// The environment variable holding its key (never the key itself).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// A deployment it serves (repeatable); without any it serves all.
    #[arg(long = "deployment", value_name = "NAME")]
    pub deployments: Vec<String>,
    #[command(flatten)]
    pub sync: SyncArgs,
}

/// How an edit reaches APIM.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Edit oai-lb.toml only and leave APIM as it is.
    #[arg(long)]
    pub local_only: bool,
    #[command(flatten)]
    pub apply: ApplyArgs,
    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Read oai-lb.toml only; do not ask Azure for the deployed state.
    #[arg(long)]
    pub local_only: bool,
    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// The backend to change.
    pub name: String,
    /// New priority, 1 to 100 (1 is the most preferred).
    #[arg(long, value_name = "N", value_parser = values::rank, allow_negative_numbers = true)]
    pub priority: Option<u32>,
    /// New weight, 1 to 100 (share among backends of the same priority).
    #[arg(long, value_name = "N", value_parser = values::rank, allow_negative_numbers = true)]
    pub weight: Option<u32>,
    /// New endpoint URL.
    #[arg(long, value_parser = values::backend_url)]
    pub url: Option<String>,
    #[command(flatten)]
    pub sync: SyncArgs,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The backend to remove.
    pub name: String,
    #[command(flatten)]
    pub sync: SyncArgs,
}

/// `--auth`, as the config spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// The `api-key` header, from the variable named by --api-key-env.
    ApiKey,
    /// An Entra ID token (the balancer's credential, or APIM's managed identity).
    Entra,
    /// Pass the client's own credentials through.
    None,
}

impl From<AuthArg> for BackendAuth {
    fn from(a: AuthArg) -> Self {
        match a {
            AuthArg::ApiKey => BackendAuth::ApiKey,
            AuthArg::Entra => BackendAuth::Entra,
            AuthArg::None => BackendAuth::None,
        }
    }
}

pub fn run(global: &GlobalArgs, args: Args, printer: &Printer) -> Result<ExitCode, Error> {
    let path = global.config.as_path();
    match args.command {
        BackendsCommand::List(args) => list::run(global, &args, printer),
        BackendsCommand::Add(add) => {
            let auth = add.auth.map(BackendAuth::from).unwrap_or(if add.api_key_env.is_some() {
                BackendAuth::ApiKey
            } else {
                BackendAuth::None
            });
            let backend = BackendConfig {
                name: add.name,
                url: add.url,
                priority: add.priority,
                weight: add.weight,
                auth,
                api_key_env: add.api_key_env,
                deployments: add.deployments,
            };
            let edited = edit::edit(path, |p, doc| edit::add_backend(p, doc, &backend))?;
            apply(global, edited, ("add", format!("added backend `{}`", backend.name)), None, &add.sync, printer)
        }
        BackendsCommand::Set(set) => {
            let change = BackendChange { priority: set.priority, weight: set.weight, url: set.url };
            if change.priority.is_none() && change.weight.is_none() && change.url.is_none() {
                return Err(Error::usage("nothing to change").fix("pass --priority, --weight or --url"));
            }
            let edited = edit::edit(path, |p, doc| edit::set_backend(p, doc, &set.name, &change))?;
            apply(global, edited, ("set", format!("updated backend `{}`", set.name)), None, &set.sync, printer)
        }
        BackendsCommand::Remove(remove) => {
            let edited = edit::edit(path, |p, doc| edit::remove_backend(p, doc, &remove.name))?;
            let what = ("remove", format!("removed backend `{}`", remove.name));
            apply(global, edited, what, Some(&remove.name), &remove.sync, printer)
        }
    }
}
