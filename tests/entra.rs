//! `auth = "entra"` backends get a bearer token from azure_identity (here the Azure CLI
//! credential, answered by the fake `az` in tests/bin), never the client's credentials.

mod support;

use oai_lb::credential::CredentialKind;
use support::{Backend, Balancer, CHAT, Reply};

#[tokio::test]
async fn entra_backends_get_a_bearer_token_instead_of_the_client_s_key() {
    let fake_az = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bin");
    // SAFETY: this test binary has one test; nothing else reads PATH concurrently.
    unsafe { std::env::set_var("PATH", format!("{fake_az}:{}", std::env::var("PATH").unwrap_or_default())) };
    let backend = Backend::always(|| Reply::ok("{}")).await;
    let toml = format!("[[backends]]\nname = \"aad\"\nurl = \"{}\"\nauth = \"entra\"\n", backend.url());
    let options = oai_lb::proxy::ServeOptions { credential: CredentialKind::Cli, ..Default::default() };
    let lb = Balancer::start_with(&toml, options).await;
    for _ in 0..3 {
        let r =
            support::client().post(lb.url(CHAT)).header("api-key", "client-secret").body("{}").send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    for seen in backend.seen() {
        assert_eq!(seen.headers["authorization"], "Bearer fake-arm-token");
        assert!(!seen.headers.contains_key("api-key"), "the client's key is not forwarded");
    }
}
