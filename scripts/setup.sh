#!/usr/bin/env bash
# Everything a fresh Debian machine needs for cairn's tests and examples, idempotent:
#   - busybox-static: the tests and examples make their base image from /bin/busybox
#   - docker.io (dockerd + BuildKit), skopeo, umoci: compatibility checks and benchmarks
#   - docker-registry, apache2-utils (htpasswd): registry tests on loopback
#   - slirp4netns: the default network of RUN steps (a namespace of their own)
#   - g++: libFuzzer (the fuzz targets, scripts/fuzz.sh) is C++
#   - git: git sources (`ADD <repo>.git`, git contexts) and their tests (git daemon)
#   - openssh-client, openssh-server: `--ssh` agents and key files, git over ssh, and their
#     tests (an sshd of the test's own on 127.0.0.1)
#   - gcc, libc6-dev, iproute2, util-linux: the sandbox tests build small static probes, make
#     network namespaces, loop devices and pseudo-terminals
#   - tmux: the live progress view is tested in a real terminal (send-keys, capture-pane)
#   - qemu-user-static, binfmt-support: RUN steps for another architecture (multi-platform
#     builds) run through binfmt_misc handlers with the F flag; arm64's busybox-static is the
#     tests' foreign base image (unpacked to $CAIRN_FOREIGN_BUSYBOX_DIR, below)
# and a running dockerd (no bridge, no iptables: this machine has no network but loopback).
set -euo pipefail

need=()
for pkg in busybox-static docker.io skopeo umoci docker-registry apache2-utils slirp4netns \
  gcc g++ git libc6-dev iproute2 util-linux openssh-client openssh-server tmux \
  qemu-user-static binfmt-support; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# Foreign programs run through binfmt_misc: mounted, and qemu's handlers registered.
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64 || true
fi
handler=/proc/sys/fs/binfmt_misc/qemu-aarch64
if ! { [ "$(head -1 "$handler" 2>/dev/null)" = enabled ] && grep -q '^flags: .*F' "$handler"; }; then
  echo "setup: no enabled binfmt_misc handler with the F flag for arm64 programs ($handler)"
  exit 1
fi
# arm64's static busybox, unpacked (not installed: it would replace the host's).
foreign=${CAIRN_FOREIGN_BUSYBOX_DIR:-/var/lib/cairn-test/busybox-arm64}
if [ ! -x "$foreign/bin/busybox" ]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt-get update -qq
  fi
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download -qq -o APT::Sandbox::User=root busybox-static:arm64 ||
    { apt-get update -qq && apt-get download -qq -o APT::Sandbox::User=root busybox-static:arm64; }; })
  mkdir -p "$foreign"
  dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$foreign"
  rm -rf "$tmp"
fi

if ! /usr/bin/docker info >/dev/null 2>&1; then
  nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/cairn-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    /usr/bin/docker info >/dev/null 2>&1 && break
    sleep 1
  done
  /usr/bin/docker info >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -20 /var/log/cairn-dockerd.log; exit 1; }
fi
foreign_arch=$("$foreign/bin/busybox" uname -m)
[ "$foreign_arch" = aarch64 ] || { echo "setup: $foreign/bin/busybox says '$foreign_arch', not aarch64"; exit 1; }
echo "setup: arm64 busybox at $foreign ($foreign_arch under qemu)"
echo "setup: busybox-static, docker $(/usr/bin/docker version --format '{{.Server.Version}}'), skopeo, umoci ready"
