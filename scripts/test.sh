#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need on a fresh machine first
# (today: only the Rust toolchain, which the machine has).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
cargo test --workspace --locked --all-targets
# Doc tests are not part of --all-targets.
cargo test --workspace --locked --doc
