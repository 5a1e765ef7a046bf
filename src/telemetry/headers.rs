//! The headers sent with every export (`OTEL_EXPORTER_OTLP[_TRACES]_HEADERS`), usually a
//! collector's credentials (`authorization=Bearer …`, `x-honeycomb-team=…`). Their values are
//! secrets: marked sensitive, shown by `Debug` as `<redacted>`, never in an error message.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

/// Header names (lower-case, as gRPC metadata needs them) and their secret values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExportHeaders(HeaderMap);

impl ExportHeaders {
    /// Parses the exporter spec's list, `key1=value1,key2=value2` (W3C Baggage without
    /// properties): whitespace around keys and values trimmed, values percent-decoded
    /// (`%20` for a space, `%2C` for a comma), empty entries skipped. `source` names where
    /// the text came from (the variable), for the one-line error, which never quotes a value.
    pub fn parse(source: &str, text: &str) -> Result<ExportHeaders, String> {
        let fix = "(fix: write it as key1=value1,key2=value2, with a comma, % or space inside a value percent-encoded)";
        let mut headers = HeaderMap::new();
        for (n, entry) in text.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let n = n + 1;
            // Not even the key is quoted: a mistyped entry may be all secret.
            let (key, value) = entry.split_once('=').ok_or_else(|| format!("{source}: entry {n} has no `=` {fix}"))?;
            let name = HeaderName::from_bytes(key.trim().as_bytes())
                .map_err(|_| format!("{source}: the key of entry {n} is not a header name {fix}"))?;
            let bytes = percent_decode(value.trim())
                .ok_or_else(|| format!("{source}: the value of {name} has a % not followed by two hex digits {fix}"))?;
            let mut value = HeaderValue::from_bytes(&bytes)
                .map_err(|_| format!("{source}: the value of {name} has a control character {fix}"))?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        Ok(ExportHeaders(headers))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The headers, to send (never to print).
    pub(super) fn map(&self) -> &HeaderMap {
        &self.0
    }
}

impl fmt::Debug for ExportHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.keys().map(|name| (name.as_str(), "<redacted>"))).finish()
    }
}

/// `%XX` decoded to its byte; `None` for a `%` not followed by two hex digits.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let mut bytes = text.bytes();
    let mut decoded = Vec::with_capacity(text.len());
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = |b: Option<u8>| char::from(b?).to_digit(16);
            let (high, low) = (hex(bytes.next())?, hex(bytes.next())?);
            decoded.push((high * 16 + low) as u8);
        } else {
            decoded.push(b);
        }
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<(String, Vec<u8>)> {
        let headers = ExportHeaders::parse("OTEL_EXPORTER_OTLP_HEADERS", text).unwrap();
        headers.0.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    fn pair(k: &str, v: &str) -> (String, Vec<u8>) {
        (k.to_string(), v.as_bytes().to_vec())
    }

    #[test]
    fn keys_and_values_are_trimmed_and_values_percent_decoded() {
        assert_eq!(
            parsed(" Authorization = Bearer%20t0ken , x-team=a%2Cb%3Dc%25 "),
            [pair("authorization", "Bearer t0ken"), pair("x-team", "a,b=c%")]
        );
        // `=` after the first belongs to the value (base64 padding); `+` is not a space.
        assert_eq!(parsed("x-key=YWJj+ZA=="), [pair("x-key", "YWJj+ZA==")]);
        assert_eq!(parsed("k=%c3%A9"), [pair("k", "é")]);
        assert_eq!(parsed("k=,"), [pair("k", "")]);
    }

    #[test]
    fn empty_lists_and_entries_are_nothing() {
        assert!(parsed("").is_empty());
        assert!(parsed(" , ,").is_empty());
        assert_eq!(parsed(",a=1,,b=2,"), [pair("a", "1"), pair("b", "2")]);
    }

    #[test]
    fn malformed_entries_are_refused_naming_the_variable_never_the_value() {
        for (text, problem) in [
            ("a=1,Bearer s3cret", "entry 2 has no `=`"),
            ("=s3cret", "the key of entry 1 is not a header name"),
            ("bad key=s3cret", "the key of entry 1 is not a header name"),
            ("k=s3cret%2", "the value of k has a % not followed by two hex digits"),
            ("k=s3cret%zz", "the value of k has a % not followed by two hex digits"),
            ("k=s3cret%0A", "the value of k has a control character"),
        ] {
            let e = ExportHeaders::parse("OTEL_EXPORTER_OTLP_TRACES_HEADERS", text).unwrap_err();
            assert!(e.starts_with("OTEL_EXPORTER_OTLP_TRACES_HEADERS: ") && e.contains(problem), "{text}: {e}");
            assert!(e.contains("(fix: ") && !e.contains("s3cret") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn debug_names_the_headers_and_hides_the_values() {
        let headers = ExportHeaders::parse("V", "authorization=Bearer t0ken,x-api-key=s3cret").unwrap();
        let shown = format!("{headers:?} {:?}", headers.0);
        assert!(shown.contains("authorization") && shown.contains("x-api-key"), "{shown}");
        assert!(!shown.contains("t0ken") && !shown.contains("s3cret"), "{shown}");
    }
}
