//! Name resolution in Rust (hickory), never the C library's `getaddrinfo`.
//!
//! The container image holds one statically linked binary and nothing else: no NSS modules,
//! no `nsswitch.conf`. So the balancer's upstream connections and the Redis link resolve
//! names here (reqwest, used by the ARM client and the OTLP exporter, uses hickory through
//! its `hickory-dns` feature). IP literals and `localhost` (RFC 6761) never ask DNS; other
//! names go to the servers `/etc/resolv.conf` lists (Kubernetes and podman mount one), or,
//! without that file, to Google's public resolvers (as reqwest does), with one warning.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{GOOGLE, LookupIpStrategy, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

/// A resolver, created on its first lookup of a name that needs DNS (reading
/// `/etc/resolv.conf` and `/etc/hosts` once). Hickory runs its queries as tasks on the
/// runtime of that first lookup: give each runtime its own `Resolver`.
#[derive(Clone, Default)]
pub struct Resolver {
    hickory: Arc<OnceLock<Result<TokioResolver, String>>>,
}

impl Resolver {
    /// The addresses of `host` (a name, an IP literal, or a bracketed IPv6 literal), with `port`.
    pub async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        if let Some(ips) = without_dns(host) {
            return Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect());
        }
        let hickory = self.hickory.get_or_init(build).as_ref().map_err(|e| io::Error::other(e.clone()))?;
        let found =
            hickory.lookup_ip(host).await.map_err(|e| io::Error::other(format!("cannot resolve {host}: {e}")))?;
        let addrs: Vec<SocketAddr> = found.iter().map(|ip| SocketAddr::new(ip, port)).collect();
        if addrs.is_empty() {
            return Err(io::Error::other(format!("cannot resolve {host}: no address")));
        }
        Ok(addrs)
    }
}

/// The addresses of a host that needs no DNS: an IP literal, or `localhost` and its
/// subdomains (always loopback, RFC 6761 §6.3).
fn without_dns(host: &str) -> Option<Vec<IpAddr>> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(vec![ip]);
    }
    let name = bare.strip_suffix('.').unwrap_or(bare).to_ascii_lowercase();
    (name == "localhost" || name.ends_with(".localhost"))
        .then(|| vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)])
}

fn build() -> Result<TokioResolver, String> {
    let mut builder = TokioResolver::builder_tokio().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read /etc/resolv.conf; resolving names with Google's public DNS");
        TokioResolver::builder_with_config(ResolverConfig::udp_and_tcp(&GOOGLE), TokioRuntimeProvider::default())
    });
    // Both families, so a dual-stack backend can be reached whichever works here.
    builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    builder.build().map_err(|e| format!("cannot start the DNS resolver: {e}"))
}

/// The resolver as hyper-util's `HttpConnector` asks for one.
impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        let resolver = self.clone();
        // The connector sets the port on each address itself.
        Box::pin(async move { Ok(resolver.lookup(name.as_str(), 0).await?.into_iter()) })
    }
}

/// The resolver as the Redis client asks for one.
impl redis::io::AsyncDNSResolver for Resolver {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        host: &'b str,
        port: u16,
    ) -> redis::RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        Box::pin(async move {
            let addrs = self.lookup(host, port).await?;
            Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_localhost_need_no_dns() {
        assert_eq!(without_dns("10.1.2.3"), Some(vec!["10.1.2.3".parse().unwrap()]));
        assert_eq!(without_dns("[::1]"), Some(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]));
        assert_eq!(without_dns("fd00::5"), Some(vec!["fd00::5".parse().unwrap()]));
        let loopback = Some(vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        assert_eq!(without_dns("localhost"), loopback);
        assert_eq!(without_dns("LocalHost."), loopback);
        assert_eq!(without_dns("redis.localhost"), loopback);
        assert_eq!(without_dns("example.com"), None);
        assert_eq!(without_dns("notlocalhost"), None);
    }

    #[tokio::test]
    async fn a_literal_resolves_without_a_resolver() {
        let resolver = Resolver::default();
        let addrs = resolver.lookup("127.0.0.1", 6379).await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:6379".parse().unwrap()]);
        assert!(resolver.hickory.get().is_none(), "no DNS resolver was created for a literal");
    }
}
