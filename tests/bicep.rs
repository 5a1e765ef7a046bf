//! The Bicep in `bicep/`: every file parses with the tree-sitter-bicep grammar, it uses the
//! resource types and api-versions of the CLI, and the policy it loads is current.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use oai_lb::config::Config;
use oai_lb::policy;
use serde_json::{Value, json};

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

/// The value of a Bicep expression, for the few forms names are built from: strings with
/// interpolation, identifiers, member access and `guid(…)` (ARM's, as `oai_lb::names`
/// reproduces it). `None` for anything else.
fn eval(node: tree_sitter::Node<'_>, source: &str, env: &serde_json::Map<String, Value>) -> Option<Value> {
    let text = |n: tree_sitter::Node<'_>| n.utf8_text(source.as_bytes()).unwrap().to_string();
    match node.kind() {
        "string" => {
            let mut out = String::new();
            let mut cursor = node.walk();
            for part in node.named_children(&mut cursor) {
                match part.kind() {
                    "string_content" => out.push_str(&text(part)),
                    "escape_sequence" => out.push_str(&text(part)[1..]),
                    "interpolation" => {
                        let inner = part.named_child(0)?;
                        out.push_str(eval(inner, source, env)?.as_str()?);
                    }
                    _ => return None,
                }
            }
            Some(Value::String(out))
        }
        "identifier" => env.get(&text(node)).cloned(),
        "member_expression" => {
            let object = eval(node.child_by_field_name("object")?, source, env)?;
            object.get(text(node.child_by_field_name("property")?)).cloned()
        }
        "call_expression" if text(node.child_by_field_name("function")?) == "toLower" => {
            let arguments = node.child_by_field_name("arguments")?;
            let value = eval(arguments.named_child(0)?, source, env)?;
            Some(Value::String(value.as_str()?.to_lowercase()))
        }
        "call_expression" if text(node.child_by_field_name("function")?) == "guid" => {
            let arguments = node.child_by_field_name("arguments")?;
            let mut cursor = arguments.walk();
            let args: Option<Vec<String>> = arguments
                .named_children(&mut cursor)
                .map(|a| eval(a, source, env).and_then(|v| v.as_str().map(str::to_string)))
                .collect();
            let args = args?;
            Some(Value::String(oai_lb::names::arm_guid(&args.iter().map(String::as_str).collect::<Vec<_>>())))
        }
        _ => None,
    }
}

/// A file's parameters (given `params`, else their defaults) and variables, evaluated.
fn declarations(source: &str, params: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    let tree = parse(source);
    let mut env = serde_json::Map::new();
    let root = tree.root_node();
    let mut cursor = root.walk();
    for decl in root.named_children(&mut cursor) {
        let name = || decl.named_child(0).unwrap().utf8_text(source.as_bytes()).unwrap().to_string();
        let Some(last) = decl.named_child(decl.named_child_count().saturating_sub(1)) else { continue };
        match decl.kind() {
            "parameter_declaration" => {
                let value = params.get(&name()).cloned().or_else(|| eval(last, source, &env));
                if let Some(value) = value {
                    env.insert(name(), value);
                }
            }
            "variable_declaration" => {
                if let Some(value) = eval(last, source, &env) {
                    env.insert(name(), value);
                }
            }
            _ => {}
        }
    }
    env
}

/// The value expression of every `key: value` property under `node`, depth first.
fn properties<'t>(node: tree_sitter::Node<'t>, source: &str, key: &str) -> Vec<tree_sitter::Node<'t>> {
    let mut found = Vec::new();
    let mut pending = vec![node];
    while let Some(n) = pending.pop() {
        if n.kind() == "object_property"
            && n.named_child(0).is_some_and(|k| k.utf8_text(source.as_bytes()).unwrap() == key)
        {
            found.push(n.named_child(n.named_child_count() - 1).unwrap());
        }
        let mut cursor = n.walk();
        let children: Vec<_> = n.named_children(&mut cursor).collect();
        pending.extend(children.into_iter().rev());
    }
    found
}

/// The declaration (`resource` or `module`) named `symbol` in a file.
fn declaration<'t>(tree: &'t tree_sitter::Tree, source: &str, symbol: &str) -> tree_sitter::Node<'t> {
    let root = tree.root_node();
    let mut cursor = root.walk();
    let found = root.named_children(&mut cursor).find(|d| {
        matches!(d.kind(), "resource_declaration" | "module_declaration")
            && d.named_child(0).unwrap().utf8_text(source.as_bytes()).unwrap() == symbol
    });
    found.unwrap_or_else(|| panic!("no declaration `{symbol}`"))
}

/// The `name:` of the declaration `symbol` of `file` under `env`.
fn name_of(file: &str, symbol: &str, env: &serde_json::Map<String, Value>) -> String {
    let source = std::fs::read_to_string(bicep_dir().join(file)).unwrap();
    let tree = parse(&source);
    let decl = declaration(&tree, &source, symbol);
    let body = decl.named_child(decl.named_child_count() - 1).unwrap();
    let mut cursor = body.walk();
    let name = body
        .named_children(&mut cursor)
        .find(|p| {
            p.kind() == "object_property" && p.named_child(0).unwrap().utf8_text(source.as_bytes()).unwrap() == "name"
        })
        .or_else(|| properties(body, &source, "name").into_iter().next())
        .unwrap_or_else(|| panic!("{file}: `{symbol}` has no name"));
    let value = name.named_child(name.named_child_count() - 1).unwrap();
    let value = if name.kind() == "object_property" { value } else { name };
    eval(value, &source, env)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{file}: cannot evaluate the name of `{symbol}`"))
}

/// Every resource id `bicep/main.bicep` (with `main.parameters.json`) creates, evaluated
/// from its name expressions, equals the CLI's stack for the same config
/// (`bicep/oai-lb.toml`): same names, same role-assignment GUIDs, so `oai-lb deploy` and
/// `az deployment sub create` converge the same resources.
#[test]
fn bicep_creates_the_resources_the_cli_converges() {
    let dir = bicep_dir();
    let main = std::fs::read_to_string(dir.join("main.bicep")).unwrap();
    let parameters: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("main.parameters.json")).unwrap()).unwrap();
    let params: serde_json::Map<String, Value> =
        parameters["parameters"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v["value"].clone())).collect();
    let env = declarations(&main, &params);
    let config = Config::load(&dir.join("oai-lb.toml")).expect("bicep/oai-lb.toml is valid");
    let azure = config.azure.as_ref().unwrap();
    let s = |key: &str| {
        env.get(key).and_then(Value::as_str).unwrap_or_else(|| panic!("main.bicep: no `{key}`")).to_string()
    };

    let principal = "11111111-2222-3333-4444-555555555555";
    let rg = format!("/subscriptions/{}/resourceGroups/{}", azure.subscription_id, s("resourceGroupName"));
    let identity = format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}", s("identityName"));
    let apim = format!("{rg}/providers/Microsoft.ApiManagement/service/{}", s("apimName"));
    let mut bicep: BTreeSet<String> = [rg.clone(), identity, apim.clone()].into();
    let tree = parse(&main);
    let backends_module = declaration(&tree, &main, "backends");
    let backend_id = properties(backends_module, &main, "id")[0];
    let roles_env =
        declarations(&std::fs::read_to_string(dir.join("modules/roles.bicep")).unwrap(), &Default::default());
    for account in params["openAiAccounts"].as_array().unwrap() {
        let mut env = env.clone();
        env.insert("account".into(), account.clone());
        let name = account["name"].as_str().unwrap();
        let account_id = format!("{rg}/providers/Microsoft.CognitiveServices/accounts/{name}");
        bicep.insert(account_id.clone());
        for d in account["deployments"].as_array().unwrap() {
            let deployment =
                name_of("modules/openai.bicep", "deployment", &json!({"d": d}).as_object().unwrap().clone());
            bicep.insert(format!("{account_id}/deployments/{deployment}"));
        }
        let mut role_env = roles_env.clone();
        role_env.insert("account".into(), json!({"id": account_id, "name": name}));
        role_env.insert("principalId".into(), json!(principal));
        let role = name_of("modules/roles.bicep", "openAiUser", &role_env);
        bicep.insert(format!("{account_id}/providers/Microsoft.Authorization/roleAssignments/{role}"));
        let backend = eval(backend_id, &main, &env).unwrap();
        bicep.insert(format!("{apim}/backends/{}", backend.as_str().unwrap()));
    }
    let named_values = declaration(&tree, &main, "namedValues");
    let values = properties(named_values, &main, "values")[0];
    for value in properties(values, &main, "name") {
        if let Some(Value::String(name)) = eval(value, &main, &env) {
            bicep.insert(format!("{apim}/namedValues/{name}"));
        }
    }
    let api = format!("{apim}/apis/{}", s("apiName"));
    let policy = name_of("modules/api.bicep", "policy", &env);
    bicep.insert(format!("{api}/policies/{policy}"));
    bicep.insert(api);
    bicep.insert(format!("{apim}/subscriptions/{}", name_of("modules/subscription.bicep", "subscription", &env)));

    let stack = oai_lb::azure::Stack::new(&config, &oai_lb::azure::BackendKeys::default()).unwrap();
    let outputs = oai_lb::azure::Outputs {
        principal_id: Some(principal.into()),
        client_id: Some("c".into()),
        ..Default::default()
    };
    let cli: BTreeSet<String> = stack
        .resources
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.resolve(&outputs);
            r.id().to_string()
        })
        .collect();
    let only_bicep: Vec<_> = bicep.difference(&cli).collect();
    let only_cli: Vec<_> = cli.difference(&bicep).collect();
    assert!(
        only_bicep.is_empty() && only_cli.is_empty(),
        "only in bicep: {only_bicep:#?}\nonly in the CLI: {only_cli:#?}"
    );
    // The pool strategy's pool backend has the CLI's name too.
    assert_eq!(s("poolId"), oai_lb::names::POOL_BACKEND_ID);
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

/// `[balancer.azure]`: `modules/container-apps.bicep` names the environment, the cache and
/// the app as the CLI does, sets what the CLI's bodies set, and mounts the config the CLI
/// renders for the same config (`bicep/oai-lb-aca.toml`).
#[test]
fn container_apps_match_the_cli() {
    use oai_lb::azure::container_apps::container_config;
    use oai_lb::azure::{BackendKeys, Kind, Stack};
    use oai_lb::names;
    let dir = bicep_dir();
    let aca = Config::load(&dir.join("oai-lb-aca.toml")).expect("bicep/oai-lb-aca.toml is valid");
    let plain = Config::load(&dir.join("oai-lb.toml")).unwrap();
    let mut stripped = aca.clone();
    (stripped.balancer.azure, stripped.balancer.client_keys_env) = (None, None);
    assert_eq!(stripped, plain, "oai-lb-aca.toml = oai-lb.toml + client_keys_env + [balancer.azure]");
    let apim = aca.apim.as_ref().unwrap().name.clone();
    let rendered = container_config(&aca, &names::redis_cache(&apim)).unwrap();
    let committed_path = dir.join("oai-lb-container.toml");
    if std::env::var_os("OAI_LB_BLESS").is_some() {
        std::fs::write(&committed_path, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == rendered,
        "bicep/oai-lb-container.toml is stale: run `OAI_LB_BLESS=1 cargo test --test bicep container_apps_match_the_cli`"
    );

    let source = std::fs::read_to_string(dir.join("modules/container-apps.bicep")).unwrap();
    let params = json!({"apimName": apim}).as_object().unwrap().clone();
    let env = declarations(&source, &params);
    let stack = Stack::new(&aca, &BackendKeys::default()).unwrap();
    for (kind, symbol) in
        [(Kind::ManagedEnvironment, "environment"), (Kind::Redis, "redis"), (Kind::ContainerApp, "app")]
    {
        let cli = stack.of_kind(kind).next().unwrap_or_else(|| panic!("the CLI has no {kind:?}"));
        assert_eq!(name_of("modules/container-apps.bicep", symbol, &env), cli.name, "{symbol}");
        assert!(source.contains(&format!("'{}@{}'", kind.resource_type(), kind.api_version())), "{symbol}");
    }
    let app = stack.of_kind(Kind::ContainerApp).next().unwrap().body().clone();
    for secret in app["properties"]["configuration"]["secrets"].as_array().unwrap() {
        assert!(source.contains(&format!("name: '{}'", secret["name"].as_str().unwrap())), "{secret}");
    }
    for e in app["properties"]["template"]["containers"][0]["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        assert!(name == "OAI_LB_CLIENT_KEYS" || source.contains(&format!("name: '{name}'")), "env {name}");
    }
    for expected in [
        "enableNonSslPort: false",
        "minimumTlsVersion: '1.2'",
        "name: 'concurrent-requests'",
        "storageType: 'Secret'",
        &format!("mountPath: '{}'", names::CONFIG_MOUNT_DIR),
        &format!("path: '{}'", names::CONFIG_FILE_NAME),
        "external: true",
        "path: '/healthz'",
        "path: '/readyz'",
    ] {
        assert!(source.contains(expected), "container-apps.bicep lacks `{expected}`");
    }
    let main = std::fs::read_to_string(dir.join("main.bicep")).unwrap();
    assert!(main.contains("loadTextContent('oai-lb-container.toml')"));
}
