//! The Bicep in `bicep/`: every file parses with the tree-sitter-bicep grammar, it uses the
//! resource types and api-versions of the CLI, and the policy it loads is current.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use oai_lb::config::Config;
use oai_lb::policy;

fn bicep_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bicep")
}

/// Every `.bicep` file under `dir`, sorted.
fn bicep_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "bicep") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn parse(source: &str) -> tree_sitter::Tree {
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&tree_sitter_bicep::LANGUAGE.into()).expect("the grammar loads");
    parser.parse(source, None).expect("the parser returns a tree")
}

/// Every node of a tree, depth first.
fn nodes(tree: &tree_sitter::Tree) -> Vec<tree_sitter::Node<'_>> {
    let mut all = Vec::new();
    let mut cursor = tree.walk();
    loop {
        all.push(cursor.node());
        if cursor.goto_first_child() || cursor.goto_next_sibling() {
            continue;
        }
        loop {
            if !cursor.goto_parent() {
                return all;
            }
            if cursor.goto_next_sibling() {
                break;
            }
        }
    }
}

/// Every `'Type@api-version'` a resource declaration (new or `existing`) names in the
/// `.bicep` files under `dir`, e.g. `("Microsoft.ApiManagement/service", "2024-05-01")`.
/// The CLI's list of what `deploy` calls must equal this set.
pub fn resource_types(dir: &Path) -> BTreeSet<(String, String)> {
    let mut types = BTreeSet::new();
    for file in bicep_files(dir) {
        let source = std::fs::read_to_string(&file).unwrap();
        let tree = parse(&source);
        for node in nodes(&tree).into_iter().filter(|n| n.kind() == "resource_declaration") {
            let mut cursor = node.walk();
            let literal = node
                .named_children(&mut cursor)
                .find(|c| c.kind() == "string")
                .unwrap_or_else(|| panic!("{}: a resource without a type", file.display()));
            let text = literal.utf8_text(source.as_bytes()).unwrap().trim_matches('\'');
            let (kind, version) =
                text.split_once('@').unwrap_or_else(|| panic!("{}: `{text}` has no api-version", file.display()));
            types.insert((kind.to_string(), version.to_string()));
        }
    }
    types
}

#[test]
fn every_bicep_file_parses() {
    let files = bicep_files(&bicep_dir());
    assert!(files.len() >= 9, "main.bicep and its modules: {files:?}");
    let mut problems = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        let tree = parse(&source);
        for node in nodes(&tree) {
            if node.is_error() || node.is_missing() {
                let at = node.start_position();
                let what = if node.is_missing() { format!("missing {}", node.kind()) } else { "syntax error".into() };
                let near: String = source[node.byte_range()].chars().take(40).collect();
                problems.push(format!("{}:{}:{}: {what} near `{near}`", file.display(), at.row + 1, at.column + 1));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn resource_types_and_api_versions_equal_the_clis() {
    let bicep = resource_types(&bicep_dir());
    let cli: BTreeSet<(String, String)> =
        oai_lb::azure::API_VERSIONS.iter().map(|(kind, version)| (kind.to_string(), version.to_string())).collect();
    let only_bicep: Vec<_> = bicep.difference(&cli).collect();
    let only_cli: Vec<_> = cli.difference(&bicep).collect();
    assert!(
        only_bicep.is_empty() && only_cli.is_empty(),
        "bicep/ and the CLI disagree; only in bicep: {only_bicep:?}; only in the CLI: {only_cli:?}"
    );
}

#[test]
fn the_committed_policy_is_the_rendered_one() {
    let dir = bicep_dir();
    let config = Config::load(&dir.join("oai-lb.toml")).expect("bicep/oai-lb.toml is valid");
    let rendered = policy::render(&config, policy::configured_strategy(&config)).unwrap();
    let committed = std::fs::read_to_string(dir.join("policy.xml")).unwrap();
    assert!(
        committed == rendered,
        "bicep/policy.xml is stale: run `cargo run -- policy render --config bicep/oai-lb.toml --out bicep/policy.xml`"
    );
    // Bicep creates every named value the policy references.
    let main = std::fs::read_to_string(dir.join("main.bicep")).unwrap();
    for name in policy::referenced_named_values(&committed) {
        assert!(main.contains(&format!("name: '{name}'")), "main.bicep does not create the named value {name}");
    }
    assert!(main.contains(&format!("var poolId = '{}'", policy::POOL_BACKEND_ID)));
}

#[test]
fn loaded_files_exist() {
    for file in bicep_files(&bicep_dir()) {
        let source = std::fs::read_to_string(&file).unwrap();
        for call in ["loadTextContent('", "loadJsonContent('"] {
            for rest in source.split(call).skip(1) {
                let relative = rest.split('\'').next().unwrap();
                let target = file.parent().unwrap().join(relative);
                assert!(target.is_file(), "{}: {call}{relative}') does not exist", file.display());
            }
        }
    }
}

#[test]
fn a_broken_file_is_reported() {
    let tree = parse("resource x 'Microsoft.Resources/resourceGroups@2025-04-01' = {\n  name: \n");
    assert!(nodes(&tree).iter().any(|n| n.is_error() || n.is_missing()));
}

#[test]
fn monitoring_matches_the_cli() {
    use oai_lb::azure::monitoring::{REQUEST_HEADERS, RESPONSE_HEADERS};
    use oai_lb::names;
    let dir = bicep_dir();
    // The policy main.bicep deploys with monitoring = true is current, and its config is
    // bicep/oai-lb.toml plus [monitoring].
    let monitored = Config::load(&dir.join("oai-lb-monitoring.toml")).expect("bicep/oai-lb-monitoring.toml is valid");
    let plain = Config::load(&dir.join("oai-lb.toml")).unwrap();
    assert!(monitored.monitoring.is_some());
    assert_eq!(
        Config { monitoring: None, ..monitored.clone() },
        plain,
        "oai-lb-monitoring.toml = oai-lb.toml + [monitoring]"
    );
    let rendered = policy::render(&monitored, policy::configured_strategy(&monitored)).unwrap();
    let committed = std::fs::read_to_string(dir.join("policy-monitoring.xml")).unwrap();
    assert!(
        committed == rendered,
        "bicep/policy-monitoring.xml is stale: run `cargo run -- policy render --config bicep/oai-lb-monitoring.toml --out bicep/policy-monitoring.xml`"
    );
    assert!(committed.contains("azure-openai-emit-token-metric"));
    // Names and logged headers are the CLI's.
    let module = std::fs::read_to_string(dir.join("modules/monitoring.bicep")).unwrap();
    for name in [
        names::log_analytics_workspace("${apimName}"),
        names::app_insights("${apimName}"),
        names::APP_INSIGHTS_LOGGER_ID.to_string(),
        names::APP_INSIGHTS_CONNECTION_STRING_NAMED_VALUE.to_string(),
        names::API_DIAGNOSTIC_ID.to_string(),
    ] {
        assert!(module.contains(&format!("name: '{name}'")), "monitoring.bicep does not name {name}");
    }
    for header in REQUEST_HEADERS.iter().chain(RESPONSE_HEADERS) {
        assert!(module.contains(&format!("'{header}'")), "monitoring.bicep does not log {header}");
    }
    for secret in oai_lb::config::SECRET_HEADERS {
        assert!(!module.contains(&format!("    '{secret}'")), "monitoring.bicep logs {secret}");
    }
    assert!(module.contains("metrics: true"));
}
