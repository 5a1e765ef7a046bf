//! The container image, proven by its contents: a statically linked debug build of oai-lb
//! goes into the top-level `Containerfile`'s final stage (`BUILDER=prebuilt`, so nothing is
//! pulled), `podman build` makes the image, `podman image mount` exposes its root
//! filesystem, and the binary runs inside it with `chroot`, as the image's user, with the
//! image's entry point and environment, the config mounted where the image expects it and
//! the secrets in the environment: it answers requests to simulated backends (one named
//! `localhost`: no NSS, no /etc/hosts in there) and drains a stream on SIGTERM.
//!
//! Needs podman (Debian package `podman`), `unshare` and `chroot`, and root (mounting):
//! `./scripts/test` installs podman; CI runs as root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oai_lb::sim::{self, SimOptions};

const IMAGE: &str = "localhost/oai-lb-image-test:latest";
const CHAT: &str = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

fn need(tool: &str, args: &[&str]) {
    let found = Command::new(tool).args(args).output().is_ok_and(|o| o.status.success());
    assert!(found, "this test needs `{tool}` (./scripts/test installs podman; unshare and chroot come with Debian)");
}

/// Runs a command, returns its stdout; panics with its stderr when it fails.
fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The target dir this test was built in (…/target/debug/oai-lb → …/target).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_oai-lb")).ancestors().nth(2).unwrap().to_path_buf()
}

/// A statically linked debug build of the binary (the image has no C library to load),
/// without debug info (a smaller image to copy). It has a target dir of its own inside
/// this one, so it never waits for (or invalidates) the test build's lock and artifacts.
fn static_binary() -> PathBuf {
    let started = Instant::now();
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    run(Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--locked", "--bin", "oai-lb", "--target", "x86_64-unknown-linux-gnu"])
        .env("CARGO_TARGET_DIR", target_dir().join("static"))
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .stderr(Stdio::piped()));
    eprintln!("static debug build: {:.0?}", started.elapsed());
    let binary = target_dir().join("static/x86_64-unknown-linux-gnu/debug/oai-lb");
    assert!(!has_interpreter(&binary), "{} is statically linked (no ELF interpreter)", binary.display());
    binary
}

/// True when the ELF file names a program interpreter (the dynamic loader).
fn has_interpreter(path: &Path) -> bool {
    let elf = std::fs::read(path).unwrap();
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize;
    let (entry_size, count) = (u16_at(54), u16_at(56));
    const PT_INTERP: u32 = 3;
    (0..count).any(|i| {
        let at = phoff + i * entry_size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == PT_INTERP
    })
}

/// podman with storage of its own (vfs: works on any file system, in containers too),
/// removed with everything in it on drop.
struct Podman {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl Podman {
    fn new() -> Podman {
        Podman { dir: tempfile::tempdir().unwrap(), mounted: false }
    }

    fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command
            .arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--runroot")
            .arg(self.dir.path().join("run"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]);
        command
    }

    fn mount(&mut self, image: &str) -> PathBuf {
        let root = run(self.command().args(["image", "mount", image]));
        self.mounted = true;
        PathBuf::from(root.trim())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if self.mounted {
            let _ = self.command().args(["image", "unmount", "--all"]).output();
        }
        let _ = self.command().args(["rmi", "--all", "--force"]).output();
    }
}

/// Every path in the tree under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// `oai-lb serve` as a container runtime runs the image: its root filesystem (bound, top
/// level by top level, into a fresh tmpfs root, so the image itself is not written), plus
/// what every OCI runtime adds (/proc, and /dev with null, zero, random and urandom), the
/// config directory bound over /etc/oai-lb, as the image's user, with its entry point and
/// environment and the secrets. All mounts live in a mount namespace of their own.
const RUNTIME: &str = r#"
set -e
image="$1"; config="$2"; user="$3"; shift 3
root=$(mktemp -d)
mount -t tmpfs -o mode=755 rootfs "$root"
for entry in "$image"/*; do
  mkdir "$root/${entry##*/}"
  mount --rbind "$entry" "$root/${entry##*/}"
done
mkdir "$root/proc" "$root/dev"
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=755 dev "$root/dev"
for device in null zero random urandom; do
  touch "$root/dev/$device"
  mount --bind "/dev/$device" "$root/dev/$device"
done
mount --bind "$config" "$root/etc/oai-lb"
exec chroot --userspec="$user" "$root" "$@"
"#;

fn run_in_image(
    root: &Path,
    config_dir: &Path,
    user: &str,
    entrypoint: &[String],
    env: &[(String, String)],
    log: &Path,
) -> Child {
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c", RUNTIME, "sh"])
        .arg(root)
        .arg(config_dir)
        .arg(user)
        .args(entrypoint)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    command.spawn().expect("unshare runs")
}

/// The process in the image, killed if the test ends before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImageConfig {
    user: String,
    entrypoint: Vec<String>,
    env: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_holds_a_static_binary_and_certificates_only_and_serves_as_non_root() {
    need("podman", &["--version"]);
    need("unshare", &["--version"]);
    need("chroot", &["--version"]);
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test mounts and chroots: run it as root (CI does)");
    let binary = tokio::task::spawn_blocking(static_binary).await.unwrap();

    // The build context of the Containerfile's `prebuilt` stage.
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(&binary, context.path().join("oai-lb")).unwrap();
    std::fs::copy("/etc/ssl/certs/ca-certificates.crt", context.path().join("ca-certificates.crt"))
        .expect("the CA bundle (Debian package ca-certificates)");
    std::fs::create_dir(context.path().join("empty")).unwrap();
    let mut podman = Podman::new();
    let containerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("Containerfile");
    let started = Instant::now();
    run(podman
        .command()
        .args(["build", "--quiet", "--build-arg", "BUILDER=prebuilt", "--tag", IMAGE, "--file"])
        .arg(&containerfile)
        .arg(context.path()));
    eprintln!("podman build: {:.1?}", started.elapsed());

    let inspected = run(podman.command().args(["image", "inspect", "--format", "{{json .Config}}", IMAGE]));
    let config: ImageConfig = serde_json::from_str(&inspected).unwrap();
    assert_eq!(config.user, "65532:65532", "a numeric non-root user");
    assert_eq!(config.entrypoint, ["/usr/local/bin/oai-lb", "serve"]);
    assert!(config.env.contains(&"OAI_LB_CONFIG=/etc/oai-lb/oai-lb.toml".to_string()), "{:?}", config.env);

    let root = podman.mount(IMAGE);
    assert_eq!(
        tree(&root),
        [
            "etc",
            "etc/oai-lb",
            "etc/ssl",
            "etc/ssl/certs",
            "etc/ssl/certs/ca-certificates.crt",
            "usr",
            "usr/local",
            "usr/local/bin",
            "usr/local/bin/oai-lb"
        ],
        "the binary, the CA bundle and the config's mount point: no shell, no libraries"
    );
    let bundle = std::fs::read_to_string(root.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(bundle.matches("-----BEGIN CERTIFICATE-----").count() > 50, "a full CA bundle");
    let size = tree(&root).iter().map(|p| std::fs::symlink_metadata(root.join(p)).unwrap().len()).sum::<u64>();
    eprintln!("image contents (debug build): {:.1} MB", size as f64 / 1e6);

    // Simulated backends: priority 1 reached by the name `localhost` and an api-key from
    // the environment; priority 2 by an IP literal.
    let ptu = sim::spawn(SimOptions {
        name: "ptu".into(),
        api_key: Some("backend-secret".into()),
        stream_chunks: 10,
        chunk_interval: Duration::from_millis(150),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let paygo = sim::spawn(SimOptions { name: "paygo".into(), ..SimOptions::default() }).await.unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        config_dir.path().join("oai-lb.toml"),
        format!(
            "[balancer]\nclient_keys_env = \"OAI_LB_CLIENT_KEYS\"\n\n\
             [[backends]]\nname = \"ptu\"\nurl = \"http://localhost:{}\"\npriority = 1\nauth = \"api-key\"\napi_key_env = \"PTU_KEY\"\n\n\
             [[backends]]\nname = \"paygo\"\nurl = \"{}\"\npriority = 2\n",
            ptu.addr().port(),
            paygo.url()
        ),
    )
    .unwrap();
    // Directories on the way must let the image's user read the config, as a mounted
    // ConfigMap or file would.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(config_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut env: Vec<(String, String)> =
        config.env.iter().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect();
    // The image listens on 0.0.0.0:8080; here, a free port (it still needs client keys).
    env.retain(|(k, _)| k != "OAI_LB_LISTEN");
    env.push(("OAI_LB_LISTEN".into(), format!("0.0.0.0:{port}")));
    env.push(("OAI_LB_CLIENT_KEYS".into(), "client-secret".into()));
    env.push(("PTU_KEY".into(), "backend-secret".into()));
    let log = context.path().join("serve.log");
    let mut serve = Running(run_in_image(&root, config_dir.path(), &config.user, &config.entrypoint, &env, &log));
    let pid = serve.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        if let Ok(Some(status)) = serve.0.try_wait() {
            panic!("oai-lb exited in the image ({status}): {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        assert!(Instant::now() < deadline, "oai-lb did not become ready in the image");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(uid.split_whitespace().skip(1).collect::<Vec<_>>(), ["65532"; 4], "runs as the image's user");
    // Its root, seen through /proc: the image's files, the mounted config, no shell.
    let seen = |path: &str| Path::new(&format!("/proc/{pid}/root/{path}")).exists();
    assert!(seen("usr/local/bin/oai-lb") && seen("etc/oai-lb/oai-lb.toml") && !seen("bin/sh"), "runs in the image");

    let chat = |stream: bool| {
        let body =
            serde_json::json!({ "messages": [{ "role": "user", "content": "hi" }], "max_tokens": 5, "stream": stream });
        client.post(format!("{base}{CHAT}")).header("api-key", "client-secret").json(&body).send()
    };
    let unauthorized = client.post(format!("{base}{CHAT}")).body("{}").send().await.unwrap();
    assert_eq!(unauthorized.status(), 401, "client keys from the environment are enforced");
    for _ in 0..5 {
        let r = chat(false).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["x-oai-lb-backend"],
            "ptu",
            "localhost resolved without NSS, the key from the environment"
        );
    }
    assert_eq!(ptu.stats().ok, 5);
    assert_eq!(ptu.stats().unauthorized, 0);

    // SIGTERM while a stream is running: the stream finishes, then the process exits 0.
    let mut streaming = chat(true).await.unwrap();
    assert_eq!(streaming.status(), 200);
    let first = streaming.chunk().await.unwrap().expect("the first chunk");
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    let mut body = first.to_vec();
    while let Some(chunk) = streaming.chunk().await.expect("the stream is drained, not cut") {
        body.extend_from_slice(&chunk);
    }
    assert!(String::from_utf8_lossy(&body).contains("data: [DONE]"), "the whole stream arrived");
    let log_path = log.clone();
    let exited = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = serve.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "oai-lb did not exit after draining: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert!(exited.success(), "exit status after SIGTERM: {exited}");
    assert!(client.get(format!("{base}/healthz")).send().await.is_err(), "nothing listens any more");
    ptu.shutdown().await;
    paygo.shutdown().await;
}
