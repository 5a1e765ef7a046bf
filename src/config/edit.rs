//! Editing `oai-lb.toml` in place: the `[[backends]]` tables are changed with `toml_edit`,
//! so comments and layout survive; every edit is validated as a whole config before the
//! file is replaced, so a bad edit leaves the file as it was.
//!
//! Comments go with the table below them (in `toml_edit`, the comments above a header are
//! that table's leading decor): the comment lines directly above a `[[backends]]` header
//! belong to that backend and leave with it; a comment block separated from the header by
//! a blank line is a heading for what follows and stays, above the next table. A backend
//! added at the end of the file goes below the file's trailing comments.
//!
//! The replace is atomic: the new text goes to a uniquely named temporary file in the same
//! folder (created exclusively, with the old file's permissions), is flushed to disk, and is
//! renamed over the file; a crash leaves the old file or the new one, never half of one.
//! When the path is a symbolic link, the file it points to is replaced and the link is
//! kept: the edit never replaces the link itself with a regular file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use super::{BackendConfig, Config, ConfigError};

/// An edited config, validated but not yet written.
#[derive(Debug, Clone)]
pub struct Edited {
    /// The file's new text.
    pub text: String,
    /// What it parses to.
    pub config: Config,
}

/// A change to one backend (`backends set`); `None` leaves the value as it is.
#[derive(Debug, Clone, Default)]
pub struct BackendChange {
    pub priority: Option<u32>,
    pub weight: Option<u32>,
    pub url: Option<String>,
}

/// The file could not be replaced.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Reads the file, applies `change` to its document and validates the result.
pub fn edit(
    path: &Path,
    change: impl FnOnce(&Path, &mut DocumentMut) -> Result<(), ConfigError>,
) -> Result<Edited, ConfigError> {
    let text = fs::read_to_string(path).map_err(|e| {
        ConfigError::new(path, "", format!("cannot read: {e}"), "run `oai-lb init` first, or pass --config PATH")
    })?;
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        ConfigError::new(path, "", format!("not valid TOML: {}", e.to_string().replace('\n', " ")), "correct the file")
    })?;
    change(path, &mut doc)?;
    let text = doc.to_string();
    let config = Config::parse(path, &text)?;
    Ok(Edited { text, config })
}

/// Appends a `[[backends]]` table (`backends add`, and `init` for the backends it writes).
pub fn add_backend(path: &Path, doc: &mut DocumentMut, backend: &BackendConfig) -> Result<(), ConfigError> {
    let backends = backends_mut(path, doc)?;
    if position(backends, &backend.name).is_some() {
        return Err(ConfigError::new(
            path,
            "backends",
            format!("a backend named `{}` already exists", backend.name),
            format!("choose another name, or use `oai-lb backends set {}`", backend.name),
        ));
    }
    let mut table = Table::new();
    table.insert("name", value(&backend.name));
    table.insert("url", value(&backend.url));
    table.insert("priority", value(i64::from(backend.priority)));
    table.insert("weight", value(i64::from(backend.weight)));
    table.insert("auth", value(backend.auth.as_str()));
    if let Some(env) = &backend.api_key_env {
        table.insert("api_key_env", value(env));
    }
    if !backend.deployments.is_empty() {
        table.insert("deployments", value(backend.deployments.iter().collect::<Array>()));
    }
    // A new table without a position is drawn right after the table before it in the
    // document (the last backend), so it goes last when that one is last. Then the file's
    // trailing comments are above it: they become its heading (a blank line between, so
    // they are not its own and stay when it is removed).
    let after = backends.iter().last().and_then(Table::position);
    backends.push(table);
    let last = match after {
        Some(position) => last_position(doc.as_table()).is_none_or(|max| max <= position),
        None => true,
    };
    let trailing = doc.trailing().as_str().unwrap_or("").to_string();
    if last && trailing.contains('#') {
        if after.is_none() {
            // The first backend of a file: draw it after every other table.
            let end = last_position(doc.as_table()).map_or(0, |p| p + 1);
            if let Some(new) = backends_mut(path, doc)?.iter_mut().last() {
                new.set_position(end);
            }
        }
        let heading = format!("{}\n\n", trailing.trim_end_matches(['\n', '\r', ' ', '\t']));
        if let Some(new) = backends_mut(path, doc)?.iter_mut().last() {
            new.decor_mut().set_prefix(heading);
        }
        doc.set_trailing("");
    }
    Ok(())
}

/// Changes one backend's values, keeping the comments beside them.
pub fn set_backend(path: &Path, doc: &mut DocumentMut, name: &str, change: &BackendChange) -> Result<(), ConfigError> {
    let backends = backends_mut(path, doc)?;
    let index = position(backends, name).ok_or_else(|| unknown(path, backends, name))?;
    let table = backends.get_mut(index).expect("position is in range");
    if let Some(priority) = change.priority {
        set_keeping_comment(table, "priority", value(i64::from(priority)));
    }
    if let Some(weight) = change.weight {
        set_keeping_comment(table, "weight", value(i64::from(weight)));
    }
    if let Some(url) = &change.url {
        set_keeping_comment(table, "url", value(url));
    }
    Ok(())
}

/// Removes one backend with the comment lines directly above it; a heading above those
/// (separated by a blank line) moves above the table that now follows.
pub fn remove_backend(path: &Path, doc: &mut DocumentMut, name: &str) -> Result<(), ConfigError> {
    let backends = backends_mut(path, doc)?;
    let index = position(backends, name).ok_or_else(|| unknown(path, backends, name))?;
    let removed = backends.get(index).expect("position is in range");
    let prefix = removed.decor().prefix().and_then(|p| p.as_str()).unwrap_or("").to_string();
    let at = removed.position();
    backends.remove(index);
    let heading = heading_of(&prefix);
    if backends.is_empty() {
        doc.remove("backends");
    }
    if heading.contains('#') {
        match at.and_then(|at| next_position(doc.as_table(), at)) {
            Some(next) => {
                let mut moved = false;
                each_table_mut(doc.as_table_mut(), &mut |table| {
                    if !moved && table.position() == Some(next) {
                        let own = table.decor().prefix().and_then(|p| p.as_str()).unwrap_or("\n");
                        let own = own.trim_start_matches(['\n', '\r']).to_string();
                        table.decor_mut().set_prefix(format!("{heading}{own}"));
                        moved = true;
                    }
                });
            }
            None => {
                let trailing = doc.trailing().as_str().unwrap_or("").to_string();
                doc.set_trailing(format!("{heading}{trailing}"));
            }
        }
    }
    Ok(())
}

/// The part of a table's leading decor that is not its own: everything above the comment
/// lines that touch its header (empty when no blank line separates them).
fn heading_of(prefix: &str) -> &str {
    let mut own_starts = prefix.len();
    for line in prefix.split_inclusive('\n').collect::<Vec<_>>().iter().rev() {
        if !line.trim_start().starts_with('#') {
            break;
        }
        own_starts -= line.len();
    }
    &prefix[..own_starts]
}

/// Every table of the document (arrays of tables and nested ones included) that is drawn.
fn drawn_tables(table: &Table, out: &mut Vec<Option<isize>>) {
    for (_, item) in table.iter() {
        match item {
            Item::Table(t) => {
                if !t.is_implicit() && !t.is_dotted() {
                    out.push(t.position());
                }
                drawn_tables(t, out);
            }
            Item::ArrayOfTables(a) => {
                for t in a.iter() {
                    out.push(t.position());
                    drawn_tables(t, out);
                }
            }
            _ => {}
        }
    }
}

/// The highest position of a table in the document.
fn last_position(root: &Table) -> Option<isize> {
    let mut positions = Vec::new();
    drawn_tables(root, &mut positions);
    positions.into_iter().flatten().max()
}

/// The position of the first table drawn after position `at`.
fn next_position(root: &Table, at: isize) -> Option<isize> {
    let mut positions = Vec::new();
    drawn_tables(root, &mut positions);
    positions.into_iter().flatten().filter(|&p| p > at).min()
}

/// Calls `change` on every drawn table, depth first in document order.
fn each_table_mut(table: &mut Table, change: &mut dyn FnMut(&mut Table)) {
    for (_, item) in table.iter_mut() {
        match item {
            Item::Table(t) => {
                if !t.is_implicit() && !t.is_dotted() {
                    change(t);
                }
                each_table_mut(t, change);
            }
            Item::ArrayOfTables(a) => {
                for t in a.iter_mut() {
                    change(t);
                    each_table_mut(t, change);
                }
            }
            _ => {}
        }
    }
}

/// The `[[backends]]` array of tables, created when absent.
fn backends_mut<'a>(path: &Path, doc: &'a mut DocumentMut) -> Result<&'a mut ArrayOfTables, ConfigError> {
    let item = doc.entry("backends").or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    item.as_array_of_tables_mut().ok_or_else(|| {
        ConfigError::new(
            path,
            "backends",
            "`backends` is not written as [[backends]] tables",
            "rewrite it as [[backends]] tables to edit it with this command",
        )
    })
}

fn position(backends: &ArrayOfTables, name: &str) -> Option<usize> {
    backends.iter().position(|t| t.get("name").and_then(Item::as_str) == Some(name))
}

fn unknown(path: &Path, backends: &ArrayOfTables, name: &str) -> ConfigError {
    let known: Vec<&str> = backends.iter().filter_map(|t| t.get("name").and_then(Item::as_str)).collect();
    let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
    ConfigError::new(
        path,
        "backends",
        format!("no backend is named `{name}` (configured: {known})"),
        "check `oai-lb backends list`",
    )
}

/// Replaces a value but keeps the comment and spacing around the old one.
fn set_keeping_comment(table: &mut Table, key: &str, mut new: Item) {
    if let (Some(old), Some(new_value)) = (table.get(key).and_then(Item::as_value), new.as_value_mut()) {
        *new_value.decor_mut() = old.decor().clone();
    }
    table.insert(key, new);
}

/// Replaces (or creates) the file at `path` with `text`, atomically; see the module
/// documentation. A symbolic link is followed: its target is replaced, the link is kept.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), WriteError> {
    let fail = |source: io::Error| WriteError { path: path.to_path_buf(), source };
    let target = resolve_links(path).map_err(fail)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let permissions = fs::metadata(&target).ok().map(|m| m.permissions());
    let (temp_path, mut temp) = create_temp(&dir, &target).map_err(fail)?;
    let written = (|| {
        if let Some(permissions) = permissions {
            temp.set_permissions(permissions)?;
        }
        temp.write_all(text.as_bytes())?;
        temp.sync_all()?;
        drop(temp);
        fs::rename(&temp_path, &target)?;
        // The rename is durable once the folder is; not every platform can open one.
        if let Ok(dir) = File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp_path);
    }
    written.map_err(fail)
}

/// The file a path names after following every symbolic link (the path itself when it does
/// not exist yet).
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path),
        _ => Ok(path.to_path_buf()),
    }
}

/// A new file beside `target` that no one else has opened: `.{name}.{pid}.{n}.tmp`, created
/// exclusively (an existing file of that name, or a link planted there, is never opened).
fn create_temp(dir: &Path, target: &Path) -> io::Result<(PathBuf, File)> {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "oai-lb.toml".into());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    for attempt in 0..100u32 {
        let candidate = dir.join(format!(".{name}.{}.{nanos}.{attempt}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&candidate) {
            Ok(file) => return Ok((candidate, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary file name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "# keep me\n[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\npriority = 1 # first\n";

    fn temps(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn edits_keep_comments_and_bad_edits_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oai-lb.toml");
        fs::write(&path, TEXT).unwrap();
        let change = BackendChange { priority: Some(2), ..BackendChange::default() };
        let edited = edit(&path, |p, doc| set_backend(p, doc, "a", &change)).unwrap();
        assert!(
            edited.text.starts_with("# keep me") && edited.text.contains("priority = 2 # first"),
            "{}",
            edited.text
        );
        assert_eq!(edited.config.backends[0].priority, 2);
        let zero = BackendChange { priority: Some(0), ..BackendChange::default() };
        let e = edit(&path, |p, doc| set_backend(p, doc, "a", &zero)).unwrap_err();
        assert_eq!(e.key, "backends[0].priority");
        let e = edit(&path, |p, doc| remove_backend(p, doc, "nope")).unwrap_err();
        assert!(e.problem.contains("configured: a"), "{e}");
    }

    const BALANCER: &str = "[balancer]\nlisten = \"127.0.0.1:8080\"\n";
    const THREE: &str = concat!(
        "[balancer]\nlisten = \"127.0.0.1:8080\"\n",
        "\n# Backends, most preferred first.\n",
        "\n# a: East US, the PTU\n[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\n",
        "\n# b: West US\n# (pay as you go)\n[[backends]]\nname = \"b\"\nurl = \"https://b.openai.azure.com\"\n",
        "\n# c: spare\n[[backends]]\nname = \"c\"\nurl = \"https://c.openai.azure.com\"\n",
    );

    /// The file text after `change` on `text`.
    fn edited(text: &str, change: impl FnOnce(&Path, &mut DocumentMut) -> Result<(), ConfigError>) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oai-lb.toml");
        fs::write(&path, text).unwrap();
        edit(&path, change).unwrap().text
    }

    fn backend(name: &str) -> BackendConfig {
        BackendConfig {
            name: name.into(),
            url: format!("https://{name}.openai.azure.com"),
            priority: 1,
            weight: 1,
            auth: super::super::BackendAuth::None,
            api_key_env: None,
            deployments: Vec::new(),
        }
    }

    #[test]
    fn removing_the_first_backend_takes_its_comment_and_keeps_the_heading() {
        let text = edited(THREE, |p, doc| remove_backend(p, doc, "a"));
        let want = concat!(
            "[balancer]\nlisten = \"127.0.0.1:8080\"\n",
            "\n# Backends, most preferred first.\n",
            "\n# b: West US\n# (pay as you go)\n[[backends]]\nname = \"b\"\nurl = \"https://b.openai.azure.com\"\n",
            "\n# c: spare\n[[backends]]\nname = \"c\"\nurl = \"https://c.openai.azure.com\"\n",
        );
        assert_eq!(text, want);
    }

    #[test]
    fn removing_a_middle_backend_takes_only_its_own_comment() {
        let text = edited(THREE, |p, doc| remove_backend(p, doc, "b"));
        let want = concat!(
            "[balancer]\nlisten = \"127.0.0.1:8080\"\n",
            "\n# Backends, most preferred first.\n",
            "\n# a: East US, the PTU\n[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\n",
            "\n# c: spare\n[[backends]]\nname = \"c\"\nurl = \"https://c.openai.azure.com\"\n",
        );
        assert_eq!(text, want);
    }

    #[test]
    fn removing_the_last_backend_takes_its_comment() {
        let text = edited(THREE, |p, doc| remove_backend(p, doc, "c"));
        let want = concat!(
            "[balancer]\nlisten = \"127.0.0.1:8080\"\n",
            "\n# Backends, most preferred first.\n",
            "\n# a: East US, the PTU\n[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\n",
            "\n# b: West US\n# (pay as you go)\n[[backends]]\nname = \"b\"\nurl = \"https://b.openai.azure.com\"\n",
        );
        assert_eq!(text, want);
        // The only backend: its heading stays, at the end of the file.
        let one = concat!(
            "[balancer]\nlisten = \"127.0.0.1:8080\"\n",
            "\n# Backends, most preferred first.\n",
            "\n# a: East US\n[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\n",
        );
        let text = edited(one, |p, doc| remove_backend(p, doc, "a"));
        assert_eq!(text, "[balancer]\nlisten = \"127.0.0.1:8080\"\n\n# Backends, most preferred first.\n\n");
    }

    #[test]
    fn a_heading_moves_above_the_table_that_follows_the_backends() {
        let text = concat!(
            "\n# Backends.\n\n# a\n[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\n",
            "\n# The proxy.\n[balancer]\nlisten = \"127.0.0.1:8080\"\n",
        );
        let text = edited(text, |p, doc| remove_backend(p, doc, "a"));
        assert_eq!(text, "\n# Backends.\n\n# The proxy.\n[balancer]\nlisten = \"127.0.0.1:8080\"\n");
    }

    #[test]
    fn an_added_backend_goes_below_the_trailing_comment() {
        let text = concat!(
            "[balancer]\nlisten = \"127.0.0.1:8080\"\n",
            "\n# a\n[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\n",
            "\n# More backends go here.\n",
        );
        let text = edited(text, |p, doc| add_backend(p, doc, &backend("b")));
        let want = concat!(
            "[balancer]\nlisten = \"127.0.0.1:8080\"\n",
            "\n# a\n[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\n",
            "\n# More backends go here.\n",
            "\n[[backends]]\nname = \"b\"\nurl = \"https://b.openai.azure.com\"\npriority = 1\nweight = 1\nauth = \"none\"\n",
        );
        assert_eq!(text, want);
        // The first backend of a file that has only a commented-out example.
        let example = format!("{BALANCER}\n# [[backends]]\n# name = \"x\"\n");
        let text = edited(&example, |p, doc| add_backend(p, doc, &backend("b")));
        let want = format!(
            "{BALANCER}\n# [[backends]]\n# name = \"x\"\n\n[[backends]]\nname = \"b\"\nurl = \"https://b.openai.azure.com\"\npriority = 1\nweight = 1\nauth = \"none\"\n"
        );
        assert_eq!(text, want);
        // Removing it again leaves the file as it was.
        assert_eq!(edited(&text, |p, doc| remove_backend(p, doc, "b")), format!("{example}\n"));
    }

    #[test]
    fn an_added_backend_stays_with_the_backends_before_a_later_table() {
        let text = concat!(
            "[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\n",
            "\n# The proxy.\n[balancer]\nlisten = \"127.0.0.1:8080\"\n# the end\n",
        );
        let text = edited(text, |p, doc| add_backend(p, doc, &backend("b")));
        let want = concat!(
            "[[backends]]\nname = \"a\"\nurl = \"https://a.openai.azure.com\"\n",
            "\n[[backends]]\nname = \"b\"\nurl = \"https://b.openai.azure.com\"\npriority = 1\nweight = 1\nauth = \"none\"\n",
            "\n# The proxy.\n[balancer]\nlisten = \"127.0.0.1:8080\"\n# the end\n",
        );
        assert_eq!(text, want);
    }

    #[test]
    fn writes_atomically_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oai-lb.toml");
        write_atomically(&path, "one").unwrap();
        write_atomically(&path, "two").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        assert!(temps(dir.path()).is_empty());
        // A stale temporary file of an old crash does not block the next write.
        fs::write(dir.path().join(format!(".oai-lb.toml.{}.0.0.tmp", std::process::id())), "stale").unwrap();
        write_atomically(&path, "three").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "three");
    }

    #[cfg(unix)]
    #[test]
    fn keeps_the_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oai-lb.toml");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, "new").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_kept_and_its_target_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        let link = dir.path().join("oai-lb.toml");
        fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically(&link, "new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is still a link");
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
    }
}
