//! The pool strategy: APIM chooses. One `Pool` backend lists the backends with priority and
//! weight; each backend's circuit breaker (accepting `Retry-After`) takes it out while it is
//! throttled, and a `<retry>` sends a failed request straight back to the pool.
//!
//! The policy cannot know which member APIM will pick, so headers are the same for all:
//! APIM's managed-identity token only when every member is an Entra backend (a mixed pool is
//! refused by [`super::pool_auth`]); api-key members get their key from their backend
//! resource and no `Authorization` at all.

use super::common;
use super::xml::Element;
use super::{Options, POOL_BACKEND_ID};

pub(super) fn document(options: &Options, backend_count: usize) -> Element {
    let mut inbound = common::section("inbound");
    if options.validates_clients() {
        inbound = inbound.children(common::validate_client());
    }
    if options.entra_backends {
        inbound = inbound
            .comment("Every backend uses Entra: APIM's managed identity token.")
            .child(common::managed_identity_token())
            .child(common::bearer_header());
    } else if !options.passes_client_authorization() {
        inbound = inbound
            .comment("No backend takes an Authorization header from here (api-keys come from the backend resources).")
            .child(common::drop_authorization());
    }
    if options.token_metrics {
        inbound = inbound
            .comment("Tokens per backend and deployment to Application Insights ([monitoring]).")
            .child(common::emit_token_metric(super::smart::DEPLOYMENT_EXPR));
    }
    // One retry per other backend: the circuit breaker has taken the failed one out of the pool.
    let retries = backend_count.max(1);
    let backend = Element::new("backend").child(
        Element::new("retry")
            .attr("condition", common::pool_retryable(options))
            .attr("count", retries.to_string())
            .attr("interval", "1")
            .attr("first-fast-retry", "true")
            .child(Element::new("set-backend-service").attr("backend-id", POOL_BACKEND_ID))
            .child(common::forward_request(options.timeout_secs)),
    );
    Element::new("policies")
        .child(inbound)
        .child(backend)
        .child(common::section("outbound"))
        .child(common::section("on-error"))
}
