//! The ARM client against a scripted server: retries honouring `Retry-After`, the three LRO
//! styles, failed operations, token caching, and refusing to poll another host.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::time::OffsetDateTime;
use bytes::Bytes;
use http_body_util::Full;
use oai_lb::arm::{ArmClient, ArmError, ArmSettings, RetryPolicy, Waiting};
use oai_lb::credential::{Credential, CredentialKind};
use serde_json::{Value, json};

/// Scripted answers per `METHOD path`, served in order; `{base}` in headers is the server URL.
type Script = HashMap<String, VecDeque<(u16, Vec<(&'static str, String)>, Value)>>;

/// One scripted answer: `METHOD path`, status, headers, body.
type Step<'a> = (&'a str, u16, Vec<(&'static str, &'a str)>, Value);

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

fn serve(script: Vec<Step<'_>>) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut answers: Script = HashMap::new();
    for (key, status, headers, body) in script {
        let headers = headers.into_iter().map(|(k, v)| (k, v.replace("{base}", &url))).collect();
        answers.entry(key.to_string()).or_default().push_back((status, headers, body));
    }
    let answers = Arc::new(Mutex::new(answers));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (answers, seen) = (answers.clone(), recorded.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let key = format!("{} {}", req.method(), req.uri().path());
                        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
                        seen.lock().unwrap().push((key.clone(), auth.to_string()));
                        let next = answers.lock().unwrap().get_mut(&key).and_then(VecDeque::pop_front);
                        let (status, headers, body) =
                            next.unwrap_or((418, vec![], json!({"error": {"code": "Unscripted", "message": key}})));
                        let mut response = hyper::Response::builder().status(status).header("x-ms-request-id", "req-1");
                        for (k, v) in headers {
                            response = response.header(k, v);
                        }
                        let text = if body.is_null() { String::new() } else { body.to_string() };
                        async move { Ok::<_, Infallible>(response.body(Full::new(Bytes::from(text))).unwrap()) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    Server { url, seen }
}

#[derive(Debug, Default)]
struct CountingCredential {
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl TokenCredential for CountingCredential {
    async fn get_token(&self, _: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(AccessToken::new("test-token", OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1)))
    }
}

fn client(url: &str) -> (ArmClient, Arc<CountingCredential>) {
    let counting = Arc::new(CountingCredential::default());
    let credential = Credential::from_token_credential(CredentialKind::Cli, counting.clone());
    let settings = ArmSettings {
        endpoint: url.to_string(),
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(5),
            refused_attempts: 3,
        },
        poll_interval: Duration::from_millis(5),
        operation_timeout: Duration::from_secs(30),
        principal_wait: Duration::from_secs(2),
    };
    (ArmClient::new(settings, credential).unwrap(), counting)
}

const RES: &str = "/subscriptions/s/resourceGroups/rg/providers/X.Y/things/a";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn throttling_is_retried_after_the_servers_retry_after() {
    let server = serve(vec![
        (&format!("GET {RES}"), 429, vec![("retry-after", "1")], json!({"error": {"code": "TooManyRequests"}})),
        (&format!("GET {RES}"), 503, vec![], Value::Null),
        (&format!("GET {RES}"), 200, vec![], json!({"name": "a"})),
    ]);
    let (client, credential) = client(&server.url);
    let heard = hear_waiting(&client);
    let started = Instant::now();
    let got = rt().block_on(client.get_json(RES, "2024-01-01")).unwrap();
    assert_eq!(got["name"], "a");
    assert!(started.elapsed() >= Duration::from_secs(1), "waited {:?}", started.elapsed());
    let heard = heard.lock().unwrap().clone();
    assert_eq!(heard.len(), 3, "{heard:?}");
    assert_eq!(heard[0], "ARM throttling (429) retry 1/3 wait 1000 ms");
    assert!(heard[1].starts_with("ARM busy (503) retry 2/3 wait "), "{heard:?}");
    assert_eq!(heard[2], "ended");
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|(_, auth)| auth == "Bearer test-token"));
    assert_eq!(credential.calls.load(Ordering::SeqCst), 1, "the token is cached");
}

#[test]
fn missing_resources_are_none_and_errors_name_code_and_request_id() {
    let server = serve(vec![
        (&format!("GET {RES}"), 404, vec![], json!({"error": {"code": "ResourceNotFound", "message": "gone"}})),
        (
            &format!("PUT {RES}"),
            400,
            vec![],
            json!({"error": {"code": "InvalidRequestContent", "message": "bad body"}}),
        ),
    ]);
    let (client, _) = client(&server.url);
    let rt = rt();
    assert!(rt.block_on(client.get_optional(RES, "v")).unwrap().is_none());
    let e = rt.block_on(client.put_json(RES, "v", &json!({}), None)).unwrap_err();
    assert_eq!(e.to_string(), "ARM 400 InvalidRequestContent: bad body (request id req-1)");
}

#[test]
fn follows_azure_async_operation_then_reads_the_resource() {
    let op = "/ops/1";
    let server = serve(vec![
        (&format!("PUT {RES}"), 201, vec![("azure-asyncoperation", "{base}/ops/1")], json!({})),
        (&format!("GET {op}"), 200, vec![("retry-after", "0")], json!({"status": "InProgress"})),
        (&format!("GET {op}"), 200, vec![], json!({"status": "Succeeded"})),
        (&format!("GET {RES}"), 200, vec![], json!({"properties": {"provisioningState": "Succeeded"}})),
    ]);
    let (client, _) = client(&server.url);
    let states = Mutex::new(Vec::new());
    let report = |s: &str| states.lock().unwrap().push(s.to_string());
    let got = rt().block_on(client.put_json(RES, "v", &json!({}), Some(&report))).unwrap();
    assert_eq!(got["properties"]["provisioningState"], "Succeeded");
    assert_eq!(*states.lock().unwrap(), vec!["InProgress", "Succeeded"]);
}

#[test]
fn follows_location_until_it_stops_answering_202() {
    let server = serve(vec![
        (&format!("POST {RES}/act"), 202, vec![("location", "{base}/results/1")], Value::Null),
        ("GET /results/1", 202, vec![("location", "{base}/results/1")], Value::Null),
        ("GET /results/1", 200, vec![], json!({"done": true})),
    ]);
    let (client, _) = client(&server.url);
    let got = rt().block_on(client.post_json(&format!("{RES}/act"), "v", None)).unwrap();
    assert_eq!(got["done"], true);
}

#[test]
fn polls_provisioning_state_without_operation_headers() {
    let server = serve(vec![
        (&format!("PUT {RES}"), 201, vec![], json!({"properties": {"provisioningState": "Creating"}})),
        (&format!("GET {RES}"), 200, vec![], json!({"properties": {"provisioningState": "Creating"}})),
        (&format!("GET {RES}"), 200, vec![], json!({"properties": {"provisioningState": "Succeeded"}})),
    ]);
    let (client, _) = client(&server.url);
    let got = rt().block_on(client.put_json(RES, "v", &json!({}), None)).unwrap();
    assert_eq!(got["properties"]["provisioningState"], "Succeeded");
    assert_eq!(server.seen.lock().unwrap().len(), 3);
}

#[test]
fn a_failed_operation_is_an_error_with_its_code() {
    let server = serve(vec![
        (&format!("PUT {RES}"), 201, vec![("azure-asyncoperation", "{base}/ops/9")], json!({})),
        (
            "GET /ops/9",
            200,
            vec![],
            json!({"status": "Failed", "error": {"code": "QuotaExceeded", "message": "no capacity"}}),
        ),
    ]);
    let (client, _) = client(&server.url);
    let e = rt().block_on(client.put_json(RES, "v", &json!({}), None)).unwrap_err();
    assert!(matches!(e, ArmError::Operation { .. }));
    assert_eq!(e.to_string(), "ARM operation Failed QuotaExceeded: no capacity (request id req-1)");
}

#[test]
fn principal_not_found_is_retried() {
    let not_found = json!({"error": {"code": "PrincipalNotFound", "message": "not replicated"}});
    let server = serve(vec![
        (&format!("PUT {RES}"), 400, vec![], not_found.clone()),
        (&format!("PUT {RES}"), 400, vec![], not_found),
        (&format!("PUT {RES}"), 201, vec![], json!({"properties": {"principalId": "p"}})),
    ]);
    let (client, _) = client(&server.url);
    let got = rt().block_on(client.put_json(RES, "v", &json!({}), None)).unwrap();
    assert_eq!(got["properties"]["principalId"], "p");
}

#[test]
fn never_polls_another_host_with_the_token() {
    let server = serve(vec![(
        &format!("PUT {RES}"),
        201,
        vec![("azure-asyncoperation", "https://elsewhere.example.com/ops/1")],
        json!({}),
    )]);
    let (client, _) = client(&server.url);
    let e = rt().block_on(client.put_json(RES, "v", &json!({}), None)).unwrap_err();
    assert!(e.to_string().contains("not on the ARM endpoint"), "{e}");
}

#[test]
fn an_unreachable_endpoint_is_a_transport_error_after_retries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (client, _) = client(&format!("http://127.0.0.1:{port}"));
    let heard = hear_waiting(&client);
    let e = rt().block_on(client.get_optional(RES, "v")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot reach ARM at http://127.0.0.1:{port}: connection refused (3 attempts) (fix: check the network, any proxy, and the ARM endpoint: --arm-endpoint / OAI_LB_ARM_ENDPOINT)"
        )
    );
    // A refused connection is retried twice, quickly (5 ms, then 10 ms), not backed off.
    let heard = heard.lock().unwrap().clone();
    assert_eq!(
        heard,
        vec![
            "ARM unreachable (connection refused) retry 1/2 wait 5 ms".to_string(),
            "ARM unreachable (connection refused) retry 2/2 wait 10 ms".to_string(),
            "ended".to_string(),
        ]
    );
}

/// What the client reports while it waits, one line per report.
fn hear_waiting(client: &ArmClient) -> Arc<std::sync::Mutex<Vec<String>>> {
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = heard.clone();
    client.on_wait(Arc::new(move |waiting| {
        let line = match waiting {
            Waiting::Retry { reason, retry, of, wait, .. } => {
                format!("{reason} retry {retry}/{of} wait {} ms", wait.as_millis())
            }
            Waiting::Ended => "ended".to_string(),
        };
        sink.lock().unwrap().push(line);
    }));
    heard
}

#[test]
fn the_result_location_after_a_post_must_be_on_the_arm_host_too() {
    let elsewhere = serve(vec![("GET /steal", 200, vec![], json!({"stolen": true}))]);
    let location = format!("{}/steal", elsewhere.url);
    let server = serve(vec![
        (
            &format!("POST {RES}/act"),
            202,
            vec![("azure-asyncoperation", "{base}/ops/2"), ("location", &location)],
            Value::Null,
        ),
        ("GET /ops/2", 200, vec![], json!({"status": "Succeeded"})),
    ]);
    let (client, _) = client(&server.url);
    let e = rt().block_on(client.post_json(&format!("{RES}/act"), "v", None)).unwrap_err();
    assert!(e.to_string().contains("not on the ARM endpoint"), "{e}");
    assert!(elsewhere.seen.lock().unwrap().is_empty(), "the token never went to another host");
}
