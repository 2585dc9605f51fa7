#!/usr/bin/env bash
# Side-by-side benchmark: cairn vs BuildKit (dockerd's builder with DOCKER_BUILDKIT=1), one run.
#
# Both tools keep their storage on one loop-mounted ext4 image (the root file system slows down
# after heavy file churn, which would favour whichever tool runs first): a dedicated dockerd is
# started with its data root there, and cairn's store lives beside it. Base images (busybox, and
# a gcc image assembled from the host's packages) are given to both tools.
#
# Usage: benches/buildkit/run.sh [--reps N] [--cases c4-parallel,chain40,bigctx-30k-500mb]
#        BENCH=registry benches/buildkit/run.sh [--reps N]   (after one build run)
#        BENCH=platforms benches/buildkit/run.sh [--reps N]  (multi-platform builds)
# Writes benches/buildkit/results.md; copy the table into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

scripts/setup.sh
cargo build --release -p cairn-cli
cairn=${CARGO_TARGET_DIR:-$repo/target}/release/cairn

img=${BENCH_IMG:-/var/tmp/cairn-bench.img}
mnt=${BENCH_MNT:-/mnt/cairn-bench}
if ! mountpoint -q "$mnt"; then
  # The image is sparse and fills up as the cases run (both tools' storage, the contexts):
  # refuse to start where it could fill the disk the rest of the machine lives on.
  free_gb=$(df -BG --output=avail "$(dirname "$img")" | tail -1 | tr -dc 0-9)
  if [ "${free_gb:-0}" -lt 50 ]; then
    echo "benches/buildkit/run.sh: only ${free_gb}G free beside $img; the benchmark needs 50G" >&2
    exit 1
  fi
  rm -f "$img"
  truncate -s 44G "$img"
  # One inode per 4 KiB: the file-count cases (300k files, in both tools' layers and
  # snapshots) run out of inodes long before bytes at the default ratio.
  mkfs.ext4 -q -F -i 4096 "$img"
  mkdir -p "$mnt"
  mount -o loop "$img" "$mnt"
fi

sock=$mnt/docker.sock
if ! DOCKER_HOST=unix://$sock /usr/bin/docker info >/dev/null 2>&1; then
  nohup dockerd --data-root "$mnt/docker" --exec-root "$mnt/docker-exec" --pidfile "$mnt/docker.pid" \
    -H "unix://$sock" --bridge=none --iptables=false --ip-masq=false >"$mnt/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do DOCKER_HOST=unix://$sock /usr/bin/docker info >/dev/null 2>&1 && break; sleep 1; done
fi
export DOCKER_HOST=unix://$sock

work=$mnt/work
mkdir -p "$work"
export CAIRN_ROOT=$work/cairn-root
if [ ! -d "$work/busybox-rootfs" ]; then scripts/busybox-rootfs.sh "$work/busybox-rootfs"; fi
if [ ! -d "$work/gcc-rootfs" ]; then python3 benches/buildkit/make-gcc-rootfs.py "$work/gcc-rootfs"; fi
SOURCE_DATE_EPOCH=1600000000 "$cairn" import "$work/busybox-rootfs" busybox:latest >/dev/null
SOURCE_DATE_EPOCH=1600000000 "$cairn" import "$work/gcc-rootfs" gcc-bench:latest >/dev/null
tar -C "$work/busybox-rootfs" -c . | /usr/bin/docker import - busybox:latest >/dev/null
tar -C "$work/gcc-rootfs" -c . | /usr/bin/docker import - gcc-bench:latest >/dev/null

# BENCH=registry runs the registry benchmarks (push, cache export/import) on the cases the
# build benchmark generated; the default is the build benchmark.
if [ "${BENCH:-build}" = registry ]; then
  python3 benches/registry/bench.py --cairn "$cairn" --work "$work" --out benches/registry/results.md "$@"
elif [ "${BENCH:-build}" = platforms ]; then
  # BENCH=platforms: multi-platform builds (emulated arm64 steps), against a loopback registry.
  # shellcheck source=scripts/registries.sh
  . scripts/registries.sh
  python3 benches/platforms/bench.py --cairn "$cairn" --work "$work" \
    --registry "$CAIRN_TEST_REGISTRY" --out benches/platforms/results.md "$@"
else
  python3 benches/buildkit/bench.py --cairn "$cairn" --work "$work" --out benches/buildkit/results.md "$@"
  # The scaling series' plot (cost against size), when the run had any of their cases.
  python3 -c 'import matplotlib' 2>/dev/null || pip install -q matplotlib
  python3 benches/buildkit/plot.py benches/buildkit/results.json benches/buildkit/scaling.png
fi
