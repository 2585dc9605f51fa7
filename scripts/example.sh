#!/usr/bin/env bash
# The main job: build cairn and plan the multi-stage example in examples/hello.
# (Once `cairn build` lands, this runs the real build.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p cairn-cli
./target/release/cairn plan examples/hello
