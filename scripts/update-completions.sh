#!/usr/bin/env bash
# Regenerates the committed shell completion scripts from the binary's own command tree.
# Run it after adding or changing a command; tests/completions.rs fails until you do.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin oai-lb
bin="${CARGO_TARGET_DIR:-target}/debug/oai-lb"
for pair in bash:oai-lb.bash zsh:_oai-lb fish:oai-lb.fish powershell:_oai-lb.ps1 elvish:oai-lb.elv; do
  "$bin" completions "${pair%%:*}" > "completions/${pair#*:}"
done
echo "updated completions/ for bash, zsh, fish, powershell and elvish"
