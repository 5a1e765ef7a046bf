//! The pool strategy: APIM chooses. One `Pool` backend lists the backends with priority and
//! weight; each backend's circuit breaker (accepting `Retry-After`) takes it out while it is
//! throttled, and a `<retry>` sends a failed request straight back to the pool.

use super::common::{self, RETRYABLE};
use super::xml::Element;
use super::{Options, POOL_BACKEND_ID};

pub(super) fn document(options: &Options, backend_count: usize) -> Element {
    let mut inbound = common::section("inbound");
    if options.validates_clients() {
        inbound = inbound.child(common::validate_jwt());
    }
    if options.entra_backends {
        inbound = inbound
            .comment("Backends that use Entra get APIM's managed identity token; key backends send their api-key.")
            .child(common::managed_identity_token())
            .child(common::bearer_header());
    }
    // One retry per other backend: the circuit breaker has taken the failed one out of the pool.
    let retries = backend_count.max(1);
    let backend = Element::new("backend").child(
        Element::new("retry")
            .attr("condition", format!("@({RETRYABLE})"))
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
