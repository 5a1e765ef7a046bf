//! SEAM: the API policy until `src/policy` (written in parallel) is connected here. The
//! owner replaces the body of [`policy_xml`] with a call into `crate::policy`; `deploy` and
//! its tests only rely on it returning valid `rawxml` that names existing backends and
//! named values.

use super::GatewayBackend;
use super::stack::{CLIENT_ID_VALUE, POOL_ID};
use crate::config::{BackendAuth, Config, Strategy};

/// A minimal valid policy: Entra auth to the backends through the identity (when any
/// backend uses it) and `set-backend-service` to the first backend, or to the pool with the
/// `pool` strategy.
pub fn policy_xml(config: &Config, backends: &[GatewayBackend]) -> String {
    let pool = config.apim.as_ref().is_some_and(|a| a.strategy == Strategy::Pool);
    let target = if pool { POOL_ID } else { backends.first().map(|b| b.name.as_str()).unwrap_or(POOL_ID) };
    let entra = if backends.iter().any(|b| b.auth == BackendAuth::Entra) {
        format!(
            r#"
    <authentication-managed-identity resource="https://cognitiveservices.azure.com" client-id="{{{{{CLIENT_ID_VALUE}}}}}" output-token-variable-name="msi-access-token" ignore-error="false" />
    <set-header name="Authorization" exists-action="override">
      <value>@("Bearer " + (string)context.Variables["msi-access-token"])</value>
    </set-header>"#
        )
    } else {
        String::new()
    };
    format!(
        r#"<policies>
  <inbound>
    <base />{entra}
    <set-backend-service backend-id="{target}" />
  </inbound>
  <backend>
    <forward-request buffer-request-body="true" />
  </backend>
  <outbound>
    <base />
  </outbound>
  <on-error>
    <base />
  </on-error>
</policies>"#
    )
}
