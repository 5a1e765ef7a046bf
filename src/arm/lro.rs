//! The long-running-operation poller of the ARM contract: follow `Azure-AsyncOperation`,
//! else `Location`, else the resource's own `properties.provisioningState`, until
//! `Succeeded`, `Failed` or `Canceled`, honouring `Retry-After` between polls.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::error::{error_parts, or_unknown};
use super::{ArmClient, ArmError, Progress, Reply, header, retry};

/// Turns the first answer of a write into its final result: the resource after a PUT or
/// PATCH, the operation's result after a POST, `Null` after a DELETE.
pub(super) async fn finish(
    client: &ArmClient,
    method: Method,
    url: &str,
    first: Reply,
    progress: Progress<'_>,
) -> Result<Value, ArmError> {
    let started = Instant::now();
    let async_op = header(&first.headers, "azure-asyncoperation");
    let location = header(&first.headers, "location");
    // A bare 202 (no operation header, no state) means: look at the resource until it says.
    let mut accepted = first.status == 202;
    let report = |state: &str| {
        if let Some(report) = progress {
            report(state);
        }
    };

    if !async_op.is_empty() {
        let mut wait = retry::retry_after(&first.headers);
        loop {
            sleep_poll(client, wait, started).await?;
            let reply = poll(client, &async_op).await?;
            let body = reply.json(&async_op)?;
            let state = body.get("status").and_then(Value::as_str).unwrap_or("InProgress").to_string();
            report(&state);
            match state.as_str() {
                "Succeeded" => break,
                "Failed" | "Canceled" => return Err(operation_failed(&state, &body, &reply.request_id)),
                _ => wait = retry::retry_after(&reply.headers),
            }
        }
        return match method {
            Method::DELETE => Ok(Value::Null),
            Method::POST if !location.is_empty() => {
                on_arm(client, &location)?;
                client.send(Method::GET, &location, None).await?.json(&location)
            }
            Method::POST => Ok(Value::Null),
            _ => resource_state(client, url).await,
        };
    }

    if first.status == 202 && !location.is_empty() {
        let mut wait = retry::retry_after(&first.headers);
        loop {
            sleep_poll(client, wait, started).await?;
            let reply = poll(client, &location).await?;
            if reply.status == 202 {
                report("InProgress");
                wait = retry::retry_after(&reply.headers);
                continue;
            }
            report("Succeeded");
            return reply.json(&location);
        }
    }

    let body = first.json(url)?;
    if method == Method::DELETE || method == Method::POST {
        return Ok(body);
    }
    // No operation to follow: the resource itself says how far it got.
    let mut body = body;
    let mut request_id = first.request_id.clone();
    loop {
        let state = provisioning_state(&body);
        match state.as_deref() {
            None if !accepted => return Ok(body),
            Some("Succeeded") => return Ok(body),
            Some(s @ ("Failed" | "Canceled")) => return Err(operation_failed(s, &body, &request_id)),
            other => report(other.unwrap_or("Accepted")),
        }
        sleep_poll(client, None, started).await?;
        let reply = client.send(Method::GET, url, None).await?;
        if !reply.success() {
            return Err(reply.into_error());
        }
        request_id = reply.request_id.clone();
        body = reply.json(url)?;
        accepted = false;
    }
}

async fn resource_state(client: &ArmClient, url: &str) -> Result<Value, ArmError> {
    let reply = client.send(Method::GET, url, None).await?;
    if !reply.success() {
        return Err(reply.into_error());
    }
    reply.json(url)
}

/// Every URL ARM hands us to follow (with our token) must be on the ARM endpoint.
fn on_arm(client: &ArmClient, url: &str) -> Result<(), ArmError> {
    if client.same_origin(url) {
        return Ok(());
    }
    Err(ArmError::Protocol {
        url: url.to_string(),
        message: format!("operation URL is not on the ARM endpoint {}", client.endpoint()),
    })
}

async fn poll(client: &ArmClient, url: &str) -> Result<Reply, ArmError> {
    on_arm(client, url)?;
    let reply = client.send(Method::GET, url, None).await?;
    if reply.success() { Ok(reply) } else { Err(reply.into_error()) }
}

async fn sleep_poll(client: &ArmClient, retry_after: Option<Duration>, started: Instant) -> Result<(), ArmError> {
    let settings = client.settings();
    if started.elapsed() > settings.operation_timeout {
        return Err(ArmError::Protocol {
            url: client.endpoint().to_string(),
            message: format!("operation still running after {:?}; run the command again to resume", started.elapsed()),
        });
    }
    tokio::time::sleep(poll_wait(retry_after, settings.poll_interval, settings.retry.max_delay)).await;
    Ok(())
}

/// The wait before the next poll: ARM's `Retry-After`, else the poll interval; never more
/// than `max`, and never less than a second (`Retry-After: 0` must not make a busy loop),
/// unless the configured interval itself is shorter (tests).
fn poll_wait(retry_after: Option<Duration>, interval: Duration, max: Duration) -> Duration {
    const MIN_POLL: Duration = Duration::from_secs(1);
    retry_after.unwrap_or(interval).max(MIN_POLL.min(interval)).min(max)
}

fn provisioning_state(body: &Value) -> Option<String> {
    body.pointer("/properties/provisioningState").and_then(Value::as_str).map(str::to_string)
}

fn operation_failed(state: &str, body: &Value, request_id: &str) -> ArmError {
    let (code, message) = error_parts(body.to_string().as_bytes())
        .filter(|(code, _)| !code.is_empty())
        .unwrap_or_else(|| (state.to_string(), "the operation ended without details".to_string()));
    ArmError::Operation { state: state.to_string(), code, message, request_id: or_unknown(request_id) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_zero_polls_at_most_once_a_second() {
        let (interval, max) = (Duration::from_secs(5), Duration::from_secs(60));
        assert_eq!(poll_wait(Some(Duration::ZERO), interval, max), Duration::from_secs(1));
        assert_eq!(poll_wait(Some(Duration::from_secs(3)), interval, max), Duration::from_secs(3));
        assert_eq!(poll_wait(None, interval, max), interval);
        assert_eq!(poll_wait(Some(Duration::from_secs(600)), interval, max), max);
        let fast = Duration::from_millis(10);
        assert_eq!(poll_wait(Some(Duration::ZERO), fast, max), fast, "test settings poll fast");
    }
}
