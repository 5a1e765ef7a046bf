//! Helpers the benchmarks share: free loopback ports, waiting for a listener, and child
//! processes stopped when dropped.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

pub fn wait_for(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing listening on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops the child process when dropped: SIGTERM first (nginx's master then stops its
/// workers), SIGKILL if it is still there after a second.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `oai-lb` binary under test: this build's, or `OAI_LB_BIN` (to compare two builds
/// with the same benchmark).
pub fn oai_lb_bin() -> OsString {
    std::env::var_os("OAI_LB_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_oai-lb").into())
}
