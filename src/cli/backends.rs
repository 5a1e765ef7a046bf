//! `oai-lb backends add | list | set | remove`: edits the `[[backends]]` of oai-lb.toml in
//! place, keeping its comments and layout (toml_edit). Every edit is validated as a whole
//! config before the file is replaced, so a bad edit leaves the file as it was.
//!
//! When the config has `[azure]` and `[apim]`, an edit then converges APIM: the backend
//! resources, the named values, the pool and the policy (and deletes a removed backend's
//! resources), unless `--local-only`. `--what-if` shows both and writes nothing.

use std::path::Path;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde::Serialize;
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use super::azure::{self, AzureArgs};
use super::{Error, GlobalArgs, Printer};
use crate::arm::ArmClient;
use crate::azure::{Action, Event, Kind, Plan, Stack};
use crate::config::{BackendAuth, BackendConfig, Config};
use crate::policy;

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
    #[arg(long)]
    pub url: String,
    /// 1 is the most preferred; higher numbers are used while lower ones are throttled.
    #[arg(long)]
    pub priority: u32,
    /// Share of traffic among backends of the same priority.
    #[arg(long, default_value_t = 1)]
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
    /// Show what would change in oai-lb.toml and APIM, and write nothing.
    #[arg(long)]
    pub what_if: bool,
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
    pub name: String,
    #[arg(long)]
    pub priority: Option<u32>,
    #[arg(long)]
    pub weight: Option<u32>,
    #[arg(long)]
    pub url: Option<String>,
    #[command(flatten)]
    pub sync: SyncArgs,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
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
        BackendsCommand::List(args) => list(path, &args, printer),
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
            let edited = edit(path, |doc| add_backend(doc, &backend))?;
            apply(path, edited, &format!("added backend `{}`", backend.name), None, &add.sync, printer)
        }
        BackendsCommand::Set(set) => {
            if set.priority.is_none() && set.weight.is_none() && set.url.is_none() {
                return Err(Error::usage("nothing to change (fix: pass --priority, --weight or --url)"));
            }
            let edited = edit(path, |doc| set_backend(doc, &set))?;
            apply(path, edited, &format!("updated backend `{}`", set.name), None, &set.sync, printer)
        }
        BackendsCommand::Remove(remove) => {
            let edited = edit(path, |doc| remove_backend(doc, &remove.name))?;
            let what = format!("removed backend `{}`", remove.name);
            apply(path, edited, &what, Some(&remove.name), &remove.sync, printer)
        }
    }
}

/// Writes the edited config and converges APIM to it, unless `--local-only`, `--what-if`
/// (which writes nothing) or a config without `[azure]`/`[apim]`.
fn apply(
    path: &Path,
    edited: Edited,
    what: &str,
    removed: Option<&str>,
    sync: &SyncArgs,
    printer: &Printer,
) -> Result<ExitCode, Error> {
    let deployed = !sync.local_only && edited.config.azure.is_some() && edited.config.apim.is_some();
    let apim = if deployed {
        let stack = azure::stack(path, &edited.config)?;
        let client = sync.azure.client()?;
        // Plan before writing the file: a config that cannot be planned is not written.
        let plan = super::runtime()?.block_on(ApimChange::plan(&client, &stack, removed))?;
        Some((client, plan))
    } else {
        None
    };
    if sync.what_if {
        let changes = apim.as_ref().map(|(_, plan)| plan.labels()).unwrap_or_default();
        if printer.json() {
            printer.print_json(&serde_json::json!({"what_if": true, "config": what, "apim": changes}))?;
        } else {
            printer.line(format!("What-if: would have {what} in {}.", path.display()))?;
            for label in &changes {
                printer.line(format!("  APIM: would write {label}"))?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    write_atomically(path, &edited.text)?;
    let Some((client, plan)) = apim else {
        printer
            .note(format!("{what} in {}; APIM is left as it is (run `oai-lb deploy` to update it).", path.display()));
        return report(printer, what, &[]);
    };
    let labels = plan.labels();
    super::runtime()?.block_on(plan.apply(&client, printer)).map_err(|e| {
        Error::failure(format!(
            "{what} in {}, but APIM was not fully updated: {e} (fix: run `oai-lb deploy`)",
            path.display()
        ))
    })?;
    printer.note(format!("{what} in {}; APIM: {} change(s) applied.", path.display(), labels.len()));
    report(printer, what, &labels)
}

fn report(printer: &Printer, what: &str, apim: &[String]) -> Result<ExitCode, Error> {
    if printer.json() {
        printer.print_json(&serde_json::json!({"what_if": false, "config": what, "apim": apim}))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What a backend edit changes in APIM: the backend resources, the named values, the pool
/// and the policy (nothing else of the stack), plus the resources of a removed backend.
struct ApimChange {
    plan: Plan,
    deletions: Vec<(String, &'static str, String)>,
}

impl ApimChange {
    async fn plan(client: &ArmClient, stack: &Stack, removed: Option<&str>) -> Result<ApimChange, Error> {
        let mut plan = crate::azure::plan(client, stack.clone()).await.map_err(azure::azure_error)?;
        if plan.changes.iter().any(|c| c.resource.kind == Kind::Apim && c.current.is_none()) {
            return Err(Error::usage(
                "APIM is not deployed yet (fix: run `oai-lb deploy` first, or pass --local-only to edit the file only)",
            ));
        }
        for change in &mut plan.changes {
            if !matches!(change.resource.kind, Kind::NamedValue | Kind::Backend | Kind::ApiPolicy) {
                change.action = Action::Unchanged;
            }
        }
        let mut deletions = Vec::new();
        if let Some(name) = removed {
            let apim = stack.apim_id();
            let candidates = [
                (format!("{apim}/backends/{name}"), Kind::Backend, format!("backend {name}")),
                (
                    format!("{apim}/namedValues/{}", policy::backend_key_named_value(name)),
                    Kind::NamedValue,
                    format!("named value {}", policy::backend_key_named_value(name)),
                ),
            ];
            for (id, kind, label) in candidates {
                let exists =
                    client.get_optional(&id, kind.api_version()).await.map_err(|e| Error::failure(e.to_string()))?;
                if exists.is_some() {
                    deletions.push((id, kind.api_version(), label));
                }
            }
        }
        Ok(ApimChange { plan, deletions })
    }

    fn labels(&self) -> Vec<String> {
        let writes =
            self.plan.changes.iter().filter(|c| c.action != Action::Unchanged).map(|c| c.resource.label.clone());
        writes.chain(self.deletions.iter().map(|(_, _, label)| format!("delete {label}"))).collect()
    }

    /// Converges first (so the pool and the policy stop naming a removed backend), then
    /// deletes what was removed.
    async fn apply(self, client: &ArmClient, printer: &Printer) -> Result<(), String> {
        let bar = azure::spinner(printer, "Updating APIM");
        let observer = |event: Event<'_>| match event {
            Event::Started { label } | Event::Done { label } => bar.set_message(label.to_string()),
            Event::State { label, state } => bar.set_message(format!("{label}: {state}")),
        };
        let converged = crate::azure::converge(client, self.plan, &observer).await;
        bar.finish_and_clear();
        converged.map_err(|e| e.to_string())?;
        for (id, api_version, label) in &self.deletions {
            client.delete(id, api_version, None).await.map_err(|e| format!("{label}: {e}"))?;
        }
        Ok(())
    }
}

/// The config's spelling of an auth mode.
pub(crate) fn auth_name(auth: BackendAuth) -> &'static str {
    match auth {
        BackendAuth::ApiKey => "api-key",
        BackendAuth::Entra => "entra",
        BackendAuth::None => "none",
    }
}

/// One row of `backends list`; the JSON form is stable.
#[derive(Debug, Serialize)]
struct Row<'a> {
    name: &'a str,
    url: &'a str,
    priority: u32,
    weight: u32,
    auth: BackendAuth,
    api_key_env: Option<&'a str>,
    deployments: &'a [String],
    /// `in sync`, `missing`, `differs (…)`; `None` when Azure was not asked.
    deployed: Option<String>,
}

fn list(path: &Path, args: &ListArgs, printer: &Printer) -> Result<ExitCode, Error> {
    let config = Config::load(path)?;
    let plan = if args.local_only || config.azure.is_none() || config.apim.is_none() {
        None
    } else {
        let stack = azure::stack(path, &config)?;
        let client = args.azure.client()?;
        Some(super::runtime()?.block_on(crate::azure::plan(&client, stack)).map_err(azure::azure_error)?)
    };
    let rows: Vec<Row<'_>> = config
        .backends
        .iter()
        .map(|b| Row {
            name: &b.name,
            url: &b.url,
            priority: b.priority,
            weight: b.weight,
            auth: b.auth,
            api_key_env: b.api_key_env.as_deref(),
            deployments: &b.deployments,
            deployed: plan.as_ref().map(|p| azure::state(p, Kind::Backend, &format!("backend {}", b.name))),
        })
        .collect();
    if printer.json() {
        printer.print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    let mut header = vec!["NAME", "PRIORITY", "WEIGHT", "AUTH", "DEPLOYMENTS", "URL"];
    if plan.is_some() {
        header.push("DEPLOYED");
    }
    table.set_header(header);
    for row in &rows {
        let auth = match row.api_key_env {
            Some(env) if row.auth == BackendAuth::ApiKey => format!("api-key (${env})"),
            _ => auth_name(row.auth).to_string(),
        };
        let deployments = if row.deployments.is_empty() { "all".into() } else { row.deployments.join(",") };
        let mut cells = vec![
            row.name.to_string(),
            row.priority.to_string(),
            row.weight.to_string(),
            auth,
            deployments,
            row.url.to_string(),
        ];
        cells.extend(row.deployed.clone());
        table.add_row(cells);
    }
    if rows.is_empty() {
        printer.note(format!("no backends in {} (add one with `oai-lb backends add`)", path.display()));
    } else {
        printer.line(table)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// An edited config, validated but not yet written.
struct Edited {
    text: String,
    config: Config,
}

/// Reads the file, applies `change` and validates the result as a whole config.
fn edit(path: &Path, change: impl FnOnce(&mut DocumentMut) -> Result<(), Error>) -> Result<Edited, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(format!(
            "{}: cannot read: {e} (fix: run `oai-lb init` first, or pass --config PATH)",
            path.display()
        ))
    })?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| Error::usage(format!("{}: not valid TOML: {e}", path.display()).replace('\n', " ")))?;
    change(&mut doc)?;
    let edited = doc.to_string();
    let config = Config::parse(path, &edited)?;
    Ok(Edited { text: edited, config })
}

/// Replaces the file through a temporary one, so a crash cannot leave half a config.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), Error> {
    let fail = |e: std::io::Error| Error::failure(format!("cannot write {}: {e}", path.display()));
    let mut temp = path.as_os_str().to_owned();
    temp.push(".oai-lb-tmp");
    std::fs::write(&temp, text).map_err(fail)?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        fail(e)
    })
}

/// The `[[backends]]` array of tables, created when absent.
fn backends_mut(doc: &mut DocumentMut) -> Result<&mut ArrayOfTables, Error> {
    let item = doc.entry("backends").or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    item.as_array_of_tables_mut().ok_or_else(|| {
        Error::usage("`backends` is not written as [[backends]] tables (fix: rewrite it as [[backends]] tables to edit it with this command)")
    })
}

fn position(backends: &ArrayOfTables, name: &str) -> Option<usize> {
    backends.iter().position(|t| t.get("name").and_then(Item::as_str) == Some(name))
}

fn unknown(doc: &ArrayOfTables, name: &str) -> Error {
    let known: Vec<&str> = doc.iter().filter_map(|t| t.get("name").and_then(Item::as_str)).collect();
    let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
    Error::usage(format!("no backend is named `{name}` (configured: {known}; fix: check `oai-lb backends list`)"))
}

/// Appends a `[[backends]]` table. Shared with `init`, which writes its backends this way.
pub(crate) fn add_backend(doc: &mut DocumentMut, backend: &BackendConfig) -> Result<(), Error> {
    let backends = backends_mut(doc)?;
    if position(backends, &backend.name).is_some() {
        return Err(Error::usage(format!(
            "a backend named `{}` already exists (fix: choose another name, or use `oai-lb backends set {}`)",
            backend.name, backend.name
        )));
    }
    let mut table = Table::new();
    table.insert("name", value(&backend.name));
    table.insert("url", value(&backend.url));
    table.insert("priority", value(i64::from(backend.priority)));
    table.insert("weight", value(i64::from(backend.weight)));
    table.insert("auth", value(auth_name(backend.auth)));
    if let Some(env) = &backend.api_key_env {
        table.insert("api_key_env", value(env));
    }
    if !backend.deployments.is_empty() {
        table.insert("deployments", value(backend.deployments.iter().collect::<Array>()));
    }
    backends.push(table);
    Ok(())
}

fn set_backend(doc: &mut DocumentMut, set: &SetArgs) -> Result<(), Error> {
    let backends = backends_mut(doc)?;
    let index = position(backends, &set.name).ok_or_else(|| unknown(backends, &set.name))?;
    let table = backends.get_mut(index).expect("position is in range");
    if let Some(priority) = set.priority {
        set_keeping_comment(table, "priority", value(i64::from(priority)));
    }
    if let Some(weight) = set.weight {
        set_keeping_comment(table, "weight", value(i64::from(weight)));
    }
    if let Some(url) = &set.url {
        set_keeping_comment(table, "url", value(url));
    }
    Ok(())
}

/// Replaces a value but keeps the comment and spacing around the old one.
fn set_keeping_comment(table: &mut Table, key: &str, mut new: Item) {
    if let (Some(old), Some(new_value)) = (table.get(key).and_then(Item::as_value), new.as_value_mut()) {
        *new_value.decor_mut() = old.decor().clone();
    }
    table.insert(key, new);
}

fn remove_backend(doc: &mut DocumentMut, name: &str) -> Result<(), Error> {
    let backends = backends_mut(doc)?;
    let index = position(backends, name).ok_or_else(|| unknown(backends, name))?;
    // The comment above a table belongs to the list when it heads it: keep it for the next.
    let prefix = backends.get(index).and_then(|t| t.decor().prefix()).cloned();
    backends.remove(index);
    if let (0, Some(prefix), Some(next)) = (index, prefix, backends.get_mut(0)) {
        next.decor_mut().set_prefix(prefix);
    }
    if backends.is_empty() {
        doc.remove("backends");
    }
    Ok(())
}
