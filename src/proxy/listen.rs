//! The listening sockets: one per worker, so the kernel spreads new connections evenly.
//!
//! Workers that accept from one shared socket race for each connection, and one of them can
//! win nearly all of a burst and keep them for their lifetime, leaving the other cores idle
//! (seen as worker CPU splits of 46/92 and 0/54 under wrk). With one `SO_REUSEPORT` socket
//! per worker, the kernel picks the socket by a hash of the connection's addresses.
//!
//! `SO_REUSEPORT` alone would also let a second `oai-lb serve` on the same port join the
//! group silently and take half the connections. So the address is first claimed with a
//! plain socket, which fails with "address in use" when anything listens there (including
//! another balancer's group); Linux lets only sockets of the same effective user join a
//! group at all.

use std::io;
use std::net::{SocketAddr, TcpListener};

use tokio::net::TcpSocket;

/// How many connections may wait to be accepted, per socket. tokio's default (1024)
/// overflows when a thousand clients connect at once, and a dropped SYN costs the client a
/// second; the kernel caps this at `net.core.somaxconn` (4096 on current Linux).
const LISTEN_BACKLOG: u32 = 4096;

/// `workers` listening sockets on `addr` (port 0: one port chosen for all), all of them
/// listening when this returns.
pub(super) fn bind(addr: SocketAddr, workers: usize) -> io::Result<Vec<TcpListener>> {
    let workers = workers.max(1);
    #[cfg(target_os = "linux")]
    {
        // Claim the address: fails if anything (another balancer included) listens there.
        let claim = socket(addr)?;
        claim.bind(addr)?;
        let addr = claim.local_addr()?;
        let listeners = (0..workers)
            .map(|_| {
                let socket = socket(addr)?;
                socket.set_reuseport(true)?;
                socket.bind(addr)?;
                socket.listen(LISTEN_BACKLOG)?.into_std()
            })
            .collect();
        drop(claim);
        listeners
    }
    #[cfg(not(target_os = "linux"))]
    {
        // Elsewhere SO_REUSEPORT does not spread connections: one socket, shared.
        let socket = socket(addr)?;
        socket.bind(addr)?;
        let listener = socket.listen(LISTEN_BACKLOG)?.into_std()?;
        (1..workers).map(|_| listener.try_clone()).chain(std::iter::once(Ok(listener))).collect()
    }
}

fn socket(addr: SocketAddr) -> io::Result<TcpSocket> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As std's and tokio's bind do on Unix: a restarted balancer can bind at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    Ok(socket)
}
