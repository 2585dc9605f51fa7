#!/usr/bin/env python3
"""Multi-platform builds side by side with BuildKit (issue 15): one small program built for
this machine (linux/amd64), for linux/arm64 (emulated: binfmt_misc + qemu-user-static), and for
both at once.

docker 20.10's builder builds one platform per command (`docker build --platform`), so its
two-platform figure is the two builds one after the other, as a user of that docker would run
them; cairn's is one `--platform linux/amd64,linux/arm64` build. Both tools start from the same
base: a two-platform busybox index on a loopback `docker-registry` (docker's builder takes a
foreign base from a registry only), pulled once before the timed builds. Every timed build is
cold (`--no-cache`); medians of --reps, the tools alternating.

Reported: each tool's emulation overhead (arm64 / native), cairn's parallel speed-up (native
+ arm64 / both), and the cairn/BuildKit ratios.

Run through `BENCH=platforms benches/buildkit/run.sh [--reps N]` (it sets up the loop-mounted
storage, the dockerd and the base images).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

# A small CPU-bound program in busybox's shell: about a second natively here, several under
# emulation (the emulator translates every instruction of the shell).
PROGRAM = """i=0; s=0
while [ $i -lt 150000 ]; do i=$((i+1)); s=$(( (s * 31 + i) % 1000003 )); done
echo "sum $s"
seq 1 1500000 | sha256sum
uname -m
"""


def run_timed(cmd, env=None):
    start = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{p.stderr.decode(errors='replace')[-3000:]}")
    return elapsed


def arm64_rootfs(work, native_rootfs, busybox):
    """The busybox root file system with arm64's busybox in place of the host's."""
    dest = os.path.join(work, "busybox-arm64-rootfs")
    if not os.path.isdir(dest):
        shutil.copytree(native_rootfs, dest, symlinks=True)
        shutil.copy(busybox, os.path.join(dest, "bin", "busybox"))
    return dest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--registry", required=True, help="host:port of a loopback docker-registry")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    cairn, work = args.cairn, args.work
    root = os.path.join(work, "cairn-root-platforms")
    native_rootfs = os.path.join(work, "busybox-rootfs")
    foreign = os.environ.get("CAIRN_FOREIGN_BUSYBOX_DIR", "/var/lib/cairn-test/busybox-arm64")
    arm_rootfs = arm64_rootfs(work, native_rootfs, os.path.join(foreign, "bin", "busybox"))

    # The base: both platforms under one name, pushed as an index.
    base = f"{args.registry}/bench/busybox:multi"
    seed = os.path.join(work, "cairn-root-seed")
    shutil.rmtree(seed, ignore_errors=True)
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1600000000"}
    for platform, rootfs in [("linux/amd64", native_rootfs), ("linux/arm64", arm_rootfs)]:
        subprocess.run([cairn, "import", "--root", seed, "--platform", platform, rootfs, base],
                       check=True, stdout=subprocess.DEVNULL, env=env)
    subprocess.run([cairn, "push", "--root", seed, base], check=True, stdout=subprocess.DEVNULL)

    ctx = os.path.join(work, "cases", "platforms-program")
    shutil.rmtree(ctx, ignore_errors=True)
    os.makedirs(ctx)
    with open(os.path.join(ctx, "prog.sh"), "w") as f:
        f.write(PROGRAM)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(f"FROM {base}\nCOPY prog.sh /prog.sh\nRUN sh /prog.sh > /out\n")

    docker_env = {**os.environ, "DOCKER_BUILDKIT": "1"}

    def cairn_build(platforms):
        return run_timed([cairn, "build", "--root", root, "--progress=plain", "--no-cache",
                          "--platform", platforms, "-t", "bench-platforms", ctx])

    def docker_build(platform):
        return run_timed(["/usr/bin/docker", "build", "--network=host", "-q", "--no-cache",
                          "--platform", platform, "-t", f"bench-platforms-{platform.replace('/', '-')}",
                          ctx], env=docker_env)

    # Both tools pull the base for both platforms once, untimed.
    cairn_build("linux/amd64,linux/arm64")
    docker_build("linux/amd64")
    docker_build("linux/arm64")

    times = {k: [] for k in ["cairn native", "cairn arm64", "cairn both",
                             "buildkit native", "buildkit arm64", "buildkit both"]}
    for rep in range(args.reps):
        runs = [
            ("cairn native", lambda: cairn_build("linux/amd64")),
            ("cairn arm64", lambda: cairn_build("linux/arm64")),
            ("cairn both", lambda: cairn_build("linux/amd64,linux/arm64")),
            ("buildkit native", lambda: docker_build("linux/amd64")),
            ("buildkit arm64", lambda: docker_build("linux/arm64")),
            ("buildkit both", lambda: docker_build("linux/amd64") + docker_build("linux/arm64")),
        ]
        # The tools alternate which goes first.
        if rep % 2:
            runs = runs[3:] + runs[:3]
        for name, fn in runs:
            t = fn()
            times[name].append(t)
            print(f"   rep {rep + 1} {name:16s} {t:7.3f}s", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in times.items()}
    c_over = med["cairn arm64"] / med["cairn native"]
    b_over = med["buildkit arm64"] / med["buildkit native"]
    c_speedup = (med["cairn native"] + med["cairn arm64"]) / med["cairn both"]
    out = [
        f"Medians of {args.reps} cold builds (`--no-cache`), the tools alternating.",
        "",
        "| build | cairn (s) | BuildKit (s) | cairn/BuildKit |",
        "|---|---:|---:|---:|",
    ]
    for what in ["native", "arm64", "both"]:
        c, b = med[f"cairn {what}"], med[f"buildkit {what}"]
        label = {"native": "linux/amd64 (native)", "arm64": "linux/arm64 (emulated)",
                 "both": "both platforms (BuildKit: two commands)"}[what]
        out.append(f"| {label} | {c:.3f} | {b:.3f} | {c / b:.2f} |")
    out += [
        "",
        f"- Emulation overhead (arm64 / native): cairn {c_over:.1f}×, BuildKit {b_over:.1f}×.",
        f"- cairn's parallel speed-up (native + arm64 built apart / both in one build): "
        f"{c_speedup:.2f}×.",
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
