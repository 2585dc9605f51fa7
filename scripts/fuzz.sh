#!/usr/bin/env bash
# Coverage-guided fuzzing of cairn's parsers of hostile input (fuzz/targets/*.rs), on stable
# Rust: libFuzzer (libfuzzer-sys) with the sanitizer-coverage instrumentation rustc has on
# stable, debug assertions and overflow checks on.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Each target runs SECONDS (default 10) on a corpus seeded from the tests: the corpus
# Dockerfiles (and BuildKit's parser test data when $CAIRN_CONFORMANCE_DIR is set), .dockerignore
# files, and small layers, archives, manifests and configs made by cairn itself. A crash, a
# timeout (10 s per input) or more than 2 GiB of memory fails the run; the input that did it is
# left in fuzz/artifacts/TARGET/. The corpus grows in target/fuzz-corpus/ between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(dockerfile dockerignore layer_tar archive_import manifest)

triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# --target: the flags reach the targets and their dependencies, not build scripts.
cargo build --locked --release --quiet --manifest-path fuzz/Cargo.toml --target "$triple" \
  --target-dir target/fuzz
bin=target/fuzz/$triple/release

corpus=$root/target/fuzz-corpus
seeds() { mkdir -p "$corpus/$1"; echo "$corpus/$1"; }

# Seeds, made fresh each run (cheap) and added to the corpus.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
d=$(seeds dockerfile)
i=0
for f in tests/corpus/*/Dockerfile* tests/builds/*/Dockerfile* examples/*/Dockerfile*; do
  [ -f "$f" ] && cp "$f" "$d/seed-$((i++))"
done
if [ -n "${CAIRN_CONFORMANCE_DIR:-}" ] && [ -d "$CAIRN_CONFORMANCE_DIR" ]; then
  # Read from where it lives, never kept: seeds go to the scratch corpus only.
  find "$CAIRN_CONFORMANCE_DIR" -type f -name 'Dockerfile*' | while read -r f; do
    cp "$f" "$d/conformance-$(sha256sum "$f" | cut -c1-16)"
  done
fi
d=$(seeds dockerignore)
i=0
while IFS= read -r f; do
  { cat "$f"; printf '\0a/b/c\nnode_modules/x\n.git/config\nsrc/main.rs\n'; } >"$d/seed-$((i++))"
done < <(find tests examples -name '.dockerignore' -type f)
printf '*.log\n!keep.log\nbuild/**\n\0a.log\nkeep.log\nbuild/x/y\n' >"$d/seed-basic"

# Layers: a small tree with a link, a symlink, a whiteout and an opaque directory.
mkdir -p "$work/tree/dir/sub" "$work/tree/gone"
echo hello >"$work/tree/dir/file"
ln "$work/tree/dir/file" "$work/tree/dir/hard"
ln -s ../dir/file "$work/tree/dir/sub/link"
touch "$work/tree/.wh.old" "$work/tree/gone/.wh..wh..opq"
d=$(seeds layer_tar)
tar -C "$work/tree" -cf "$d/seed-plain.tar" .
gzip -c "$d/seed-plain.tar" >"$d/seed.tar.gz"

# Archives, manifests and configs: a tiny image built by cairn itself.
cairn=target/debug/cairn
[ -x "$cairn" ] || cargo build --locked --quiet -p cairn-cli
mkdir -p "$work/ctx"
echo hi >"$work/ctx/f"
printf 'FROM scratch\nCOPY f /f\nENV A=1\nCMD ["/f"]\n' >"$work/ctx/Dockerfile"
"$cairn" build --root "$work/store" -q -o "type=docker,dest=$work/docker.tar" "$work/ctx" >/dev/null
"$cairn" build --root "$work/store" -q -o "type=oci,dest=$work/oci.tar" "$work/ctx" >/dev/null
d=$(seeds archive_import)
cp "$work/docker.tar" "$d/seed-docker.tar"
cp "$work/oci.tar" "$d/seed-oci.tar"
d=$(seeds manifest)
mkdir -p "$work/oci"
tar -C "$work/oci" -xf "$work/oci.tar"
cp "$work/oci/index.json" "$d/seed-index.json"
for b in "$work"/oci/blobs/sha256/*; do
  # The manifest and the config (JSON); layers are left out.
  head -c1 "$b" | grep -q '{' && cp "$b" "$d/seed-$(basename "$b" | cut -c1-16)"
done

status=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/artifacts/$t"
  echo "fuzz: $t for ${seconds}s"
  if ! "$bin/$t" "$corpus/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=1048576 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" \
    >"$work/$t.log" 2>&1; then
    status=1
    echo "fuzz: $t FAILED:"
    grep -E -A30 'ERROR: libFuzzer|panicked|==ERROR' "$work/$t.log" | head -60
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|cov: ' "$work/$t.log" | tail -3 | sed "s/^/  /"
done
exit $status
