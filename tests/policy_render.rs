//! The rendered APIM policies: pinned with snapshots, parsed back as XML and checked for the
//! structure APIM needs, and cross-checked against the named values `deploy` creates.

use std::collections::BTreeMap;
use std::path::Path;

use oai_lb::config::{Config, Strategy};
use oai_lb::policy::{self, POOL_BACKEND_ID, PolicyError};
use quick_xml::events::Event;

mod policy_configs;
use policy_configs::{ALL, ENTRA_ONLY, FULL, KEYS_ONLY, MONITORED, PRIMARY};

fn config(text: &str) -> Config {
    // SAFETY: every test sets the same value; nothing else reads it.
    unsafe { std::env::set_var("OAI_LB_POLICY_TEST_KEY", "not-a-real-key") };
    Config::parse(Path::new("oai-lb.toml"), text).expect("test config is valid")
}

fn render(text: &str, strategy: Strategy) -> String {
    policy::render(&config(text), strategy).expect("renders")
}

#[test]
fn smart_policy_snapshot() {
    insta::assert_snapshot!("smart_full", render(FULL, Strategy::Policy));
}

#[test]
fn smart_policy_primary_mode_snapshot() {
    insta::assert_snapshot!("smart_primary", render(PRIMARY, Strategy::Policy));
}

#[test]
fn pool_snapshots() {
    insta::assert_snapshot!("pool_entra", render(ENTRA_ONLY, Strategy::Pool));
    insta::assert_snapshot!("pool_keys", render(KEYS_ONLY, Strategy::Pool));
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(render(FULL, Strategy::Policy), render(FULL, Strategy::Policy));
    assert_eq!(render(ENTRA_ONLY, Strategy::Pool), render(ENTRA_ONLY, Strategy::Pool));
    let c = config(FULL);
    assert_eq!(policy::backends_named_value(&c), policy::backends_named_value(&c));
}

/// A parsed element: enough DOM to check structure.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn child(&self, name: &str) -> &Node {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("<{}> has no <{name}>: {:?}", self.name, self.children))
    }
    fn descendants(&self) -> Vec<&Node> {
        let mut all = vec![self];
        for c in &self.children {
            all.extend(c.descendants());
        }
        all
    }
    fn find_all(&self, name: &str) -> Vec<&Node> {
        self.descendants().into_iter().filter(|n| n.name == name).collect()
    }
    fn attr(&self, key: &str) -> &str {
        self.attrs.get(key).map(String::as_str).unwrap_or_else(|| panic!("<{}> has no {key}", self.name))
    }
}

/// Parses with quick-xml, failing on any malformed input, and unescapes values.
fn parse(xml: &str) -> Node {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack = vec![Node::default()];
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("not well-formed at {}: {e}", reader.buffer_position())) {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => {
                let node = element(&e);
                stack.last_mut().unwrap().children.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(node);
            }
            Event::Text(t) => stack.last_mut().unwrap().text.push_str(&t.decode().unwrap()),
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap();
                let text = quick_xml::escape::unescape(&format!("&{name};")).unwrap().into_owned();
                stack.last_mut().unwrap().text.push_str(&text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut root = stack.pop().unwrap();
    assert_eq!(root.children.len(), 1, "one root element");
    root.children.pop().unwrap()
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Node {
    let attrs = e
        .attributes()
        .map(|a| {
            let a = a.expect("well-formed attribute");
            (String::from_utf8(a.key.as_ref().to_vec()).unwrap(), a.unescape_value().unwrap().into_owned())
        })
        .collect();
    Node { name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(), attrs, ..Node::default() }
}

#[test]
fn smart_policy_structure() {
    let c = config(FULL);
    let xml = policy::render(&c, Strategy::Policy).unwrap();
    let root = parse(&xml);
    assert_eq!(root.name, "policies");
    let sections: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(sections, ["inbound", "backend", "outbound", "on-error"]);

    // APIM allows one policy directly under <backend>: the retry around everything.
    let backend = root.child("backend");
    assert_eq!(backend.children.len(), 1);
    let retry = backend.child("retry");
    assert_eq!(retry.attr("interval"), "0");
    assert_eq!(retry.attr("count"), "50", "APIM's maximum; the condition ends the rounds");
    let forwards = retry.find_all("forward-request");
    assert_eq!(forwards.len(), 1);
    assert_eq!(forwards[0].attr("buffer-request-body"), "true");
    let set_backend = retry.find_all("set-backend-service");
    assert!(set_backend[0].attr("backend-id").contains("oaiLbBackendId"));
    assert_eq!(retry.find_all("cache-store-value").len(), 1);
    let statuses: Vec<&str> = retry.find_all("set-status").iter().map(|s| s.attr("code")).collect();
    assert_eq!(statuses, ["404", "429"]);
    let retry_after = retry
        .find_all("set-header")
        .into_iter()
        .find(|h| h.attr("name") == "Retry-After")
        .expect("429 has Retry-After");
    assert!(retry_after.child("value").text.contains("oaiLbRetryAfter"));

    // Client tokens, managed identity to the backends, the backend id for the caller.
    let inbound = root.child("inbound");
    assert_eq!(inbound.child("validate-jwt").attr("require-scheme"), "Bearer");
    assert_eq!(
        inbound.child("authentication-managed-identity").attr("resource"),
        "https://cognitiveservices.azure.com"
    );
    let headers: Vec<&str> = root.child("outbound").find_all("set-header").iter().map(|h| h.attr("name")).collect();
    assert!(headers.contains(&"x-openai-backend-id") && headers.contains(&"x-oai-lb-backend"), "{headers:?}");

    // The cooldown parsing covers every source of the algorithm.
    let record = retry
        .find_all("set-variable")
        .into_iter()
        .find(|v| v.attr("name") == "oaiLbCooldowns")
        .expect("cooldown is recorded")
        .attr("value");
    let mut headers = vec![oai_lb::lb::cooldown::RETRY_AFTER_MS, oai_lb::lb::cooldown::X_MS_RETRY_AFTER_MS];
    headers.extend(oai_lb::lb::cooldown::RESET_HEADERS);
    headers.push(http::header::RETRY_AFTER);
    for header in headers {
        assert!(record.to_lowercase().contains(&format!("\"{header}\"")), "{header} is not read");
    }
    assert!(record.contains("7500"), "the configured default cooldown in ms");

    // XML folds newlines inside attributes into spaces: a `//` comment would swallow code.
    for node in root.descendants() {
        for value in node.attrs.values().chain(std::iter::once(&node.text)) {
            if value.starts_with('@') {
                assert!(!value.contains("//"), "line comment in an expression: {value}");
            }
        }
    }
}

#[test]
fn backend_list_named_value_holds_every_backend() {
    let c = config(FULL);
    let json: serde_json::Value = serde_json::from_str(&policy::backends_named_value(&c)).unwrap();
    let list = json["backends"].as_array().unwrap();
    let got: Vec<(&str, u64, u64, &str)> = list
        .iter()
        .map(|b| {
            (
                b["id"].as_str().unwrap(),
                b["priority"].as_u64().unwrap(),
                b["weight"].as_u64().unwrap(),
                b["auth"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("contoso-france", 3, 1, "entra"),
            ("eastus-ptu", 1, 1, "api-key"),
            ("westus-paygo", 2, 3, "entra"),
            ("sweden-paygo", 2, 1, "none"),
        ]
    );
    assert_eq!(list[0]["deployments"], serde_json::json!(["gpt-4o"]));
    assert_eq!(list[2]["deployments"], serde_json::json!(["gpt-4o", "text-embedding-3-large"]));
}

#[test]
fn a_priority_change_moves_the_hash_not_the_policy() {
    let before = config(FULL);
    let after = config(&FULL.replace("priority = 2\nweight = 3", "priority = 1\nweight = 3"));
    assert_eq!(policy::render(&before, Strategy::Policy), policy::render(&after, Strategy::Policy));
    let hash = |c: &Config| {
        let v: serde_json::Value = serde_json::from_str(&policy::backends_named_value(c)).unwrap();
        v["hash"].as_str().unwrap().to_string()
    };
    assert_ne!(hash(&before), hash(&after), "the cooldown cache key must change with the list");
}

#[test]
fn every_referenced_named_value_is_created_by_deploy() {
    for (text, strategy) in
        [(FULL, Strategy::Policy), (ENTRA_ONLY, Strategy::Pool), (PRIMARY, Strategy::Policy), (PRIMARY, Strategy::Pool)]
    {
        let c = config(text);
        let xml = policy::render(&c, strategy).unwrap();
        let required: Vec<String> = policy::required_named_values(&c, strategy).into_iter().map(|v| v.name).collect();
        for name in policy::referenced_named_values(&xml) {
            assert!(
                required.contains(&name),
                "{strategy:?}: {{{{{name}}}}} is referenced but not created: {required:?}"
            );
        }
    }
    let c = config(FULL);
    let names: Vec<String> = policy::required_named_values(&c, Strategy::Policy).into_iter().map(|v| v.name).collect();
    assert_eq!(
        names,
        [
            "oai-lb-backends",
            "oai-lb-client-app-id",
            "oai-lb-client-audience",
            "oai-lb-identity-client-id",
            "oai-lb-key-eastus-ptu",
            "oai-lb-tenant-id",
        ]
    );
    let key =
        policy::required_named_values(&c, Strategy::Policy).into_iter().find(|v| v.name == "oai-lb-key-eastus-ptu");
    assert!(key.is_some_and(|v| v.secret && v.value == policy::NamedValueSource::Env("OAI_LB_POLICY_TEST_KEY".into())));
}

#[test]
fn primary_mode_sends_to_the_first_instead_of_answering_429() {
    let root = parse(&render(PRIMARY, Strategy::Policy));
    let retry = root.child("backend").child("retry");
    let statuses: Vec<&str> = retry.find_all("set-status").iter().map(|s| s.attr("code")).collect();
    assert_eq!(statuses, ["404"], "no synthesized 429 in primary mode");
    let pick = retry.find_all("set-variable").into_iter().find(|v| v.attr("name") == "oaiLbBackendId").unwrap();
    assert!(pick.attr("value").contains("? primary : \"\""));
    assert!(root.find_all("validate-jwt").is_empty());
    assert!(root.find_all("authentication-managed-identity").is_empty());
}

#[test]
fn pool_structure() {
    let root = parse(&render(ENTRA_ONLY, Strategy::Pool));
    let backend = root.child("backend");
    assert_eq!(backend.children.len(), 1);
    let retry = backend.child("retry");
    assert_eq!(retry.attr("first-fast-retry"), "true");
    assert_eq!(retry.child("set-backend-service").attr("backend-id"), POOL_BACKEND_ID);
    assert_eq!(retry.child("forward-request").attr("buffer-request-body"), "true");
    assert!(root.find_all("cache-lookup-value").is_empty(), "APIM keeps the state of a pool");
}

#[test]
fn monitored_policy_snapshot() {
    insta::assert_snapshot!("smart_monitored", render(MONITORED, Strategy::Policy));
}

#[test]
fn token_metrics_only_with_monitoring_in_inbound_per_backend_and_deployment() {
    for text in [FULL, PRIMARY, ENTRA_ONLY, KEYS_ONLY] {
        for strategy in [Strategy::Policy, Strategy::Pool] {
            if let Ok(xml) = policy::render(&config(text), strategy) {
                assert!(!xml.contains("emit-token-metric"), "{strategy:?} without [monitoring]: {xml}");
            }
        }
    }
    for strategy in [Strategy::Policy, Strategy::Pool] {
        let root = parse(&render(MONITORED, strategy));
        let metrics = root.find_all("azure-openai-emit-token-metric");
        assert_eq!(metrics.len(), 1, "{strategy:?}");
        // APIM allows the policy in <inbound> only.
        let inbound = root.child("inbound");
        let metric = inbound.child("azure-openai-emit-token-metric");
        assert_eq!(metric.attr("namespace"), oai_lb::names::TOKEN_METRIC_NAMESPACE);
        let dimensions: BTreeMap<&str, &str> = metric
            .children
            .iter()
            .map(|d| (d.attr("name"), d.attrs.get("value").map(String::as_str).unwrap_or("")))
            .collect();
        assert_eq!(dimensions.keys().copied().collect::<Vec<_>>(), ["API ID", "Backend ID", "Deployment"]);
        assert_eq!(dimensions["API ID"], "", "a default dimension: APIM fills it in");
        assert_eq!(dimensions["Backend ID"], "", "a default dimension: the backend that answered");
        assert!(dimensions["Deployment"].starts_with('@'), "{strategy:?}: {dimensions:?}");
        if strategy == Strategy::Policy {
            // The deployment variable is set before the metric reads it.
            let names: Vec<&str> = inbound.children.iter().map(|c| c.name.as_str()).collect();
            let set = inbound
                .children
                .iter()
                .position(|c| c.name == "set-variable" && c.attr("name") == "oaiLbDeployment")
                .unwrap();
            let emit = names.iter().position(|n| *n == "azure-openai-emit-token-metric").unwrap();
            assert!(set < emit, "{names:?}");
        }
    }
}

#[test]
fn nothing_to_balance_is_an_error() {
    let empty = config("");
    assert_eq!(policy::render(&empty, Strategy::Policy), Err(PolicyError::NoBackends));
    assert_eq!(policy::render(&empty, Strategy::Pool), Err(PolicyError::NoBackends));
}

#[test]
fn an_oversized_backend_list_is_refused() {
    let mut text = String::new();
    for i in 0..64 {
        text.push_str(&format!(
            "[[backends]]\nname = \"a-rather-long-backend-name-number-{i:02}\"\nurl = \"https://b{i}.openai.azure.com\"\n"
        ));
    }
    let err = policy::render(&config(&text), Strategy::Policy).unwrap_err();
    assert!(matches!(err, PolicyError::BackendListTooLong { .. }), "{err}");
    assert!(policy::render(&config(&text), Strategy::Pool).is_ok(), "a pool needs no list");
}

#[test]
fn drift_ignores_formatting_but_finds_an_edit() {
    let xml = render(FULL, Strategy::Policy);
    assert_eq!(policy::diff(&xml, &xml).unwrap(), None);
    // APIM hands policies back without our comments and indentation.
    let reformatted =
        xml.lines().filter(|l| !l.trim_start().starts_with("<!--")).map(str::trim).collect::<Vec<_>>().join(" ");
    assert_eq!(policy::diff(&reformatted, &xml).unwrap(), None);
    let edited = xml.replace("duration=\"300\"", "duration=\"60\"");
    let diff = policy::diff(&edited, &xml).unwrap().expect("an out-of-band edit is drift");
    let changed: Vec<String> = diff
        .lines()
        .filter(|l| l.starts_with(['-', '+']) && !l.starts_with("---") && !l.starts_with("+++"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(changed, ["- duration=60", "+ duration=300", "- duration=60", "+ duration=300"], "{diff}");
}

/// APIM compiles expressions against an allow-list of .NET members and rejects a policy
/// that strays with a bare "ValidationError"; these are the known traps.
#[test]
fn expressions_stay_on_the_apim_allow_list() {
    let forbidden = [
        "System.Globalization",
        "CultureInfo",
        "DateTimeStyles",
        "DateTime.TryParse",
        "DateTime.ParseExact",
        "TryParseExact",
        "ToUniversalTime",
        "System.Text.Json",
        "System.IO",
        "System.Threading",
        ".Where(",
        ".Select(",
        "=>",
    ];
    for strategy in [Strategy::Policy, Strategy::Pool] {
        for (_, text) in ALL {
            let Ok(xml) = policy::render(&config(text), strategy) else { continue };
            for node in parse(&xml).descendants() {
                for value in node.attrs.values().chain(std::iter::once(&node.text)).filter(|v| v.starts_with('@')) {
                    for word in forbidden {
                        assert!(!value.contains(word), "`{word}` is not allowed in policy expressions: {value}");
                    }
                }
            }
        }
    }
}

/// The `Authorization` a forward attempt sends to a backend of this auth, read from the
/// per-attempt `choose` on `oaiLbBackendAuth`: the header's action and value.
fn authorization_for(root: &Node, auth: &str) -> Option<(String, String)> {
    let retry = root.child("backend").child("retry");
    let choose = retry
        .find_all("choose")
        .into_iter()
        .find(|c| c.children.iter().any(|w| w.attrs.get("condition").is_some_and(|v| v.contains("oaiLbBackendAuth"))))
        .expect("credentials are chosen per backend");
    let branch = choose
        .children
        .iter()
        .find(|w| w.name == "when" && w.attr("condition").contains(&format!("== \"{auth}\"")))
        .or_else(|| choose.children.iter().find(|w| w.name == "otherwise"))?;
    let header = branch.find_all("set-header").into_iter().find(|h| h.attr("name") == "Authorization")?;
    let value = header.children.iter().find(|c| c.name == "value").map(|v| v.text.clone()).unwrap_or_default();
    Some((header.attr("exists-action").to_string(), value))
}

#[test]
fn credentials_never_cross_backends() {
    // Entra backends get APIM's token; the others lose it, and the client's gateway token.
    let full = parse(&render(FULL, Strategy::Policy));
    let (action, value) = authorization_for(&full, "entra").unwrap();
    assert!(action == "override" && value.contains("oaiLbToken"), "{action} {value}");
    assert_eq!(authorization_for(&full, "api-key").unwrap().0, "delete");
    assert_eq!(authorization_for(&full, "none").unwrap().0, "delete", "a validated client token is for the gateway");

    // Without client validation, a pass-through backend gets the client's own header back
    // (an Entra attempt before it replaced it); an api-key backend gets none.
    let keys = parse(&render(KEYS_ONLY, Strategy::Policy));
    assert!(keys.find_all("authentication-managed-identity").is_empty());
    assert_eq!(authorization_for(&keys, "api-key").unwrap().0, "delete");
    let none = keys.child("backend").child("retry").find_all("when");
    let restore = none.iter().find(|w| w.attr("condition").contains("== \"none\"")).expect("a pass-through branch");
    let set = restore.find_all("set-header");
    assert_eq!(set[0].attr("exists-action"), "override");
    assert!(set[0].child("value").text.contains("oaiLbClientAuthorization"));
    assert_eq!(set[1].attr("exists-action"), "delete", "no client header, none sent");
    let kept = keys.child("inbound").find_all("set-variable");
    assert!(kept.iter().any(|v| v.attr("name") == "oaiLbClientAuthorization"));

    // The pool: one set of headers for every member, so Entra only when all are Entra.
    let entra = parse(&render(ENTRA_ONLY, Strategy::Pool));
    let inbound = entra.child("inbound");
    assert!(
        inbound
            .find_all("set-header")
            .iter()
            .any(|h| h.attr("name") == "Authorization" && h.child("value").text.contains("oaiLbToken"))
    );
    let keys_pool = parse(&render(KEYS_ONLY, Strategy::Pool));
    assert!(keys_pool.find_all("authentication-managed-identity").is_empty());
    assert!(!render(KEYS_ONLY, Strategy::Pool).contains("oaiLbToken"));
    let only_keys = KEYS_ONLY.split("[[backends]]\nname = \"westus\"").next().unwrap();
    let only_keys = parse(&render(only_keys, Strategy::Pool));
    let drop = only_keys.child("inbound").find_all("set-header");
    assert!(drop.iter().any(|h| h.attr("name") == "Authorization" && h.attr("exists-action") == "delete"));
    let mixed = policy::render(&config(FULL), Strategy::Pool).unwrap_err();
    assert!(matches!(mixed, PolicyError::PoolMixedAuth { .. }), "{mixed}");
    assert!(mixed.to_string().contains("eastus-ptu") && mixed.fix().contains("strategy = \"policy\""), "{mixed}");
}

#[test]
fn the_last_failure_is_answered_not_a_made_up_429() {
    let root = parse(&render(FULL, Strategy::Policy));
    let choose = root.child("backend").child("retry").child("choose");
    let whens: Vec<&Node> = choose.children.iter().filter(|c| c.name == "when").collect();
    // Nothing left to pick: a last answer that is not a 429 ends the retry and stands …
    let stands = whens
        .iter()
        .position(|w| w.attr("condition").contains("== \"\"") && w.attr("condition").contains("StatusCode != 429"))
        .expect("the last failure stands");
    assert_eq!(whens[stands].child("set-variable").attr("value"), "@(false)");
    assert!(whens[stands].find_all("return-response").is_empty());
    // … and only otherwise does the gateway answer 429 itself.
    let made_up = whens
        .iter()
        .position(|w| !w.find_all("return-response").is_empty() && w.find_all("set-status")[0].attr("code") == "429");
    assert!(made_up.is_some_and(|m| m > stands));
    // A pass-through backend's 401/403 is the client's: returned as is, no failover.
    let retryable =
        choose.child("otherwise").find_all("when").into_iter().find(|w| w.attr("condition").contains("429")).unwrap();
    assert!(retryable.attr("condition").contains("!= \"none\""), "{}", retryable.attr("condition"));
}

#[test]
fn the_backend_is_named_only_to_callers_that_ask() {
    let root = parse(&render(FULL, Strategy::Policy));
    let outbound = root.child("outbound");
    let direct: Vec<&str> =
        outbound.children.iter().filter(|c| c.name == "set-header").map(|h| h.attr("name")).collect();
    assert_eq!(direct, ["x-oai-lb-attempts"]);
    let when = outbound.child("choose").child("when");
    assert!(when.attr("condition").contains(policy::SHOW_BACKEND_HEADER));
    let named: Vec<&str> = when.find_all("set-header").iter().map(|h| h.attr("name")).collect();
    assert_eq!(named, ["x-openai-backend-id", "x-oai-lb-backend"]);

    let to_all =
        FULL.replace("publisher_name = \"Contoso\"\n", "publisher_name = \"Contoso\"\nshow_backend_to_all = true\n");
    let root = parse(&render(&to_all, Strategy::Policy));
    let direct: Vec<&str> =
        root.child("outbound").children.iter().filter(|c| c.name == "set-header").map(|h| h.attr("name")).collect();
    assert_eq!(direct, ["x-openai-backend-id", "x-oai-lb-backend", "x-oai-lb-attempts"]);
}

#[test]
fn client_tokens_v1_and_v2_are_both_accepted() {
    let root = parse(&render(FULL, Strategy::Policy));
    let inbound = root.child("inbound");
    let jwt = inbound.child("validate-jwt");
    assert!(jwt.children.iter().all(|c| c.name != "required-claims"), "one required claim would refuse v1 or v2");
    assert_eq!(jwt.attr("output-token-variable-name"), "oaiLbClientToken");
    let check = inbound.child("choose").child("when");
    assert!(check.attr("condition").contains("\"azp\"") && check.attr("condition").contains("\"appid\""));
    assert_eq!(check.child("return-response").child("set-status").attr("code"), "401");
}

#[test]
fn what_the_strategy_needs_is_a_config_error() {
    let apim = |sku: &str, strategy: &str| {
        FULL.replace(
            "publisher_name = \"Contoso\"\n",
            &format!("publisher_name = \"Contoso\"\nsku = \"{sku}\"\nstrategy = \"{strategy}\"\n"),
        )
    };
    config(FULL); // sets the api-key variable the config names
    let parse_err = |text: &str| Config::parse(Path::new("oai-lb.toml"), text).unwrap_err();
    for strategy in ["policy", "pool"] {
        let e = parse_err(&apim("Consumption", strategy));
        assert_eq!(e.key, "apim.sku");
        assert!(e.problem.contains("Consumption") && e.fix.contains("BasicV2"), "{e}");
    }
    let e = parse_err(&apim("Developer", "pool"));
    assert_eq!(e.key, "apim.strategy");
    assert!(e.problem.contains("eastus-ptu") && e.fix.contains("strategy = \"policy\""), "{e}");
    config(&apim("Developer", "policy"));
    config(&apim("StandardV2", "policy"));
}

#[test]
fn circuit_breakers_only_for_the_pool() {
    let breakers = |text: &str| {
        let config = config(text);
        let keys = oai_lb::azure::BackendKeys::new(
            config.backends.iter().map(|b| (b.name.clone(), "not-a-real-key".to_string())),
        );
        let stack = oai_lb::azure::Stack::new(&config, &keys).unwrap();
        stack
            .of_kind(oai_lb::azure::Kind::Backend)
            .filter(|b| b.body()["properties"]["type"] == "Single")
            .map(|b| b.body()["properties"].get("circuitBreaker").is_some())
            .collect::<Vec<_>>()
    };
    // Under the smart policy one 429 on any deployment would trip the whole backend.
    assert_eq!(breakers(FULL), [false, false, false, false]);
    assert_eq!(breakers(ENTRA_ONLY), [true, true]);
}
