//! `oai-lb init`: from flags (stdin is never a terminal here, so it must not prompt), the
//! file it writes loads, and it never overwrites without --force.

use assert_cmd::Command;
use oai_lb::config::{BackendAuth, Config, Strategy};

fn oai_lb(dir: &tempfile::TempDir) -> Command {
    let mut cmd = Command::cargo_bin("oai-lb").unwrap();
    cmd.current_dir(dir.path()).env_remove("OAI_LB_CONFIG").write_stdin("");
    cmd
}

#[test]
fn writes_a_commented_config_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    oai_lb(&dir)
        .env("OAI_LB_INIT_TEST_KEY", "k")
        .args(["init", "--subscription-id", "00000000-0000-0000-0000-000000000000", "--resource-group", "rg-x"])
        .args(["--location", "westeurope", "--apim-name", "apim-x", "--publisher-email", "ops@example.com"])
        .args(["--publisher-name", "Contoso \"Ops\"", "--strategy", "pool", "--listen", "127.0.0.1:9090"])
        .args(["--backend", "east=https://east.openai.azure.com,priority=1,key-env=OAI_LB_INIT_TEST_KEY"])
        .args(["--backend", "west=https://west.openai.azure.com,priority=2,weight=3,auth=none"])
        .assert()
        .success();
    let path = dir.path().join("oai-lb.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# oai-lb configuration"), "{text}");
    assert!(text.contains("# One table per endpoint."), "{text}");

    // SAFETY: only this test reads the variable.
    unsafe { std::env::set_var("OAI_LB_INIT_TEST_KEY", "k") };
    let config = Config::load(&path).expect("the written file loads");
    let azure = config.azure.unwrap();
    assert_eq!((azure.resource_group.as_str(), azure.location.as_str()), ("rg-x", "westeurope"));
    let apim = config.apim.unwrap();
    assert_eq!(apim.publisher_name, "Contoso \"Ops\"");
    assert_eq!(apim.strategy, Strategy::Pool);
    assert_eq!(config.balancer.listen, "127.0.0.1:9090");
    let backends: Vec<(&str, u32, u32, BackendAuth)> =
        config.backends.iter().map(|b| (b.name.as_str(), b.priority, b.weight, b.auth)).collect();
    assert_eq!(backends, [("east", 1, 1, BackendAuth::ApiKey), ("west", 2, 3, BackendAuth::None)]);
}

#[test]
fn without_flags_it_writes_a_starter_file_without_asking() {
    let dir = tempfile::tempdir().unwrap();
    oai_lb(&dir).arg("init").timeout(std::time::Duration::from_secs(20)).assert().success();
    let config = Config::load(&dir.path().join("oai-lb.toml")).unwrap();
    assert!(config.backends.is_empty() && config.azure.is_none());
    let text = std::fs::read_to_string(dir.path().join("oai-lb.toml")).unwrap();
    assert!(text.contains("# [[backends]]"), "an example backend, commented out: {text}");
}

#[test]
fn never_overwrites_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oai-lb.toml");
    std::fs::write(&path, "# mine\n").unwrap();
    let out = oai_lb(&dir).arg("init").assert().code(2).get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&out).contains("--force"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
    oai_lb(&dir).args(["init", "--force", "--backend", "a=https://a.openai.azure.com"]).assert().code(2);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n", "off a terminal --force needs --yes");
    oai_lb(&dir).args(["init", "--force", "--yes", "--backend", "a=https://a.openai.azure.com"]).assert().success();
    assert!(Config::load(&path).unwrap().backends.len() == 1);
}

#[test]
fn incomplete_or_invalid_input_is_a_usage_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 5] = [
        &["--subscription-id", "x"],
        &["--apim-name", "a", "--publisher-email", "e", "--publisher-name", "n"],
        &["--backend", "east"],
        &["--backend", "east=http://example.com"],
        &["--backend", "east=https://e.openai.azure.com,priority=0"],
    ];
    for args in cases {
        let out = oai_lb(&dir).arg("init").args(args).assert().code(2).get_output().stderr.clone();
        let err = String::from_utf8_lossy(&out);
        // clap adds a "try --help" line to its own parse errors; ours are one line.
        assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "one error line: {err}");
        assert!(!dir.path().join("oai-lb.toml").exists(), "{args:?} wrote a file");
    }
}

/// A terminal for the child: the pty's main side, read by a thread into `seen`.
struct Pty {
    main: std::fs::File,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Pty {
    /// Starts `cmd` with stdin, stdout and stderr on a new 100x30 pseudo-terminal.
    fn spawn(cmd: &mut std::process::Command) -> (Pty, std::process::Child) {
        use std::os::fd::FromRawFd;
        let (mut main, mut sub) = (0, 0);
        let size = libc::winsize { ws_row: 30, ws_col: 100, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty fills the two descriptors; each is owned by one File below.
        let rc = unsafe { libc::openpty(&mut main, &mut sub, std::ptr::null_mut(), std::ptr::null(), &size) };
        assert_eq!(rc, 0, "openpty");
        // SAFETY: the descriptors are fresh and owned here.
        let (main, sub) = unsafe { (std::fs::File::from_raw_fd(main), std::fs::File::from_raw_fd(sub)) };
        let child = cmd.stdin(sub.try_clone().unwrap()).stdout(sub.try_clone().unwrap()).stderr(sub).spawn().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (mut reader, sink) = (main.try_clone().unwrap(), seen.clone());
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child closed the terminal.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        (Pty { main, seen }, child)
    }

    /// Waits for `prompt` to appear (after what was already answered), then types `keys`.
    fn answer(&mut self, prompt: &str, keys: &str, from: &mut usize) {
        use std::io::Write;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let seen = self.seen.lock().unwrap().clone();
            if let Some(at) = seen[*from..].find(prompt) {
                *from += at + prompt.len();
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no prompt {prompt:?} in: {seen}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.main.write_all(keys.as_bytes()).unwrap();
    }
}

/// On a terminal `init` asks; a key variable that is unset (the proposed one) no longer
/// loses the answers: the file is written and the note says what to export.
#[test]
fn on_a_terminal_it_asks_and_writes_even_with_the_key_unset() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("oai-lb"));
    cmd.current_dir(dir.path()).env_clear().env("TERM", "xterm").arg("init");
    let (mut pty, mut child) = Pty::spawn(&mut cmd);
    let mut at = 0;
    pty.answer("Azure subscription id", "\r", &mut at);
    pty.answer("Add a backend?", "y", &mut at);
    pty.answer("Name", "east\r", &mut at);
    pty.answer("URL", "https://east.openai.azure.com\r", &mut at);
    pty.answer("Priority", "\r", &mut at);
    pty.answer("Authentication", "\r", &mut at);
    pty.answer("Environment variable holding its key", "\r", &mut at);
    pty.answer("Add another backend?", "n", &mut at);
    let status = child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let seen = pty.seen.lock().unwrap().clone();
    assert!(status.success(), "{status:?}: {seen}");
    assert!(seen.contains("`export AOAI_EAST_KEY=...`"), "{seen}");
    let text = std::fs::read_to_string(dir.path().join("oai-lb.toml")).unwrap();
    assert!(text.contains("api_key_env = \"AOAI_EAST_KEY\""), "{text}");
}
