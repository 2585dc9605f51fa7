#!/usr/bin/env bash
# The test command: formatting, lints, and every test of the workspace.
#
# The registry tests share three registries on 127.0.0.1 (plain, htpasswd basic auth, bearer
# token gateway): scripts/registries.sh starts them unless they are up and exports their
# addresses; tests that need them and do not find them fail.
#
# BuildKit's conformance data is read from ../shared/conformance/buildkit (or
# $CAIRN_CONFORMANCE_DIR). Under CI=true its absence fails the run; elsewhere the suites say loudly
# that they did not run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CAIRN_CONFORMANCE_DIR:-}" ]; then
  for d in "$PWD/../shared/conformance/buildkit" /work/shared/conformance/buildkit; do
    if [ -d "$d" ]; then export CAIRN_CONFORMANCE_DIR="$d"; break; fi
  done
fi
if [ -n "${CAIRN_CONFORMANCE_DIR:-}" ]; then
  echo "conformance data: $CAIRN_CONFORMANCE_DIR"
else
  echo "!!! BuildKit conformance data NOT FOUND: the parser, lexer and .dockerignore conformance"
  echo "!!! suites will NOT run (set CAIRN_CONFORMANCE_DIR). Under CI=true they fail instead."
fi

# shellcheck source=scripts/registries.sh
. scripts/registries.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# A short bounded run of every fuzz target (scripts/fuzz.sh: seconds each, not minutes).
scripts/fuzz.sh "${CAIRN_FUZZ_SECONDS:-10}"
