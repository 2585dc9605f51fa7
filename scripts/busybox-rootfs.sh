#!/usr/bin/env bash
# Make a small root filesystem from the host's static busybox (Debian package busybox-static):
# /bin/busybox, a symlink per applet, /etc/passwd and /etc/group with root and `app` (1000).
# Usage: scripts/busybox-rootfs.sh DEST
set -euo pipefail
dest=${1:?usage: busybox-rootfs.sh DEST}
[ -x /bin/busybox ] || { echo "/bin/busybox missing: apt-get install busybox-static" >&2; exit 1; }
mkdir -p "$dest"/{bin,etc,tmp,root,home/app,usr/bin,var}
cp /bin/busybox "$dest/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dest/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dest/etc/passwd"
printf 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' > "$dest/etc/group"
chmod 1777 "$dest/tmp"
chown 1000:1000 "$dest/home/app"
