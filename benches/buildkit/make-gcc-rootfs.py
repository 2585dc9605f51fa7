#!/usr/bin/env python3
"""Make a root filesystem with gcc, make and busybox from this Debian host's own packages.

The benchmark's C stages need a compiler image, and the machine has no registry access: the
rootfs is assembled from the files of the host's installed packages (the Depends closure of
gcc-12, libc6-dev and make), plus busybox as /bin/sh. Usage: make-gcc-rootfs.py DEST
"""
import os
import re
import shutil
import subprocess
import sys

ROOTS = ["gcc-12", "libc6-dev", "make", "binutils"]
SKIP = {"debconf", "perl-base", "dpkg", "install-info"}


def depends(pkg):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Depends},${Pre-Depends}", pkg],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return []
    names = []
    for alt in out.stdout.split(","):
        alt = alt.strip()
        if not alt:
            continue
        first = alt.split("|")[0].strip()
        name = re.split(r"[ (:]", first)[0]
        if name:
            names.append(name)
    return names


def installed(pkg):
    return subprocess.run(["dpkg", "-s", pkg], capture_output=True).returncode == 0


def closure():
    seen, todo = set(), list(ROOTS)
    while todo:
        p = todo.pop()
        if p in seen or p in SKIP or not installed(p):
            continue
        seen.add(p)
        todo.extend(depends(p))
    return sorted(seen)


def main():
    dest = sys.argv[1]
    os.makedirs(dest, exist_ok=True)
    for d in ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "tmp", "root"]:
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    for link, target in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")]:
        p = os.path.join(dest, link)
        if not os.path.lexists(p):
            os.symlink(target, p)
    pkgs = closure()
    for pkg in pkgs:
        files = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True).stdout.split("\n")
        for f in files:
            if not f.startswith("/") or f in ("/", "/.") or f.startswith(("/usr/share/doc", "/usr/share/man", "/usr/share/info", "/usr/share/locale")):
                continue
            src = f
            rel = f.lstrip("/")
            for merged in ("bin/", "sbin/", "lib/", "lib64/"):
                if rel.startswith(merged):
                    rel = "usr/" + rel
            dst = os.path.join(dest, rel)
            if os.path.isdir(src) and not os.path.islink(src):
                os.makedirs(dst, exist_ok=True)
            elif os.path.lexists(src):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if not os.path.lexists(dst):
                    shutil.copy2(src, dst, follow_symlinks=False)
    shutil.copy2("/bin/busybox", os.path.join(dest, "usr/bin/busybox"))
    for applet in subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout.split():
        p = os.path.join(dest, "usr/bin", applet)
        if not os.path.lexists(p):
            os.symlink("busybox", p)
    for name, target in [("gcc", "gcc-12"), ("cc", "gcc-12"), ("cpp", "cpp-12")]:
        p = os.path.join(dest, "usr/bin", name)
        if os.path.lexists(p):
            os.remove(p)
        os.symlink(target, p)
    with open(os.path.join(dest, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(dest, "etc/group"), "w") as f:
        f.write("root:x:0:\n")
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    print(f"{len(pkgs)} packages: {' '.join(pkgs)}", file=sys.stderr)


if __name__ == "__main__":
    main()
