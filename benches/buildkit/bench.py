#!/usr/bin/env python3
"""cairn vs BuildKit, side by side, in one run.

Each case is built by both tools from the same context on the same loop-mounted ext4 file
system (see run.sh), alternating tools in every repetition so machine noise hits both alike.
Modes:
  cold    every step executes (--no-cache for both; base images are present for both)
  noop    rebuild with no change
  change  rebuild after changing one source file (new content every repetition)
Reports medians and the cairn/BuildKit ratio, and the cairn process's own peak RSS (VmHWM,
from its JSON progress summary; the build steps' processes are not counted).

With --cairn-before BINARY, an earlier cairn build is timed in the same run, alternating with
the other two (its own store), for before/after figures of a change (e.g. the sandbox's cost).
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

C_FUNCS = int(os.environ.get("BENCH_C_FUNCS", "300"))


def c_source(name, salt):
    lines = ["#include <stdio.h>"]
    for k in range(C_FUNCS):
        lines.append(
            f"int {name}_f{k}(int x){{int s={k};for(int i=0;i<x;i++){{s+=(i*{k + 3})^(s>>3);"
            f"if(s%{k + 7}==0)s^=i;}}return s;}}"
        )
    calls = "+".join(f"{name}_f{k}(argc)" for k in range(0, C_FUNCS, 97))
    lines.append(f"int main(int argc,char**argv){{(void)argv;printf(\"%d\\n\",{calls});return 0;}}")
    lines.append(f"/* {salt} */")
    return "\n".join(lines) + "\n"


def write(path, content, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(content)


def make_c4(d):
    stages = []
    for n in "abcd":
        write(f"{d}/{n}.c", c_source(n, 0))
        stages.append(
            f"FROM gcc-bench:latest AS {n}\nWORKDIR /src\nCOPY {n}.c .\n"
            f"RUN gcc -O2 -o /{n} {n}.c\n"
        )
    final = "FROM busybox:latest\n" + "".join(f"COPY --from={n} /{n} /usr/local/bin/{n}\n" for n in "abcd")
    write(f"{d}/Dockerfile", "\n".join(stages) + "\n" + final)
    return lambda salt: write(f"{d}/a.c", c_source("a", salt))


def make_chain(d):
    steps = ["FROM busybox:latest"]
    for i in range(40):
        if i == 20:
            steps.append("COPY input.txt /input.txt")
        steps.append(f"RUN echo step {i} >> /log && cat /log | wc -l > /count")
    write(f"{d}/Dockerfile", "\n".join(steps) + "\n")
    write(f"{d}/input.txt", "0\n")
    return lambda salt: write(f"{d}/input.txt", f"{salt}\n")


def make_bigctx(d, files=30000, total_mb=500):
    size = total_mb * 1024 * 1024 // files
    rnd = random.Random(42)
    for i in range(files):
        write(f"{d}/data/{i % 300:03d}/f{i:05d}.bin", rnd.randbytes(size), "wb")
    write(f"{d}/Dockerfile", "FROM busybox:latest\nCOPY . /ctx\nRUN du -s /ctx > /du\n")
    return lambda salt: write(f"{d}/data/000/f00000.bin", rnd.randbytes(size - 8) + salt.to_bytes(8, "little"), "wb")


def make_dag12(d):
    """12 stages in 4 levels of 3, each waiting 1 s (a download, a service): I/O-bound steps,
    critical path 4 s. Each level's stages copy the results of the level below."""
    write(f"{d}/input.txt", "0\n")
    parts = []
    for level in range(4):
        for j in range(3):
            name = f"l{level}s{j}"
            lines = [f"FROM busybox:latest AS {name}"]
            if level == 0:
                lines.append("COPY input.txt /in/input.txt")
            else:
                lines += [f"COPY --from=l{level - 1}s{k} /out /in/{k}" for k in range(3)]
            lines.append(f"RUN sleep 1 && cat /in/* > /out && echo {name} >> /out")
            parts.append("\n".join(lines))
    final = "FROM busybox:latest\n" + "".join(f"COPY --from=l3s{j} /out /out{j}\n" for j in range(3))
    write(f"{d}/Dockerfile", "\n\n".join(parts) + "\n\n" + final)
    return lambda salt: write(f"{d}/input.txt", f"{salt}\n")


def make_files(n):
    """A context of n small files (1-8 KiB, 100 per directory) copied whole, then read by a RUN:
    the context-size scaling case."""
    def make(d):
        rnd = random.Random(n)
        for i in range(n):
            write(f"{d}/src/{i // 10000:02d}/{(i // 100) % 100:02d}/f{i:06d}.txt",
                  rnd.randbytes(rnd.randint(1024, 8192)), "wb")
        write(f"{d}/Dockerfile", "FROM busybox:latest\nCOPY . /src\nRUN du -s /src > /du\n")
        return lambda salt: write(f"{d}/src/00/00/f000000.txt", f"changed {salt}\n")
    return make


def make_stages(n, group=25):
    """n independent stages (each a small RUN), gathered by groups of `group` into
    intermediate stages that a final stage copies from (a flat fan-in of n COPYs would exceed
    the layer limit of docker's storage). Stage 0 copies a context file: the one-file change."""
    def make(d):
        write(f"{d}/input.txt", "0\n")
        parts = []
        for i in range(n):
            lines = [f"FROM busybox:latest AS s{i}"]
            if i == 0:
                lines.append("COPY input.txt /in.txt")
            lines.append(f"RUN echo {i} > /out")
            parts.append("\n".join(lines))
        groups = [list(range(g, min(g + group, n))) for g in range(0, n, group)]
        for gi, members in enumerate(groups):
            parts.append(f"FROM busybox:latest AS g{gi}\n" + "\n".join(
                f"COPY --from=s{i} /out /out/{i}" for i in members))
        parts.append("FROM busybox:latest\n" + "\n".join(
            f"COPY --from=g{gi} /out /out" for gi in range(len(groups))))
        write(f"{d}/Dockerfile", "\n\n".join(parts) + "\n")
        return lambda salt: write(f"{d}/input.txt", f"{salt}\n")
    return make


def make_instructions(n):
    """A Dockerfile of n instructions that execute nothing (ENV, LABEL, ARG, WORKDIR in turn):
    the cost of parsing, planning and solving a huge file."""
    def make(d):
        lines = ["FROM busybox:latest", "ARG SALT=0"]
        for i in range(n - 2):
            k = i % 4
            lines.append([f"ENV E{i}=v{i}", f"LABEL l{i}=v{i}", f"ARG A{i}=a{i}",
                          f"WORKDIR /w{i % 10}"][k])
        lines.append("COPY input.txt /input.txt")
        write(f"{d}/input.txt", "0\n")
        write(f"{d}/Dockerfile", "\n".join(lines) + "\n")
        return lambda salt: write(f"{d}/input.txt", f"{salt}\n")
    return make


# The gcc image is assembled from packages and has no /usr/local/bin.
CACHEMOUNT_RUN = ("mkdir -p /usr/local/bin; for f in a b c d; do h=$(md5sum $f.c | cut -c1-32); "
                  "[ -f /cache/$h ] || gcc -O2 -o /cache/$h $f.c; cp /cache/$h /usr/local/bin/$f; done")


def cachemount_floor(work, ctx, change, reps):
    """The floor of the cache-mount case: its RUN's command run directly (chroot, no sandbox,
    no layers) in a copy of the same root file system, with the cache in a plain directory.
    cold: an empty cache (four compiles); change: one source changed, the cache warm."""
    root = os.path.join(work, "gcc-floor")
    if not os.path.isdir(root):
        subprocess.run(["cp", "-a", os.path.join(work, "gcc-rootfs"), root], check=True)
    src, cache = os.path.join(root, "src"), os.path.join(root, "cache")
    cmd = ["chroot", root, "/bin/sh", "-c", "cd /src && " + CACHEMOUNT_RUN]
    out = {"cold": [], "change": []}
    for rep in range(reps):
        shutil.rmtree(cache, ignore_errors=True)
        os.makedirs(cache)
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(ctx, src)
        out["cold"].append(run_timed(cmd)[0])
        change(time.monotonic_ns() % 10**9 + rep + 1)
        shutil.copy(os.path.join(ctx, "a.c"), os.path.join(src, "a.c"))
        out["change"].append(run_timed(cmd)[0])
    return {m: statistics.median(t) for m, t in out.items()}


def make_cachemount(d):
    """A ccache-like cache mount: four C files compiled in one RUN whose objects are kept in a
    cache mount by content; a change recompiles one file and reuses three."""
    for n in "abcd":
        write(f"{d}/{n}.c", c_source(n, 0))
    write(f"{d}/Dockerfile", "FROM gcc-bench:latest\nWORKDIR /src\nCOPY *.c ./\n"
          f"RUN --mount=type=cache,target=/cache sh -c '{CACHEMOUNT_RUN}'\n")
    return lambda salt: write(f"{d}/a.c", c_source("a", salt))


CASES = {"c4-parallel": make_c4, "chain40": make_chain, "bigctx-30k-500mb": make_bigctx,
         "dag12-sleep": make_dag12, "cachemount-gcc": make_cachemount,
         "files-25k": make_files(25000), "files-100k": make_files(100000),
         "files-300k": make_files(300000),
         "stages-50": make_stages(50), "stages-200": make_stages(200),
         "stages-1000": make_stages(1000),
         "instr-10k": make_instructions(10000), "instr-100k": make_instructions(100000)}

# What each scaling series measures and the size of each of its cases.
SERIES = {"files": ("context files", {"files-25k": 25000, "files-100k": 100000,
                                       "files-300k": 300000}),
          "stages": ("stages", {"stages-50": 50, "stages-200": 200, "stages-1000": 1000}),
          "instr": ("Dockerfile instructions", {"instr-10k": 10000, "instr-100k": 100000})}


class Tools:
    def __init__(self, cairn, root, extra=()):
        self.cairn = cairn
        self.root = root
        self.extra = list(extra)
        self.peak_kb = {}

    def cairn_build(self, case, ctx, cold):
        # Like `docker build -t`, the result is tagged (an image is assembled and stored).
        cmd = [self.cairn, "build", "--root", self.root, "--progress=json", "-t", f"bench-{case}"]
        cmd += self.extra
        if cold:
            cmd.append("--no-cache")
        cmd.append(ctx)
        t, stderr = run_timed(cmd)
        for line in reversed(stderr.splitlines()):
            if b'"summary"' in line:
                kb = json.loads(line).get("peak_rss_kib") or 0
                self.peak_kb[case] = max(self.peak_kb.get(case, 0), kb)
                break
        return t

    def buildkit_build(self, case, ctx, cold):
        cmd = ["/usr/bin/docker", "build", "--network=host", "-q", "-t", f"bench-{case}"]
        if cold:
            cmd.append("--no-cache")
        cmd.append(ctx)
        return run_timed(cmd, env={**os.environ, "DOCKER_BUILDKIT": "1"}, may_fail=True)[0]


def free_case(name, ctx, cairns):
    """Give back a finished case's space (its context, both tools' images and caches), so the
    big cases that follow find room on the bench image: 3 repetitions of a 300k-file copy are
    several GB per tool and mode."""
    shutil.rmtree(ctx, ignore_errors=True)
    for t in cairns:
        subprocess.run([t.cairn, "rmi", "--root", t.root, f"bench-{name}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([t.cairn, "prune", "--all", "--root", t.root],
                       stdout=subprocess.DEVNULL, check=True)
    subprocess.run(["/usr/bin/docker", "rmi", "-f", f"bench-{name}"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["/usr/bin/docker", "builder", "prune", "-af"], stdout=subprocess.DEVNULL, check=True)


# A reference build slower than this is a result ("timed out", NaN), not a wait without end:
# BuildKit 20.10 parses 10,000-instruction Dockerfiles for many minutes.
REFERENCE_TIMEOUT = float(os.environ.get("BENCH_REFERENCE_TIMEOUT", "600"))


def run_timed(cmd, env=None, may_fail=False):
    start = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=REFERENCE_TIMEOUT if may_fail else None)
    except subprocess.TimeoutExpired:
        print(f"timed out after {REFERENCE_TIMEOUT:.0f}s: {' '.join(cmd)}", file=sys.stderr)
        return float("nan"), b""
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        msg = f"command failed: {' '.join(cmd)}\n{p.stderr.decode(errors='replace')[-3000:]}"
        if may_fail:
            # The reference failing (BuildKit on a pathological case) is a result, not the
            # end of the run: it shows as NaN ("failed") in the tables.
            print(msg, file=sys.stderr)
            return float("nan"), p.stderr
        sys.exit(msg)
    return elapsed, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--out", required=True)
    ap.add_argument("--modes", default="cold,noop,change",
                    help="builds to time (cold, noop, change); 'plan' alone times only the "
                         "instruction cases' planning")
    ap.add_argument("--cairn-before", help="an earlier cairn binary, timed alongside")
    ap.add_argument("--before-args", default="",
                    help="extra build flags of the 'before' runs (e.g. '--jobs 2' for an old default)")
    args = ap.parse_args()
    tools = Tools(args.cairn, os.path.join(args.work, "cairn-root"))
    before = None
    if args.cairn_before:
        before = Tools(args.cairn_before, os.path.join(args.work, "cairn-root-before"),
                       args.before_args.split())
        for img, src in [("busybox:latest", "busybox-rootfs"), ("gcc-bench:latest", "gcc-rootfs")]:
            subprocess.run([args.cairn_before, "import", "--root", before.root,
                            os.path.join(args.work, src), img], check=True,
                           stdout=subprocess.DEVNULL, env={**os.environ, "SOURCE_DATE_EPOCH": "1600000000"})
    rows = []
    all_results = {}
    for name in args.cases.split(","):
        ctx = os.path.join(args.work, "cases", name)
        shutil.rmtree(ctx, ignore_errors=True)
        change = CASES[name](ctx)
        print(f"== {name}", file=sys.stderr)
        results = {}
        # "plan" is not a build: the instruction cases' planning is timed below.
        modes = [m for m in args.modes.split(",") if m in ("cold", "noop", "change")]
        for mode in modes:
            times = {"cairn": [], "buildkit": [], "before": []}
            if mode != "cold":
                tools.cairn_build(name, ctx, False)
                tools.buildkit_build(name, ctx, False)
                if before:
                    before.cairn_build(name, ctx, False)
            for rep in range(args.reps):
                if mode == "change":
                    change(time.monotonic_ns() % 10**9 + rep + 1)
                order = [("cairn", tools.cairn_build), ("buildkit", tools.buildkit_build)]
                if before:
                    order.append(("before", before.cairn_build))
                order = order[rep % len(order):] + order[:rep % len(order)]
                if rep % 2:
                    order.reverse()
                # Both tools see the same changed file in this repetition.
                for tool, fn in order:
                    times[tool].append(fn(name, ctx, mode == "cold"))
            c = statistics.median(times["cairn"])
            b = (float("nan") if any(t != t for t in times["buildkit"])
                 else statistics.median(times["buildkit"]))
            results[mode] = (c, b)
            extra = ""
            if before:
                p = statistics.median(times["before"])
                extra = f"  before {p:7.3f}s  ratio {p / b:5.2f}"
            print(f"   {mode:7s} cairn {c:7.3f}s  buildkit {b:7.3f}s  ratio {c / b:5.2f}{extra}", file=sys.stderr)
            rows.append((name, mode, c, b, times))
        if name == "cachemount-gcc":
            floor = cachemount_floor(args.work, ctx, change, args.reps)
            for m, t in floor.items():
                print(f"   floor   {m:7s} {t:7.3f}s (the RUN's command in a chroot)", file=sys.stderr)
            results["floor"] = (floor.get("change", float("nan")), float("nan"))
            results["floor-cold"] = (floor.get("cold", float("nan")), float("nan"))
        if name.startswith("instr-"):
            # Planning alone: parse, lower, keys (no build), cairn only.
            plan = []
            for _ in range(args.reps):
                t, err = run_timed(["/usr/bin/time", "-f", "maxrss_kib=%M", args.cairn, "plan",
                                    "--root", tools.root, ctx])
                plan.append(t)
                for line in err.decode(errors="replace").splitlines():
                    if line.startswith("maxrss_kib="):
                        kb = int(line.split("=", 1)[1])
                        tools.peak_kb[name] = max(tools.peak_kb.get(name, 0), kb)
            results["plan"] = (statistics.median(plan), float("nan"))
            print(f"   plan    cairn {results['plan'][0]:7.3f}s", file=sys.stderr)
        print(f"   cairn peak RSS {tools.peak_kb.get(name, 0) / 1024:.1f} MiB", file=sys.stderr)
        all_results[name] = {m: {"cairn": c, "buildkit": b} for m, (c, b) in results.items()}
        all_results[name]["peak_rss_mib"] = tools.peak_kb.get(name, 0) / 1024
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump(all_results, f, indent=1, default=lambda x: None)
        free_case(name, ctx, [t for t in (tools, before) if t])

    targets = {"cold": 0.9, "noop": 0.1, "change": 0.5}
    out = [
        "| case | mode | cairn median (s) | BuildKit median (s) | cairn/BuildKit | target |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, mode, c, b, _ in rows:
        target = targets[mode] if (mode != "cold" or name.startswith(("c4", "dag12"))) else None
        if mode == "change" and name.startswith(("files-", "bigctx")):
            target = 0.3
        mark = "" if target is None else (f"≤ {target} " + ("✅" if c / b <= target else "❌"))
        out.append(f"| {name} | {mode} | {c:.3f} | {b:.3f} | {c / b:.2f} | {mark} |")
    if before:
        out.append("")
        out.append("| case | mode | before (s) | after (s) | BuildKit (s) | before/BuildKit | after/BuildKit | after − before per step (ms) |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|")
        steps = {"c4-parallel": 4, "chain40": 40, "bigctx-30k-500mb": 1, "dag12-sleep": 12}
        for name, mode, c, b, times in rows:
            p = statistics.median(times["before"])
            per = (c - p) * 1000 / steps.get(name, 1) if mode == "cold" else float("nan")
            out.append(f"| {name} | {mode} | {p:.3f} | {c:.3f} | {b:.3f} | {p / b:.2f} | {c / b:.2f} | "
                       + ("" if per != per else f"{per:+.1f}") + " |")
    out.append("")
    out.append("| case | cairn peak RSS (MiB) |")
    out.append("|---|---:|")
    for name in args.cases.split(","):
        out.append(f"| {name} | {tools.peak_kb.get(name, 0) / 1024:.1f} |")
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
