//! `oai-lb backends add | list | set | remove`: edits the `[[backends]]` of oai-lb.toml in
//! place, keeping its comments and layout (toml_edit). Every edit is validated as a whole
//! config before the file is replaced, so a bad edit leaves the file as it was.
//!
//! These commands change the config only; `oai-lb deploy` (or `policy render` for Bicep)
//! carries the change to APIM.

use std::path::Path;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde::Serialize;
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use super::{Error, GlobalArgs, Printer};
use crate::config::{BackendAuth, BackendConfig, Config};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: BackendsCommand,
}

#[derive(Debug, Subcommand)]
pub enum BackendsCommand {
    /// Add a backend to oai-lb.toml.
    Add(AddArgs),
    /// List the configured backends (table, or JSON with --output json).
    List,
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
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    pub name: String,
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
        BackendsCommand::List => list(path, printer),
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
            let name = backend.name.clone();
            edit(path, |doc| add_backend(doc, &backend))?;
            printer.note(format!("added backend `{name}` to {}; run `oai-lb deploy` to update APIM", path.display()));
            Ok(ExitCode::SUCCESS)
        }
        BackendsCommand::Set(set) => {
            if set.priority.is_none() && set.weight.is_none() && set.url.is_none() {
                return Err(Error::usage("nothing to change (fix: pass --priority, --weight or --url)"));
            }
            edit(path, |doc| set_backend(doc, &set))?;
            printer.note(format!(
                "updated backend `{}` in {}; run `oai-lb deploy` to update APIM",
                set.name,
                path.display()
            ));
            Ok(ExitCode::SUCCESS)
        }
        BackendsCommand::Remove(remove) => {
            edit(path, |doc| remove_backend(doc, &remove.name))?;
            printer.note(format!(
                "removed backend `{}` from {}; run `oai-lb deploy` to update APIM",
                remove.name,
                path.display()
            ));
            Ok(ExitCode::SUCCESS)
        }
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
}

fn list(path: &Path, printer: &Printer) -> Result<ExitCode, Error> {
    let config = Config::load(path)?;
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
        })
        .collect();
    if printer.json() {
        printer.print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(["NAME", "PRIORITY", "WEIGHT", "AUTH", "DEPLOYMENTS", "URL"]);
    for row in &rows {
        let auth = match row.api_key_env {
            Some(env) if row.auth == BackendAuth::ApiKey => format!("api-key (${env})"),
            _ => auth_name(row.auth).to_string(),
        };
        let deployments = if row.deployments.is_empty() { "all".into() } else { row.deployments.join(",") };
        table.add_row([
            row.name.to_string(),
            row.priority.to_string(),
            row.weight.to_string(),
            auth,
            deployments,
            row.url.to_string(),
        ]);
    }
    if rows.is_empty() {
        printer.note(format!("no backends in {} (add one with `oai-lb backends add`)", path.display()));
    } else {
        printer.line(table)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the file, applies `change`, validates the result as a config and only then
/// replaces the file (through a temporary file, so a crash cannot leave half a config).
fn edit(path: &Path, change: impl FnOnce(&mut DocumentMut) -> Result<(), Error>) -> Result<(), Error> {
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
    Config::parse(path, &edited)?;
    write_atomically(path, &edited)
}

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
