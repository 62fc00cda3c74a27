#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need on a fresh machine first:
# the Rust toolchain (which the machine has), redis-server (global rate-limit tests start
# their own on a free loopback port; nothing is mocked) and prometheus (the metrics test starts
# its own on a free loopback port and scrapes a gateway with it).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }

# Installs Debian packages quietly, without starting their services: the tests run their own
# processes. `policy-rc.d` exiting 101 forbids invoke-rc.d and deb-systemd-invoke to start
# services during the install; one is put in place for the install when the machine has none.
apt_install() {
  local sudo="" policy=/usr/sbin/policy-rc.d added=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Added by rampart scripts/test.sh for one install.\nexit 101\n' \
      | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    added=1
    # shellcheck disable=SC2064 # expand now: the locals are gone when the trap runs
    trap "$sudo rm -f $policy" EXIT
  fi
  local status=0
  $sudo apt-get update -qq \
    && $sudo env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || status=$?
  if [ -n "$added" ]; then
    $sudo rm -f "$policy"
    trap - EXIT
  fi
  return "$status"
}

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v prometheus >/dev/null || missing+=(prometheus)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (apt-get)"
  apt_install "${missing[@]}"
fi
cargo test --workspace --locked --all-targets
# Doc tests are not part of --all-targets.
cargo test --workspace --locked --doc
