#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need on a fresh machine first:
# the Rust toolchain (which the machine has) and redis-server (global rate-limit tests start
# their own on a free loopback port; nothing is mocked).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
if ! command -v redis-server >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq redis-server
fi
cargo test --workspace --locked --all-targets
# Doc tests are not part of --all-targets.
cargo test --workspace --locked --doc
