//! The rendered APIM policies: pinned with snapshots, parsed back as XML and checked for the
//! structure APIM needs, and cross-checked against the named values `deploy` creates.

use std::collections::BTreeMap;
use std::path::Path;

use oai_lb::config::{Config, Strategy};
use oai_lb::policy::{self, POOL_BACKEND_ID, PolicyError};
use quick_xml::events::Event;

mod policy_configs;
use policy_configs::{FULL, PRIMARY};

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
fn pool_snapshot() {
    insta::assert_snapshot!("pool_full", render(FULL, Strategy::Pool));
}

#[test]
fn rendering_is_deterministic() {
    for strategy in [Strategy::Policy, Strategy::Pool] {
        assert_eq!(render(FULL, strategy), render(FULL, strategy));
    }
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
        [(FULL, Strategy::Policy), (FULL, Strategy::Pool), (PRIMARY, Strategy::Policy), (PRIMARY, Strategy::Pool)]
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
    let root = parse(&render(FULL, Strategy::Pool));
    let backend = root.child("backend");
    assert_eq!(backend.children.len(), 1);
    let retry = backend.child("retry");
    assert_eq!(retry.attr("first-fast-retry"), "true");
    assert_eq!(retry.child("set-backend-service").attr("backend-id"), POOL_BACKEND_ID);
    assert_eq!(retry.child("forward-request").attr("buffer-request-body"), "true");
    assert!(root.find_all("cache-lookup-value").is_empty(), "APIM keeps the state of a pool");
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
    let edited = xml.replace("duration=\"86400\"", "duration=\"60\"");
    let diff = policy::diff(&edited, &xml).unwrap().expect("an out-of-band edit is drift");
    let changed: Vec<String> = diff
        .lines()
        .filter(|l| l.starts_with(['-', '+']) && !l.starts_with("---") && !l.starts_with("+++"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(changed, ["- duration=60", "+ duration=86400", "- duration=60", "+ duration=86400"], "{diff}");
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
        for text in [FULL, PRIMARY] {
            let xml = render(text, strategy);
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
