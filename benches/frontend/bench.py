#!/usr/bin/env python3
"""See run.sh."""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--target", required=True)
ap.add_argument("--reps", type=int, default=20)
ap.add_argument("--out", default="benches/frontend/results.md")
a = ap.parse_args()
repo = os.getcwd()
cairn = os.path.join(a.target, "cairn")
lines = os.path.join(a.target, "cairn-lines-frontend")
yaml = os.path.join(repo, "examples/frontends/yaml/cairn-yaml-frontend")

work = tempfile.mkdtemp(prefix="cairn-frontend-bench-")
store = os.path.join(work, "store")
ctx = os.path.join(work, "ctx")
os.makedirs(ctx)
files = {
    "a.txt": "hello\n",
    "Dockerfile": "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt /a.txt > /b.txt\n",
    "build.lines": "from busybox\ncopy a.txt /a.txt\nrun cat /a.txt /a.txt > /b.txt\n",
    "cairn.yaml": "base: busybox\nfiles:\n  a.txt: /a.txt\nrun:\n  - cat /a.txt /a.txt > /b.txt\n",
}
for name, text in files.items():
    with open(os.path.join(ctx, name), "w") as f:
        f.write(text)
rootfs = os.path.join(work, "busybox-rootfs")
subprocess.run(["scripts/busybox-rootfs.sh", rootfs], check=True, stdout=subprocess.DEVNULL)
env = dict(os.environ, SOURCE_DATE_EPOCH="1600000000", CAIRN_ROOT=store)
subprocess.run([cairn, "import", rootfs, "busybox:latest"], check=True, env=env, stdout=subprocess.DEVNULL)
plan = subprocess.run([cairn, "plan", "--format", "json", ctx], check=True, env=env, capture_output=True).stdout
graph = os.path.join(work, "graph.json")
with open(graph, "wb") as f:
    f.write(plan)

variants = {
    "dockerfile (built-in)": [cairn, "build", "--progress=quiet", ctx],
    "ir (graph file)": [cairn, "build", "--progress=quiet", "--frontend", "ir", "-f", graph, ctx],
    "exec: Rust (SDK)": [cairn, "build", "--progress=quiet", "--frontend", "exec:" + lines, ctx],
    "exec: Python": [cairn, "build", "--progress=quiet", "--frontend", "exec:" + yaml, "-f", os.path.join(ctx, "cairn.yaml"), ctx],
}
for cmd in variants.values():  # cold, once: fills the cache (the same steps for all four)
    subprocess.run(cmd, check=True, env=env)
times = {k: [] for k in variants}
for _ in range(a.reps):
    for k, cmd in variants.items():
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=env)
        times[k].append(time.perf_counter() - t)
# What the Python frontend pays before it speaks: the interpreter and its imports.
py = []
for _ in range(a.reps):
    t = time.perf_counter()
    subprocess.run(["/usr/bin/env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "python3", "-c", "import base64, json, sys"], check=True)
    py.append(time.perf_counter() - t)
base = statistics.median(times["dockerfile (built-in)"])
rows = ["| frontend | median (ms) | over built-in (ms) |", "|---|---:|---:|"]
for k, ts in times.items():
    m = statistics.median(ts)
    rows.append("| %s | %.1f | %+.1f |" % (k, m * 1000, (m - base) * 1000))
rows.append("| (python3 starting and importing json, base64: no cairn) | %.1f | |" % (statistics.median(py) * 1000))
out = "Fully cached trivial build (FROM busybox, COPY, RUN), medians of %d, alternating.\n\n%s\n" % (a.reps, "\n".join(rows))
print(out)
with open(a.out, "w") as f:
    f.write(out)
shutil.rmtree(work, ignore_errors=True)
