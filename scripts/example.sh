#!/usr/bin/env bash
# The main job: a real multi-stage build of examples/hello on a fresh machine.
#   1. install what is needed (busybox-static for the base image, docker to run the result)
#   2. build cairn
#   3. make the busybox base image and import it into cairn's store
#   4. build the example (two stages in parallel, COPY --from into a slim final image)
#   5. load the image into docker and run it
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release -p cairn-cli
cairn=./target/release/cairn
export CAIRN_ROOT=${CAIRN_ROOT:-/var/lib/cairn}

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
scripts/busybox-rootfs.sh "$rootfs"
"$cairn" import "$rootfs" busybox:latest

mkdir -p target/example
"$cairn" build -t cairn-example/hello:latest \
  -o type=docker,dest=target/example/hello.tar \
  -o type=local,dest=target/example/rootfs \
  examples/hello
echo "--- second build (everything cached):"
"$cairn" build -t cairn-example/hello:latest examples/hello

/usr/bin/docker load -i target/example/hello.tar
echo "--- docker run cairn-example/hello:latest:"
/usr/bin/docker run --rm --network=host cairn-example/hello:latest
