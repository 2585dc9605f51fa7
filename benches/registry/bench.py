#!/usr/bin/env python3
"""Registry benchmarks, cairn vs docker/BuildKit in one run (started by run.sh).

  push-500mb        push a 30,000-file / 500 MB image to an empty local registry
                    (cairn push vs docker push), a fresh registry for every push
  cache-export-c4   export the cache of the four-stage C case: cairn --cache-to
                    type=registry,mode=max vs docker push of the image built with
                    BUILDKIT_INLINE_CACHE=1 (docker 20.10's builder has no --cache-to; the
                    inline cache is what it offers). Cold: fresh store and empty registry each
                    time (the first export of a CI machine: layers compressed and uploaded);
                    warm: the registry already holds the blobs.
  cache-import-c4   build the four-stage C case on a fresh store from that registry cache
                    (cairn --cache-from type=registry vs BuildKit's --cache-from of the
                    inline-cache image)

Medians of N repetitions; tools alternate.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, root):
        self.dir = tempfile.mkdtemp(dir=root)
        self.port = free_port()
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n"
                    f"http:\n  addr: 127.0.0.1:{self.port}\n")
        self.p = subprocess.Popen(["/usr/bin/docker-registry", "serve", cfg], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        self.addr = f"127.0.0.1:{self.port}"

    def stop(self):
        self.p.kill()
        self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def run(cmd, env=None, quiet=True):
    start = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL if quiet else None, stderr=subprocess.PIPE)
    t = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr.decode(errors='replace')[-3000:]}")
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    cairn, work = a.cairn, a.work
    root = os.path.join(work, "cairn-root")
    bk = {**os.environ, "DOCKER_BUILDKIT": "1"}
    rows = []

    # push-500mb: the bigctx image, built once by each tool.
    big = os.path.join(work, "cases", "bigctx-30k-500mb")
    run([cairn, "build", "--root", root, "--progress=quiet", "-t", "bench-push:big", big])
    run(["/usr/bin/docker", "build", "--network=host", "-q", "-t", "bench-push:big", big], env=bk)
    times = {"cairn": [], "buildkit": []}
    for rep in range(a.reps):
        for tool in (["cairn", "buildkit"] if rep % 2 == 0 else ["buildkit", "cairn"]):
            reg = Registry(work)
            name = f"{reg.addr}/bench/big:{rep}"
            try:
                if tool == "cairn":
                    run([cairn, "build", "--root", root, "--progress=quiet", "-t", name, big])
                    times[tool].append(run([cairn, "push", "--root", root, name]))
                else:
                    run(["/usr/bin/docker", "tag", "bench-push:big", name])
                    times[tool].append(run(["/usr/bin/docker", "push", name]))
                    run(["/usr/bin/docker", "rmi", name])
            finally:
                reg.stop()
    rows.append(("push-500mb", times))

    # cache export, four-stage C case, mode=max. Timed: the whole `cairn build --cache-to` of an
    # already built store (its no-op build included, ~10 ms) vs `docker push` of the image
    # built with the inline cache.
    c4 = os.path.join(work, "cases", "c4-parallel")
    same = {**os.environ, "SOURCE_DATE_EPOCH": "1600000000"}

    def fresh_store(path):
        shutil.rmtree(path, ignore_errors=True)
        # The same base images as the exporting store (as if pulled from one registry).
        run([cairn, "import", "--root", path, os.path.join(work, "busybox-rootfs"), "busybox:latest"], env=same)
        run([cairn, "import", "--root", path, os.path.join(work, "gcc-rootfs"), "gcc-bench:latest"], env=same)

    # Cold: a CI machine's first export. A fresh store (bases imported, nothing compressed
    # yet) and an empty registry per repetition; BuildKit rebuilt with --no-cache.
    # mode=min (the final image's chain) is the like-for-like one: the inline cache is min.
    cold = {"cairn": [], "buildkit": []}
    cold_min = {"cairn": [], "buildkit": []}
    for rep in range(a.reps):
        for tool in (["cairn", "buildkit"] if rep % 2 == 0 else ["buildkit", "cairn"]):
            if tool == "cairn":
                for mode, into in (("max", cold), ("min", cold_min)):
                    reg = Registry(work)
                    try:
                        store = os.path.join(work, "export-store")
                        fresh_store(store)
                        run([cairn, "build", "--root", store, "--progress=quiet", c4])
                        cref = f"{reg.addr}/cache/c4:cold"
                        into["cairn"].append(run([cairn, "build", "--root", store, "--progress=quiet",
                                                  f"--cache-to=type=registry,ref={cref},mode={mode}", c4]))
                        shutil.rmtree(store, ignore_errors=True)
                    finally:
                        reg.stop()
                continue
            reg = Registry(work)
            try:
                iref = f"{reg.addr}/inline/c4:cold"
                run(["/usr/bin/docker", "build", "--network=host", "-q", "--no-cache", "--build-arg",
                     "BUILDKIT_INLINE_CACHE=1", "-t", iref, c4], env=bk)
                t = run(["/usr/bin/docker", "push", iref])
                cold["buildkit"].append(t)
                cold_min["buildkit"].append(t)
                run(["/usr/bin/docker", "rmi", iref])
            finally:
                reg.stop()
    rows.append(("cache-export-c4 mode=max (cold: fresh store, empty registry)", cold))
    rows.append(("cache-export-c4 mode=min (cold: fresh store, empty registry)", cold_min))

    # Warm: the registry already holds the blobs (an earlier export); a new tag each time.
    reg = Registry(work)
    warm = {"cairn": [], "buildkit": []}
    imp = {"cairn": [], "buildkit": []}
    try:
        for rep in range(a.reps + 1):
            cref = f"{reg.addr}/cache/c4:{rep}"
            iref = f"{reg.addr}/inline/c4:{rep}"
            run([cairn, "build", "--root", root, "--progress=quiet", c4])
            t = run([cairn, "build", "--root", root, "--progress=quiet", f"--cache-to=type=registry,ref={cref},mode=max", c4])
            run(["/usr/bin/docker", "build", "--network=host", "-q", "--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", iref, c4], env=bk)
            tb = run(["/usr/bin/docker", "push", iref])
            if rep == 0:
                continue  # the first export to this registry uploads: not warm
            warm["cairn"].append(t)
            warm["buildkit"].append(tb)
            # Import on a fresh store / a pruned builder, base images present.
            fresh = os.path.join(work, f"fresh-{rep}")
            fresh_store(fresh)
            imp["cairn"].append(run([cairn, "build", "--root", fresh, "--progress=quiet", f"--cache-from=type=registry,ref={cref}", c4]))
            shutil.rmtree(fresh, ignore_errors=True)
            run(["/usr/bin/docker", "rmi", "-f", iref])
            run(["/usr/bin/docker", "builder", "prune", "-af"])
            imp["buildkit"].append(run(["/usr/bin/docker", "build", "--network=host", "-q", "--cache-from", iref, c4], env=bk))
    finally:
        reg.stop()
    rows.append(("cache-export-c4 mode=max (warm: blobs already in the registry)", warm))
    rows.append(("cache-import-c4 (fresh store)", imp))

    out = ["| case | cairn median (s) | docker/BuildKit median (s) | cairn/BuildKit |", "|---|---:|---:|---:|"]
    for name, t in rows:
        c, b = statistics.median(t["cairn"]), statistics.median(t["buildkit"])
        out.append(f"| {name} | {c:.3f} | {b:.3f} | {c / b:.2f} |")
        print(f"{name}: cairn {t['cairn']} buildkit {t['buildkit']}", file=sys.stderr)
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
