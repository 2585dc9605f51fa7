#!/usr/bin/env bash
# The frontend protocol's overhead: the same trivial build (FROM busybox, COPY, RUN) through the
# built-in Dockerfile frontend, a graph (--frontend ir), the Rust example frontend and the
# Python one, fully cached (so what is timed is starting cairn, lowering, keys and the cache
# lookup: exactly where a frontend adds its cost). Medians of N, the four alternating in every
# repetition. Target (issue 12): a protocol frontend adds < 20 ms over the built-in one.
#
# Usage: benches/frontend/run.sh [--reps N]     Writes benches/frontend/results.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p cairn-cli -p cairn-lines-frontend
python3 benches/frontend/bench.py --target "${CARGO_TARGET_DIR:-$PWD/target}/release" "$@"
