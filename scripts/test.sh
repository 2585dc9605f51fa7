#!/usr/bin/env bash
# The test command: formatting, lints, and every test of the workspace.
#
# The registry tests share three registries on 127.0.0.1 (plain, htpasswd basic auth, bearer
# token gateway): scripts/registries.sh starts them unless they are up and exports their
# addresses; tests that need them and do not find them fail.
#
# BuildKit's conformance data is read from ../shared/conformance/buildkit (or
# $CAIRN_CONFORMANCE_DIR), found by cairn_testkit::conformance. Without it the suites show as
# ignored, and under CI=true they fail; they never pass without it.
set -euo pipefail
cd "$(dirname "$0")/.."

data="${CAIRN_CONFORMANCE_DIR:-$PWD/../shared/conformance/buildkit}"
if [ -d "$data" ]; then
  echo "conformance data: $data"
else
  echo "!!! BuildKit conformance data NOT FOUND at $data: the parser, lexer and .dockerignore"
  echo "!!! conformance suites are IGNORED (set CAIRN_CONFORMANCE_DIR). Under CI=true they fail."
fi

# shellcheck source=scripts/registries.sh
. scripts/registries.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
# The frontend's generated Unicode tables still match their data (scripts/unicode-tables.py).
python3 scripts/unicode-tables.py check
# The fast tier first: planning and the scheduler, no root, no services (seconds).
cargo test --locked -p cairn-ir -p cairn-dockerfile -p cairn-context -p cairn-solver
cargo test --workspace --locked
# A short bounded run of every fuzz target (scripts/fuzz.sh: seconds each, not minutes).
scripts/fuzz.sh "${CAIRN_FUZZ_SECONDS:-10}"
