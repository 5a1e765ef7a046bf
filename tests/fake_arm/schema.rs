//! The specs: operations by path template and method, and body validation against their
//! Swagger 2.0 schemas with `$ref`s resolved across files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A body schema: the node and the file its `$ref`s are relative to.
#[derive(Debug, Clone)]
pub struct Schema {
    pub file: PathBuf,
    pub node: Value,
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Param,
    /// `{scope}`: one or more segments.
    Scope,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub method: String,
    pub template: String,
    segments: Vec<Segment>,
    pub api_version: String,
    pub long_running: bool,
    pub body: Option<Schema>,
}

/// Every spec file under `tests/armspecs/specification`, and the operations they define.
pub struct Specs {
    files: HashMap<PathBuf, Value>,
    pub operations: Vec<Operation>,
}

impl Specs {
    pub fn load(dir: &Path) -> Specs {
        let mut files = HashMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("spec dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let text = std::fs::read_to_string(&path).expect("spec");
                    let value: Value = serde_json::from_str(&text).expect("spec JSON");
                    files.insert(path.canonicalize().expect("canonical"), value);
                }
            }
        }
        let mut specs = Specs { files, operations: Vec::new() };
        let mut operations = Vec::new();
        for (file, doc) in &specs.files {
            let Some(paths) = doc.get("paths").and_then(Value::as_object) else { continue };
            let version = doc.pointer("/info/version").and_then(Value::as_str).unwrap_or("").to_string();
            for (template, item) in paths {
                let shared: Vec<Value> = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
                for (method, op) in item.as_object().into_iter().flatten() {
                    if method == "parameters" {
                        continue;
                    }
                    let mut params = shared.clone();
                    params.extend(op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default());
                    let body = params.iter().find_map(|p| {
                        let (pfile, p) = specs.deref(file, p);
                        (p.get("in").and_then(Value::as_str) == Some("body"))
                            .then(|| Schema { file: pfile, node: p.get("schema").cloned().unwrap_or(Value::Null) })
                    });
                    operations.push(Operation {
                        method: method.to_ascii_uppercase(),
                        template: template.clone(),
                        segments: parse_template(template),
                        api_version: version.clone(),
                        long_running: op.get("x-ms-long-running-operation").and_then(Value::as_bool).unwrap_or(false),
                        body,
                    });
                }
            }
        }
        specs.operations = operations;
        specs
    }

    /// The most specific operation (most literal segments) matching `method path`.
    pub fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method == method && matches(&op.segments, &segments))
            .max_by_key(|op| op.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count())
    }

    /// Follows a `$ref` (if any) to the node it names, returning the node's file.
    fn deref(&self, file: &Path, node: &Value) -> (PathBuf, Value) {
        let mut file = file.to_path_buf();
        let mut node = node.clone();
        for _ in 0..32 {
            let Some(reference) = node.get("$ref").and_then(Value::as_str) else { break };
            let (target, pointer) = reference.split_once('#').unwrap_or((reference, ""));
            if !target.is_empty() {
                file = file.parent().expect("dir").join(target).canonicalize().unwrap_or_else(|_| panic!("{target}"));
            }
            let doc = self.files.get(&file).unwrap_or_else(|| panic!("spec {} not loaded", file.display()));
            let mut next = doc.pointer(pointer).cloned().unwrap_or_else(|| panic!("{reference} not found"));
            // Sibling keywords of a $ref (readOnly, description) apply too.
            if let (Some(obj), Some(outer)) = (next.as_object_mut(), node.as_object()) {
                for (k, v) in outer {
                    if k != "$ref" && k != "description" {
                        obj.entry(k.clone()).or_insert(v.clone());
                    }
                }
            }
            node = next;
        }
        (file, node)
    }

    /// Problems of `value` against `schema`; empty when it is valid.
    pub fn validate(&self, schema: &Schema, value: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        self.check(&schema.file, &schema.node, value, "body", &mut problems, 0);
        problems
    }

    fn check(&self, file: &Path, node: &Value, value: &Value, at: &str, problems: &mut Vec<String>, depth: usize) {
        if depth > 40 {
            return;
        }
        let (file, node) = self.deref(file, node);
        let mut shape = Shape::default();
        self.collect(&file, &node, &mut shape, 0);
        let ty = node.get("type").and_then(Value::as_str).or(if shape.properties.is_empty() {
            None
        } else {
            Some("object")
        });
        let ok = match (ty, value) {
            (None, _) => true,
            (Some("object"), Value::Object(_)) => true,
            (Some("string"), Value::String(_)) => true,
            (Some("boolean"), Value::Bool(_)) => true,
            (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Some("number"), Value::Number(_)) => true,
            (Some("array"), Value::Array(_)) => true,
            _ => false,
        };
        if !ok {
            problems.push(format!("{at}: expected {}, got {value}", ty.unwrap_or("?")));
            return;
        }
        if let Some(allowed) = node.get("enum").and_then(Value::as_array) {
            let open = node.pointer("/x-ms-enum/modelAsString").and_then(Value::as_bool).unwrap_or(false);
            if !open && !allowed.contains(value) {
                problems.push(format!("{at}: {value} is not one of {}", Value::Array(allowed.clone())));
            }
        }
        match value {
            Value::Array(items) => {
                if let Some(item) = node.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.check(&file, item, v, &format!("{at}[{i}]"), problems, depth + 1);
                    }
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    if let Some((pfile, prop)) = shape.properties.get(k) {
                        let (_, resolved) = self.deref(pfile, prop);
                        if prop.get("readOnly") == Some(&Value::Bool(true))
                            || resolved.get("readOnly") == Some(&Value::Bool(true))
                        {
                            problems.push(format!("{at}.{k}: is readOnly and may not be sent"));
                            continue;
                        }
                        self.check(pfile, prop, v, &format!("{at}.{k}"), problems, depth + 1);
                    } else if let Some((afile, extra)) = &shape.additional {
                        if extra.is_object() {
                            self.check(afile, extra, v, &format!("{at}.{k}"), problems, depth + 1);
                        }
                    } else if !shape.properties.is_empty() {
                        problems.push(format!("{at}.{k}: unknown property"));
                    }
                }
                let pool = map.get("type").and_then(Value::as_str) == Some("Pool");
                for r in &shape.required {
                    // The official examples create a Pool backend without url/protocol.
                    if pool && (r == "url" || r == "protocol") {
                        continue;
                    }
                    if !map.contains_key(r) {
                        problems.push(format!("{at}.{r}: is required"));
                    }
                }
            }
            _ => {}
        }
    }

    /// Properties, required names and additionalProperties, merged over `allOf`.
    fn collect(&self, file: &Path, node: &Value, shape: &mut Shape, depth: usize) {
        if depth > 20 {
            return;
        }
        let (file, node) = self.deref(file, node);
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                shape.properties.entry(k.clone()).or_insert((file.clone(), v.clone()));
            }
        }
        if let Some(req) = node.get("required").and_then(Value::as_array) {
            shape.required.extend(req.iter().filter_map(Value::as_str).map(str::to_string));
        }
        if let Some(extra) = node.get("additionalProperties") {
            shape.additional.get_or_insert((file.clone(), extra.clone()));
        }
        for part in node.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            self.collect(&file, part, shape, depth + 1);
        }
    }
}

#[derive(Default)]
struct Shape {
    properties: HashMap<String, (PathBuf, Value)>,
    required: Vec<String>,
    additional: Option<(PathBuf, Value)>,
}

fn parse_template(template: &str) -> Vec<Segment> {
    template
        .trim_matches('/')
        .split('/')
        .map(|s| match s {
            "{scope}" => Segment::Scope,
            s if s.starts_with('{') && s.ends_with('}') => Segment::Param,
            s => Segment::Literal(s.to_ascii_lowercase()),
        })
        .collect()
}

fn matches(template: &[Segment], path: &[&str]) -> bool {
    match (template.first(), path.first()) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(Segment::Literal(l)), Some(p)) => l.eq_ignore_ascii_case(p) && matches(&template[1..], &path[1..]),
        (Some(Segment::Param), Some(p)) => !p.is_empty() && matches(&template[1..], &path[1..]),
        (Some(Segment::Scope), Some(_)) => (1..=path.len()).any(|n| matches(&template[1..], &path[n..])),
    }
}
