//! HTTP/1 keep-alive with many connections open, where idle connections park between
//! requests (hyper's state dropped, the socket kept; see `src/proxy/client.rs`): every
//! request on a parked connection is still answered, in order, pipelined or split across
//! writes, and a connection that asks to close is closed. Real sockets, raw bytes.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{Backend, Balancer, CHAT, Reply, backends_toml};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// More than the balancer's threshold (128) for parking idle connections.
const CROWD: usize = 150;

fn request(extra_headers: &str) -> String {
    format!(
        "POST {CHAT} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n{extra_headers}\r\n{{}}"
    )
}

/// Reads until `answers` complete `200` answers (body `{}`) have arrived, or the server
/// closes, or 10 s pass; returns the answers' count and whether the server closed.
async fn read_answers(stream: &mut TcpStream, answers: usize) -> (usize, bool) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let count = |seen: &[u8]| seen.windows(4).filter(|w| w == b"\r\n\r\n").count();
    loop {
        let complete = count(&seen);
        if complete >= answers && seen.ends_with(b"{}") {
            let oks = String::from_utf8_lossy(&seen).matches("HTTP/1.1 200 OK").count();
            return (oks, false);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => {
                let oks = String::from_utf8_lossy(&seen).matches("HTTP/1.1 200 OK").count();
                return (oks, true);
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// `CROWD` connections, each answered once and left open.
async fn crowd(addr: SocketAddr) -> Vec<TcpStream> {
    let mut open = Vec::with_capacity(CROWD);
    for _ in 0..CROWD {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request("").as_bytes()).await.unwrap();
        assert_eq!(read_answers(&mut stream, 1).await, (1, false));
        open.push(stream);
    }
    open
}

async fn balancer() -> (Backend, Balancer) {
    let a = Backend::always(|| Reply::ok("{}")).await;
    let lb = Balancer::start(&backends_toml(&[("a", &a.url(), 1)])).await;
    (a, lb)
}

#[tokio::test]
async fn parked_connections_answer_every_later_request_in_order() {
    let (backend, lb) = balancer().await;
    let mut open = crowd(lb.addr).await;

    // Sequential requests on connections that have been idle (parked).
    tokio::time::sleep(Duration::from_millis(200)).await;
    for stream in open.iter_mut().take(20) {
        for _ in 0..3 {
            stream.write_all(request("").as_bytes()).await.unwrap();
            assert_eq!(read_answers(stream, 1).await, (1, false));
        }
    }

    // Three requests in one write: hyper reads ahead past the first; what it read is
    // served after the connection parks.
    let stream = &mut open[CROWD - 1];
    let three = request("").repeat(3);
    stream.write_all(three.as_bytes()).await.unwrap();
    assert_eq!(read_answers(stream, 3).await, (3, false));

    // A request split across writes, the head cut in the middle.
    let stream = &mut open[CROWD - 2];
    let whole = request("");
    let (first, rest) = whole.as_bytes().split_at(40);
    stream.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(rest).await.unwrap();
    assert_eq!(read_answers(stream, 1).await, (1, false));

    assert_eq!(backend.count(), CROWD + 20 * 3 + 3 + 1, "every request reached the backend once");
}

#[tokio::test]
async fn a_connection_that_asks_to_close_is_closed_after_its_answer() {
    let (_backend, lb) = balancer().await;
    let _open = crowd(lb.addr).await;
    let mut stream = TcpStream::connect(lb.addr).await.unwrap();
    stream.write_all(request("connection: close\r\n").as_bytes()).await.unwrap();
    assert_eq!(read_answers(&mut stream, 2).await, (1, true), "answered, then closed");

    let mut old = TcpStream::connect(lb.addr).await.unwrap();
    let http10 = request("").replace("HTTP/1.1", "HTTP/1.0");
    old.write_all(http10.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), old.read_to_end(&mut seen)).await;
    assert!(read.is_ok(), "an HTTP/1.0 connection is closed after its answer");
    assert!(String::from_utf8_lossy(&seen).contains(" 200 OK"), "{}", String::from_utf8_lossy(&seen));
}

#[tokio::test]
async fn a_drain_closes_idle_keep_alive_connections_parked_or_not() {
    for connections in [3, CROWD] {
        let (_backend, mut lb) = balancer().await;
        let mut open = Vec::new();
        for _ in 0..connections {
            let mut stream = TcpStream::connect(lb.addr).await.unwrap();
            stream.write_all(request("").as_bytes()).await.unwrap();
            assert_eq!(read_answers(&mut stream, 1).await, (1, false));
            open.push(stream);
        }
        // And one that never sent a byte, as an HTTP client's pool opens one ahead of need
        // (hyper-util's does when a connection frees up while another is being opened).
        open.push(TcpStream::connect(lb.addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
        lb.stop();
        // Every idle connection is closed by the server (EOF), not left to the client.
        for stream in &mut open {
            let mut buf = [0u8; 64];
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            assert!(matches!(read, Ok(Ok(0))), "{connections} open: an idle connection is closed by the drain");
        }
    }
}

#[tokio::test]
async fn a_request_whose_first_bytes_arrive_one_by_one_is_answered() {
    // The balancer reads a connection's first bytes to tell HTTP/2 from HTTP/1; a start
    // that could still be the HTTP/2 preface ("P", "PO") makes it wait for more.
    let (backend, lb) = balancer().await;
    let mut stream = TcpStream::connect(lb.addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let request = request("");
    for byte in &request.as_bytes()[..3] {
        stream.write_all(&[*byte]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stream.write_all(&request.as_bytes()[3..]).await.unwrap();
    assert_eq!(read_answers(&mut stream, 1).await, (1, false));
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(read_answers(&mut stream, 1).await, (1, false), "the connection stays usable");
    assert_eq!(backend.count(), 2);
}
