#!/usr/bin/env bash
# The registries the tests share: a plain docker-registry, one with htpasswd basic auth, and one
# behind a bearer-token gateway, all on 127.0.0.1 (free ports). Source this file: it starts them
# unless they are already up, and exports their addresses (CAIRN_TEST_REGISTRY*). Run it as
# `scripts/registries.sh stop` to stop them.
#
# State lives in $CAIRN_TEST_REGISTRIES_DIR (default /tmp/cairn-test-registries): pid, log, env,
# and each registry's config and storage.

_cairn_registries() {
  local repo dir pid target i
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  dir="${CAIRN_TEST_REGISTRIES_DIR:-/tmp/cairn-test-registries}"
  target="${CARGO_TARGET_DIR:-$repo/target}"

  _up() {
    [ -f "$dir/pid" ] && [ -f "$dir/env" ] || return 1
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || return 1
    # shellcheck disable=SC1091
    . "$dir/env"
    local h
    for h in "$CAIRN_TEST_REGISTRY" "$CAIRN_TEST_REGISTRY_BASIC" "$CAIRN_TEST_REGISTRY_BEARER"; do
      (exec 3<>"/dev/tcp/${h%:*}/${h##*:}") 2>/dev/null || return 1
    done
  }

  if [ "${1:-}" = stop ]; then
    if [ -f "$dir/pid" ]; then kill -- "-$(cat "$dir/pid")" 2>/dev/null || true; fi
    rm -rf "$dir"
    return 0
  fi
  if _up; then
    echo "test registries: already up ($CAIRN_TEST_REGISTRY, $CAIRN_TEST_REGISTRY_BASIC, $CAIRN_TEST_REGISTRY_BEARER)"
    return 0
  fi
  if [ -f "$dir/pid" ]; then kill -- "-$(cat "$dir/pid")" 2>/dev/null || true; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$repo" && cargo build --locked -q -p cairn-testkit --bin cairn-test-registries) || return 1
  setsid "$target/debug/cairn-test-registries" "$dir" >"$dir/log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/pid"
  for i in $(seq 1 600); do
    if [ -f "$dir/env" ]; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if ! _up; then
    echo "test registries did not start; $dir/log says:" >&2
    cat "$dir/log" >&2
    return 1
  fi
  echo "test registries: started ($CAIRN_TEST_REGISTRY, $CAIRN_TEST_REGISTRY_BASIC, $CAIRN_TEST_REGISTRY_BEARER)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then set -euo pipefail; fi
_cairn_registries "$@"
