//! `deploy/kubernetes`: every manifest validates against the Kubernetes 1.31 schemas in
//! strict mode (`kubernetes-validate`, offline), the kustomization lists every manifest and
//! generates the ConfigMap from `oai-lb.toml`, that file is a config `oai-lb serve` starts
//! with, and the Deployment agrees with it (port, the variables it names, the drain).
//!
//! Needs `kubernetes-validate` (PyPI) and PyYAML, which it brings: `./scripts/test`
//! installs it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const KUBERNETES_VERSION: &str = "1.31.0";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

fn need_validator() {
    let found = Command::new("kubernetes-validate").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "this test needs kubernetes-validate (pip install kubernetes-validate; ./scripts/test installs it)");
}

/// Every document of a YAML file, as JSON (PyYAML comes with kubernetes-validate).
fn yaml(path: &Path) -> Vec<Value> {
    let out = Command::new("python3")
        .args(["-c", "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))"])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}: {} (PyYAML comes with kubernetes-validate: ./scripts/test installs it)",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn validate(files: &[PathBuf]) -> Result<(), String> {
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "--kubernetes-version", KUBERNETES_VERSION])
        .args(files)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() && !text.contains("ERROR") { Ok(()) } else { Err(text) }
}

fn kustomization() -> Value {
    yaml(&dir().join("kustomization.yaml")).remove(0)
}

fn deployment() -> Value {
    yaml(&dir().join("deployment.yaml")).remove(0)
}

#[test]
fn every_manifest_validates_against_the_kubernetes_schemas_in_strict_mode() {
    need_validator();
    let kustomization = kustomization();
    let resources: Vec<PathBuf> =
        kustomization["resources"].as_array().unwrap().iter().map(|r| dir().join(r.as_str().unwrap())).collect();
    let mut on_disk: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml"))
        .collect();
    on_disk.sort();
    let mut listed = resources.clone();
    listed.sort();
    assert_eq!(listed, on_disk, "kustomization.yaml lists every manifest");
    validate(&resources).unwrap();

    // The ConfigMap kustomize generates from oai-lb.toml, validated too.
    let generator = &kustomization["configMapGenerator"][0];
    assert_eq!(generator["files"], serde_json::json!(["oai-lb.toml"]));
    let config_map = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": generator["name"] },
        "data": { "oai-lb.toml": std::fs::read_to_string(dir().join("oai-lb.toml")).unwrap() },
    });
    let generated = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(generated.path(), config_map.to_string()).unwrap(); // JSON is YAML
    validate(&[generated.path().to_path_buf()]).unwrap();

    // The validator does reject what Kubernetes would.
    let mut broken = deployment();
    broken["spec"]["replica"] = 3.into();
    std::fs::write(generated.path(), broken.to_string()).unwrap();
    let err = validate(&[generated.path().to_path_buf()]).unwrap_err();
    assert!(err.contains("'replica' was unexpected"), "{err}");
}

#[test]
fn the_deployment_runs_three_hardened_replicas_with_probes_limits_and_a_long_enough_drain() {
    let d = deployment();
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 3);
    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532, "the image's user");
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(container["resources"][kind][resource].is_string(), "{kind}.{resource} is set");
        }
    }
    let annotations = &spec["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/path"], "/metrics");

    // The grace period covers the preStop sleep and oai-lb's whole drain (30 s after
    // SIGTERM), and the config's request deadline keeps every response head within it.
    let config = oai_lb::config::Config::load(&dir().join("oai-lb.toml")).unwrap();
    let grace = pod["terminationGracePeriodSeconds"].as_f64().unwrap();
    let pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"].as_f64().unwrap();
    const DRAIN_SECS: f64 = 30.0;
    assert!(grace > pre_stop + DRAIN_SECS, "grace {grace} s > preStop {pre_stop} s + drain {DRAIN_SECS} s");
    assert!(config.balancer.request_timeout_secs <= DRAIN_SECS, "a response head arrives within the drain");

    // The container port is the config's, and the Deployment fills exactly the variables
    // the config names, from the Secret.
    let port = container["ports"][0]["containerPort"].as_u64().unwrap();
    assert_eq!(config.listen_addr().port() as u64, port);
    let mut named: Vec<String> = config.backends.iter().filter_map(|b| b.api_key_env.clone()).collect();
    named.extend(config.balancer.client_keys_env.clone());
    named.sort();
    let mut from_secret: Vec<String> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["valueFrom"]["secretKeyRef"].is_object())
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    from_secret.sort();
    assert_eq!(from_secret, named);
    assert!(
        !std::fs::read_to_string(dir().join("oai-lb.toml")).unwrap().contains("api_key ="),
        "no secret in the ConfigMap"
    );
    let mounted = &container["volumeMounts"][0];
    assert_eq!(mounted["mountPath"], "/etc/oai-lb", "where the image reads OAI_LB_CONFIG");
}

/// The ConfigMap's file is a config `oai-lb serve` starts with (its Redis is not there:
/// the replica serves degraded), given the variables the Deployment sets.
#[test]
fn the_configmap_file_starts_oai_lb_serve() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_oai-lb"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--config"])
        .arg(dir().join("oai-lb.toml"))
        .env_remove("OAI_LB_LISTEN")
        .env("OAI_LB_CLIENT_KEYS", "test-client-key")
        .env("AZURE_OPENAI_KEY_EAST", "test-key-east")
        .env("AZURE_OPENAI_KEY_WEST", "test-key-west")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let healthy = loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break true;
        }
        if serve.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = serve.kill();
    let _ = serve.wait();
    let mut stderr = String::new();
    serve.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(healthy, "oai-lb serve did not start with deploy/kubernetes/oai-lb.toml: {stderr}");
}
