#!/usr/bin/env bash
# The test command: formatting, lints, and every test of the workspace.
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
echo "conformance data: ${CAIRN_CONFORMANCE_DIR:-NOT FOUND}"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
