//! Value parsers shared by the commands' flags. A value is checked where the user typed it,
//! so the error names the flag (`--priority`), not the config key it becomes; `cli::parse`
//! prints it as our one line.

use std::net::{SocketAddr, ToSocketAddrs};

/// `--priority`, `--weight`: a whole number from 1 to 100, as the config takes them (they
/// become APIM pool members' priority and weight). Negative numbers reach this parser
/// (`allow_negative_numbers`) so `-1` gets this message, not "unexpected argument".
pub fn rank(s: &str) -> Result<u32, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n as u32),
        Ok(n) => Err(format!("must be from 1 to 100, not {n} (fix: 1 is the most preferred; 1 is also the default)")),
        Err(_) => Err(format!("must be a whole number from 1 to 100, not `{s}`")),
    }
}

/// `--url` of a backend: https, or http only for loopback hosts.
pub fn backend_url(s: &str) -> Result<String, String> {
    crate::config::validate_backend_url(s)
        .map(|_| s.to_string())
        .map_err(|problem| format!("{problem} (fix: use https://HOST, or http:// only for 127.0.0.1/localhost)"))
}

/// `--listen`: IP:PORT or HOST:PORT. A host name is resolved here (an IPv4 address first),
/// and `serve` binds the address it resolves to, so the loopback rule judges that address:
/// a name that resolves to a public address needs client keys like the address would.
pub fn listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let fix = "(fix: use IP:PORT or HOST:PORT, e.g. 127.0.0.1:8080 or localhost:8080)";
    let addrs: Vec<SocketAddr> = s.to_socket_addrs().map_err(|e| format!("cannot resolve `{s}`: {e} {fix}"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("`{s}` resolves to no address {fix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_1_to_100() {
        assert_eq!(rank("1"), Ok(1));
        assert_eq!(rank("100"), Ok(100));
        assert!(rank("0").unwrap_err().starts_with("must be from 1 to 100, not 0"));
        assert!(rank("-1").unwrap_err().starts_with("must be from 1 to 100, not -1"));
        assert!(rank("high").unwrap_err().contains("whole number"));
    }

    #[test]
    fn listen_takes_addresses_and_host_names() {
        assert_eq!(listen("127.0.0.1:8080"), Ok(SocketAddr::from(([127, 0, 0, 1], 8080))));
        assert_eq!(listen("[::1]:0").map(|a| a.ip().is_loopback()), Ok(true));
        let local = listen("localhost:8080").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 8080, "{local}");
        assert!(listen("0.0.0.0:80").is_ok_and(|a| !a.ip().is_loopback()));
        assert!(listen("no-port").unwrap_err().contains("fix:"));
    }
}
