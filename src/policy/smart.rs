//! The smart policy: the load-balancing algorithm of `src/lb`, as APIM policy expressions.
//!
//! Shape (after Azure-Samples/openai-apim-lb, improved):
//! - `<inbound>` reads the backend list from the `oai-lb-backends` named value, works out the
//!   request's deployment (path `/deployments/{name}/`, else the body's `model` on `/v1/`
//!   paths) and the cache key of the cooldowns: per API and per hash of the list.
//! - `<backend>` holds only a `<retry interval="0">`: each round picks a backend (lowest
//!   priority number among those not cooling for this deployment and not yet tried, weighted
//!   random), forwards with the body buffered, and on 429/401/408/5xx records the cooldown
//!   the answer asks for (`retry-after-ms`, `x-ms-retry-after-ms`, `Retry-After`,
//!   `x-ratelimit-reset-*` in both spellings, seconds or Go durations; else the default).
//! - When every backend is cooling: 429 with the soonest `Retry-After` and an OpenAI-shaped
//!   body, or with `all_throttled = "primary"` the sample's send-to-first.
//! - Each attempt sends the credentials of the backend it picked: APIM's token to Entra
//!   backends only, the client's own `Authorization` to pass-through ones only, nothing to
//!   api-key ones (their backend resource adds the key).
//! - When every backend has been tried and the last one answered 401/403/408/5xx, that
//!   answer stands (a misconfiguration must not read as "rate limited").
//! - `<outbound>` names the backend in `x-openai-backend-id` to callers that ask with
//!   `x-oai-lb-show-backend` (or to all with `[apim] show_backend_to_all`); `<on-error>`
//!   cools a backend that could not be reached at all, so the next request skips it.
//!
//! Cooldowns are Unix milliseconds in a JSON object keyed `backend|deployment`, kept with
//! `cache-store-value` (the allowed expression types have no time parsing worth trusting).
//! C# here avoids `//` comments (XML folds newlines in attributes into spaces) and char
//! literals (they would need escaping in `'`-quoted attributes).

use super::common;
use super::xml::Element;
use super::{BACKENDS_NAMED_VALUE, Options};
use crate::config::AllThrottled;
use crate::lb::cooldown;

/// Policy variables, named so they do not collide with a user's own.
const BACKENDS_JSON: &str = "oaiLbBackendsJson";
const BACKENDS: &str = "oaiLbBackends";
const DEPLOYMENT: &str = "oaiLbDeployment";
const CACHE_KEY: &str = "oaiLbCacheKey";
const COOLDOWNS: &str = "oaiLbCooldowns";
const TRIED: &str = "oaiLbTried";
const ATTEMPTS: &str = "oaiLbAttempts";
const RETRY: &str = "oaiLbRetry";
const PICK: &str = "oaiLbBackendId";
const RETRY_AFTER: &str = "oaiLbRetryAfter";
const AUTH: &str = "oaiLbBackendAuth";
const LAST: &str = "oaiLbLastBackend";

/// What the pick expression returns when no backend serves the deployment (ids cannot
/// contain `:`).
const UNSERVED: &str = ":unserved";

/// APIM's largest retry count.
const MAX_RETRIES: u32 = 50;

pub(super) fn document(options: &Options) -> Element {
    Element::new("policies")
        .child(inbound(options))
        .child(backend(options))
        .child(outbound(options))
        .child(on_error(options))
}

fn inbound(options: &Options) -> Element {
    let mut inbound = common::section("inbound");
    if options.validates_clients() {
        inbound = inbound.comment("Clients present Entra tokens.").children(common::validate_client());
    }
    if options.entra_backends {
        inbound = inbound
            .comment("Token for backends that use Entra (APIM's managed identity).")
            .child(common::managed_identity_token());
    }
    inbound = inbound
        .comment("The backend list (id, priority, weight, auth, deployments) and its hash, from a named value.")
        .child(set_variable(BACKENDS_JSON, format!("{{{{{BACKENDS_NAMED_VALUE}}}}}")))
        .child(set_variable(BACKENDS, format!(r#"@((JArray)JObject.Parse((string)context.Variables["{BACKENDS_JSON}"])["backends"])"#)))
        .child(set_variable(
            CACHE_KEY,
            format!(
                r#"@("oai-lb:cooldowns:" + context.Api.Id + ":" + JObject.Parse((string)context.Variables["{BACKENDS_JSON}"]).Value<string>("hash"))"#
            ),
        ))
        .comment("Limits are per model deployment, so cooldowns are too.")
        .child(set_variable(DEPLOYMENT, DEPLOYMENT_EXPR))
        .child(set_variable(TRIED, "|"))
        .child(set_variable(ATTEMPTS, "@(0)"))
        .child(set_variable(RETRY, "@(false)"))
        .children(common::keep_client_authorization(options));
    if options.token_metrics {
        inbound = inbound
            .comment("Tokens per backend and deployment to Application Insights ([monitoring]).")
            .child(common::emit_token_metric(&format!(r#"@((string)context.Variables["{DEPLOYMENT}"])"#)));
    }
    inbound
}

fn backend(options: &Options) -> Element {
    // Each round tries a backend not tried before, or ends the request, so the condition
    // bounds the rounds; the count is APIM's maximum and keeps the document independent of
    // how many backends the named value lists.
    let retry = Element::new("retry")
        .attr("condition", format!(r#"@(context.Variables.GetValueOrDefault<bool>("{RETRY}", false))"#))
        .attr("count", MAX_RETRIES.to_string())
        .attr("interval", "0")
        .child(set_variable(RETRY, "@(false)"))
        .child(lookup_cooldowns())
        .child(set_variable(PICK, pick_expr(options.all_throttled)));
    let mut choose = Element::new("choose").child(
        Element::new("when")
            .attr("condition", format!(r#"@((string)context.Variables["{PICK}"] == "{UNSERVED}")"#))
            .child(unserved_response()),
    );
    if options.all_throttled == AllThrottled::Reject {
        // Every backend tried, the last one failing with its own answer (401, 403, 408,
        // 5xx): that answer is more telling than a made-up 429, so it stands (design, rule 6).
        choose = choose.child(
            Element::new("when")
                .attr(
                    "condition",
                    format!(
                        r#"@((string)context.Variables["{PICK}"] == "" && context.Response != null && context.Response.StatusCode != 429)"#
                    ),
                )
                .child(set_variable(RETRY, "@(false)")),
        );
        choose = choose.child(
            Element::new("when")
                .attr("condition", format!(r#"@((string)context.Variables["{PICK}"] == "")"#))
                .child(set_variable(RETRY_AFTER, soonest_expr()))
                .child(all_cooling_response()),
        );
    }
    if options.all_throttled == AllThrottled::Primary {
        // Every backend tried or cooling after the first attempt: the last answer stands.
        choose = choose.child(
            Element::new("when")
                .attr("condition", format!(r#"@((string)context.Variables["{PICK}"] == "")"#))
                .child(set_variable(RETRY, "@(false)")),
        );
    }
    let otherwise = forward_attempt(Element::new("otherwise"), options);
    Element::new("backend").child(retry.child(choose.child(otherwise)))
}

/// One attempt: remember the backend as tried, authenticate, forward, and on a refusal
/// record its cooldown and ask the retry for another round.
fn forward_attempt(mut otherwise: Element, options: &Options) -> Element {
    otherwise = otherwise
        .child(set_variable(
            TRIED,
            format!(r#"@((string)context.Variables["{TRIED}"] + (string)context.Variables["{PICK}"] + "|")"#),
        ))
        .child(set_variable(ATTEMPTS, format!(r#"@((int)context.Variables["{ATTEMPTS}"] + 1)"#)));
    // Credentials never cross backends: APIM's token goes only to Entra backends, the
    // client's own Authorization only to pass-through ones (and never when it was a token for
    // the gateway), and nothing else to api-key backends, whose key the backend resource adds.
    let is = |auth: &str| format!(r#"@((string)context.Variables["{AUTH}"] == "{auth}")"#);
    let mut credentials = Element::new("choose");
    if options.entra_backends {
        credentials =
            credentials.child(Element::new("when").attr("condition", is("entra")).child(common::bearer_header()));
    }
    if let Some(restore) = common::restore_client_authorization(options) {
        credentials = credentials.child(Element::new("when").attr("condition", is("none")).child(restore));
    }
    credentials = credentials.child(Element::new("otherwise").child(common::drop_authorization()));
    otherwise
        .child(set_variable(LAST, format!(r#"@((string)context.Variables["{PICK}"])"#)))
        .child(set_variable(AUTH, vars(AUTH_EXPR)))
        .child(credentials)
        .child(
            Element::new("set-backend-service")
                .attr("backend-id", format!(r#"@((string)context.Variables["{PICK}"])"#)),
        )
        .child(common::forward_request(options.timeout_secs))
        .child(
            Element::new("choose").child(
                Element::new("when")
                    .attr("condition", retryable())
                    .children(record_cooldown(options, true))
                    .child(set_variable(RETRY, "@(true)")),
            ),
        )
}

/// Design rule 4: 429, 408, 5xx; 401/403 only where the credential is ours, not the client's.
fn retryable() -> String {
    format!(
        r#"@(context.Response != null && (context.Response.StatusCode == 429 || context.Response.StatusCode == 408 || context.Response.StatusCode >= 500 || ((context.Response.StatusCode == 401 || context.Response.StatusCode == 403) && context.Variables.GetValueOrDefault<string>("{AUTH}", "none") != "none")))"#
    )
}

fn outbound(options: &Options) -> Element {
    let backend = format!(r#"@(context.Variables.GetValueOrDefault<string>("{LAST}", ""))"#);
    // x-oai-lb-backend is what the local balancer sends, so `probe` reads both alike.
    let names = [header("x-openai-backend-id", backend.clone()), header("x-oai-lb-backend", backend)];
    let outbound = common::section("outbound");
    let outbound = if options.show_backend_to_all {
        outbound.children(names)
    } else {
        outbound.comment("Backend names are for callers that ask (oai-lb probe does).").child(
            Element::new("choose")
                .child(Element::new("when").attr("condition", common::asks_for_backend()).children(names)),
        )
    };
    outbound.child(header(
        "x-oai-lb-attempts",
        format!(r#"@(context.Variables.GetValueOrDefault<int>("{ATTEMPTS}", 0).ToString())"#),
    ))
}

fn on_error(options: &Options) -> Element {
    let unreachable = format!(
        r#"@(context.LastError != null && context.LastError.Source == "forward-request" && context.Variables.GetValueOrDefault<string>("{PICK}", "").Length > 0 && !context.Variables.GetValueOrDefault<string>("{PICK}", "").StartsWith(":"))"#
    );
    common::section("on-error")
        .comment("A backend that could not be reached (connection error, timeout) rests for the default cooldown.")
        .child(
            Element::new("choose")
                .child(Element::new("when").attr("condition", unreachable).children(record_cooldown(options, false))),
        )
}

fn set_variable(name: &str, value: impl Into<String>) -> Element {
    Element::new("set-variable").attr("name", name.to_string()).attr("value", value)
}

fn header(name: &str, value: String) -> Element {
    Element::new("set-header")
        .attr("name", name.to_string())
        .attr("exists-action", "override")
        .child(Element::new("value").text(value))
}

fn cache_key() -> String {
    format!(r#"@((string)context.Variables["{CACHE_KEY}"])"#)
}

fn lookup_cooldowns() -> Element {
    Element::new("cache-lookup-value").attr("key", cache_key()).attr("variable-name", COOLDOWNS)
}

/// Re-reads the shared cooldowns (another request may have written since), adds this
/// backend's, and stores them back.
fn record_cooldown(options: &Options, from_headers: bool) -> Vec<Element> {
    let ms = if from_headers { cooldown_from_headers() } else { "    var ms = 0.0;\n".into() };
    let expr = format!("@{{\n{ms}{STORE_COOLDOWN}}}");
    let expr = vars(&expr)
        .replace("DEFAULT_COOLDOWN_MS", &options.default_cooldown_ms.to_string())
        .replace("MAX_COOLDOWN_MS", &options.max_cooldown_ms.to_string());
    // The cache keeps the cooldowns as long as the longest one can last.
    let cache_seconds = options.max_cooldown_ms.div_ceil(1000).max(1);
    vec![
        lookup_cooldowns(),
        set_variable(COOLDOWNS, expr),
        Element::new("cache-store-value")
            .attr("key", cache_key())
            .attr("value", format!(r#"@((JObject)context.Variables["{COOLDOWNS}"])"#))
            .attr("duration", cache_seconds.to_string()),
    ]
}

/// The header names come from `src/lb`, so the policy reads exactly what the local
/// balancer reads.
fn cooldown_from_headers() -> String {
    let list = |names: &[http::HeaderName]| names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    COOLDOWN_FROM_HEADERS
        .replace("MILLISECOND_HEADERS", &list(&[cooldown::RETRY_AFTER_MS, cooldown::X_MS_RETRY_AFTER_MS]))
        .replace("RESET_HEADERS", &list(&cooldown::RESET_HEADERS))
}

fn pick_expr(all_throttled: AllThrottled) -> String {
    let none_left = match all_throttled {
        AllThrottled::Reject => r#"return "";"#,
        AllThrottled::Primary => r#"return (int)context.Variables["ATTEMPTS"] == 0 ? primary : "";"#,
    };
    vars(&PICK_EXPR.replace("NONE_LEFT", none_left))
}

fn soonest_expr() -> String {
    vars(SOONEST_EXPR)
}

fn unserved_response() -> Element {
    json_response(
        "404",
        "Not Found",
        r#"@(new JObject(new JProperty("error", new JObject(new JProperty("code", "DeploymentNotFound"), new JProperty("message", "No backend of this gateway serves the deployment '" + (string)context.Variables["DEPLOYMENT"] + "'.")))).ToString(Newtonsoft.Json.Formatting.None))"#,
        None,
    )
}

fn all_cooling_response() -> Element {
    json_response(
        "429",
        "Too Many Requests",
        r#"@(new JObject(new JProperty("error", new JObject(new JProperty("code", "429"), new JProperty("type", "rate_limit_exceeded"), new JProperty("message", "Every backend is rate limited; retry after " + (string)context.Variables["RETRY_AFTER"] + " seconds.")))).ToString(Newtonsoft.Json.Formatting.None))"#,
        Some(format!(r#"@((string)context.Variables["{RETRY_AFTER}"])"#)),
    )
}

fn json_response(code: &str, reason: &str, body: &str, retry_after: Option<String>) -> Element {
    let mut response = Element::new("return-response")
        .child(Element::new("set-status").attr("code", code.to_string()).attr("reason", reason.to_string()))
        .child(header("Content-Type", "application/json".into()));
    if let Some(value) = retry_after {
        response = response.child(header("Retry-After", value));
    }
    response
        .child(header(
            "x-oai-lb-attempts",
            format!(r#"@(context.Variables.GetValueOrDefault<int>("{ATTEMPTS}", 0).ToString())"#),
        ))
        .child(Element::new("set-body").text(vars(body)))
}

/// Substitutes the policy variable names into an expression template.
fn vars(template: &str) -> String {
    template
        .replace("BACKENDS_JSON", BACKENDS_JSON)
        .replace("BACKENDS", BACKENDS)
        .replace("DEPLOYMENT", DEPLOYMENT)
        .replace("COOLDOWNS", COOLDOWNS)
        .replace("TRIED", TRIED)
        .replace("ATTEMPTS", ATTEMPTS)
        .replace("PICK", PICK)
        .replace("RETRY_AFTER", RETRY_AFTER)
        .replace("UNSERVED", UNSERVED)
}

/// The deployment: `/deployments/{name}/` in the path, else the body's `model` on the
/// `/v1/` APIs, else "" (one key per backend).
pub(super) const DEPLOYMENT_EXPR: &str = r#"@{
    var path = context.Request.OriginalUrl.Path;
    var match = Regex.Match(path, "/deployments/([^/?]+)");
    if (match.Success)
    {
        return match.Groups[1].Value;
    }
    if (path.Contains("/v1/"))
    {
        try
        {
            var model = context.Request.Body.As<JObject>(preserveContent: true)["model"];
            return model != null && model.Type == JTokenType.String ? (string)model : "";
        }
        catch
        {
            return "";
        }
    }
    return "";
}"#;

/// How the picked backend is called: `entra`, `api-key` or `none` (pass-through).
const AUTH_EXPR: &str = r#"@{
    foreach (JObject backend in (JArray)context.Variables["BACKENDS"])
    {
        if (backend.Value<string>("id") == (string)context.Variables["PICK"])
        {
            return backend.Value<string>("auth");
        }
    }
    return "none";
}"#;

/// Rules 1-3: among backends that serve the deployment, are not cooling for it and were
/// not tried by this request, the lowest priority number; weighted random among those.
const PICK_EXPR: &str = r#"@{
    var backends = (JArray)context.Variables["BACKENDS"];
    var cooldowns = context.Variables.ContainsKey("COOLDOWNS") ? (JObject)context.Variables["COOLDOWNS"] : new JObject();
    var deployment = (string)context.Variables["DEPLOYMENT"];
    var tried = (string)context.Variables["TRIED"];
    var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    var candidates = new List<JObject>();
    var best = int.MaxValue;
    var primary = "";
    var primaryPriority = int.MaxValue;
    var served = false;
    foreach (JObject backend in backends)
    {
        var id = backend.Value<string>("id");
        var deployments = (JArray)backend["deployments"];
        var serves = deployment.Length == 0 || deployments.Count == 0;
        foreach (var name in deployments)
        {
            if ((string)name == deployment)
            {
                serves = true;
            }
        }
        if (!serves)
        {
            continue;
        }
        served = true;
        var priority = backend.Value<int>("priority");
        if (priority < primaryPriority)
        {
            primaryPriority = priority;
            primary = id;
        }
        var until = cooldowns.Value<long?>(id + "|" + deployment) ?? 0;
        if (until > now || tried.Contains("|" + id + "|"))
        {
            continue;
        }
        if (priority < best)
        {
            best = priority;
            candidates.Clear();
        }
        if (priority == best)
        {
            candidates.Add(backend);
        }
    }
    if (!served)
    {
        return "UNSERVED";
    }
    if (candidates.Count == 0)
    {
        NONE_LEFT
    }
    var total = 0;
    foreach (var candidate in candidates)
    {
        total += candidate.Value<int>("weight");
    }
    var ticket = new Random().Next(total);
    foreach (var candidate in candidates)
    {
        ticket -= candidate.Value<int>("weight");
        if (ticket < 0)
        {
            return candidate.Value<string>("id");
        }
    }
    return candidates[0].Value<string>("id");
}"#;

/// Rule 6: seconds until the first backend serving the deployment recovers, rounded up,
/// at least 1 (also when none is cooling, as `lb::retry_after_secs`).
const SOONEST_EXPR: &str = r#"@{
    var cooldowns = context.Variables.ContainsKey("COOLDOWNS") ? (JObject)context.Variables["COOLDOWNS"] : new JObject();
    var deployment = (string)context.Variables["DEPLOYMENT"];
    var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    var soonest = long.MaxValue;
    foreach (JObject backend in (JArray)context.Variables["BACKENDS"])
    {
        var deployments = (JArray)backend["deployments"];
        var serves = deployment.Length == 0 || deployments.Count == 0;
        foreach (var name in deployments)
        {
            if ((string)name == deployment)
            {
                serves = true;
            }
        }
        if (!serves)
        {
            continue;
        }
        var until = cooldowns.Value<long?>(backend.Value<string>("id") + "|" + deployment) ?? 0;
        if (until > now && until < soonest)
        {
            soonest = until;
        }
    }
    var wait = soonest == long.MaxValue ? 0 : soonest - now;
    return Math.Max(1, (wait + 999) / 1000).ToString();
}"#;

/// Rule 5: the cooldown the answer asks for, in `ms`: the first usable of
/// `retry-after-ms`, `x-ms-retry-after-ms`, `Retry-After` (seconds or HTTP-date),
/// `x-ratelimit-reset-*` and `x-rate-limit-reset-*` (seconds or Go durations such as
/// `6m0s`); zero, negative, over a day or unparsable values fall through.
const COOLDOWN_FROM_HEADERS: &str = r#"    var ms = 0.0;
    double value;
    var headers = context.Response.Headers;
    foreach (var name in new string[] { MILLISECOND_HEADERS })
    {
        var text = headers.GetValueOrDefault(name, "").Trim();
        if (ms == 0 && text.IndexOf(",") < 0 && double.TryParse(text, out value) && value > 0 && value <= 86400000)
        {
            ms = value;
        }
    }
    var retryAfter = headers.GetValueOrDefault("Retry-After", "").Trim();
    DateTimeOffset at;
    if (ms == 0 && retryAfter.Length > 0 && "0123456789-.".IndexOf(retryAfter[0]) >= 0)
    {
        ms = retryAfter.IndexOf(",") < 0 && double.TryParse(retryAfter, out value) && value > 0 && value <= 86400 ? value * 1000 : 0;
    }
    else if (ms == 0 && retryAfter.Length > 0 && DateTimeOffset.TryParse(retryAfter, out at))
    {
        value = (at - DateTimeOffset.UtcNow).TotalMilliseconds;
        ms = value > 0 && value <= 86400000 ? value : 0;
    }
    foreach (var name in new string[] { RESET_HEADERS })
    {
        var text = headers.GetValueOrDefault(name, "").Trim();
        if (ms > 0 || text.Length == 0)
        {
            continue;
        }
        var seconds = 0.0;
        if (text.IndexOf(",") >= 0 || !double.TryParse(text, out seconds))
        {
            seconds = 0;
            var i = 0;
            while (i < text.Length)
            {
                var start = i;
                while (i < text.Length && "0123456789.".IndexOf(text[i]) >= 0)
                {
                    i++;
                }
                double number;
                if (i == start || !double.TryParse(text.Substring(start, i - start), out number))
                {
                    seconds = 0;
                    break;
                }
                var unitStart = i;
                while (i < text.Length && "0123456789.".IndexOf(text[i]) < 0)
                {
                    i++;
                }
                var unit = text.Substring(unitStart, i - unitStart);
                var scale = unit == "h" ? 3600 : unit == "m" ? 60 : unit == "s" ? 1 : unit == "ms" ? 0.001 : unit == "us" || unit == "µs" || unit == "μs" ? 0.000001 : unit == "ns" ? 0.000000001 : -1;
                if (scale < 0)
                {
                    seconds = 0;
                    break;
                }
                seconds += number * scale;
            }
        }
        ms = seconds > 0 && seconds <= 86400 ? seconds * 1000 : 0;
    }
"#;

/// Stores `ms` (else the default), capped at `max_cooldown_secs`, as the picked backend's
/// cooldown for the deployment, dropping expired entries; a running cooldown is never
/// shortened.
const STORE_COOLDOWN: &str = r#"    if (ms == 0)
    {
        ms = DEFAULT_COOLDOWN_MS;
    }
    ms = Math.Min(ms, MAX_COOLDOWN_MS);
    var known = context.Variables.ContainsKey("COOLDOWNS") ? (JObject)context.Variables["COOLDOWNS"] : new JObject();
    var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    var cooldowns = new JObject();
    foreach (var entry in known.Properties())
    {
        if ((long)entry.Value > now)
        {
            cooldowns[entry.Name] = entry.Value;
        }
    }
    var key = (string)context.Variables["PICK"] + "|" + (string)context.Variables["DEPLOYMENT"];
    var until = now + (long)Math.Ceiling(ms);
    cooldowns[key] = Math.Max(until, cooldowns.Value<long?>(key) ?? 0);
    return cooldowns;
"#;
