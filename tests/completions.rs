//! The committed completion scripts are what the binary generates today.

use std::path::Path;

use clap_complete::Shell;

#[test]
fn committed_completion_scripts_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let mut stale = Vec::new();
    for (shell, file) in [
        (Shell::Bash, "oai-lb.bash"),
        (Shell::Zsh, "_oai-lb"),
        (Shell::Fish, "oai-lb.fish"),
        (Shell::PowerShell, "_oai-lb.ps1"),
        (Shell::Elvish, "oai-lb.elv"),
    ] {
        let expected = oai_lb::cli::completions::script(shell);
        let committed = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if committed != expected {
            stale.push(format!("run `cargo run -- completions {shell} > completions/{file}`"));
        }
    }
    assert!(
        stale.is_empty(),
        "completion scripts are out of date (or run scripts/update-completions.sh):\n{}",
        stale.join("\n")
    );
}
