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

/// `pid` and its child processes (nginx's master and its workers).
pub fn with_children(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid …
        let ppid = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(pid) {
            pids.push(child);
        }
    }
    pids
}

/// CPU time the processes have used so far (all their threads), in seconds: (user, system).
#[allow(dead_code)] // the memory bench measures memory only
pub fn cpu_seconds(pids: &[u32]) -> (f64, f64) {
    // SAFETY: sysconf only reads a constant of the system.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    pids.iter()
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // After `(comm)`: state is field 3, utime and stime are fields 14 and 15.
            let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (ticks(14) / ticks_per_second, ticks(15) / ticks_per_second)
        })
        .fold((0.0, 0.0), |(u, s), (du, ds)| (u + du, s + ds))
}
