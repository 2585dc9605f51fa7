#!/usr/bin/env python3
"""Plot cost against size for the scaling series of a bench.py run (its results.json): one
panel per series (context files, stages, Dockerfile instructions), each mode's median time for
cairn and BuildKit on log-log axes, and cairn's peak RSS on a second axis.

Usage: plot.py RESULTS.json OUT.png
"""
import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench import SERIES  # noqa: E402

STYLE = {"cold": "o-", "noop": "s--", "change": "^:", "plan": "d-."}


def main():
    results = json.load(open(sys.argv[1]))
    series = [(k, v) for k, v in SERIES.items() if any(c in results for c in v[1])]
    if not series:
        # A run of cases outside every series (cachemount-gcc alone): nothing to plot.
        print("plot.py: no scaling series in this run, no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, len(series), figsize=(6 * len(series), 4.8), squeeze=False)
    for ax, (_, (label, cases)) in zip(axes[0], series):
        sizes = [(n, c) for c, n in cases.items() if c in results]
        for mode, style in STYLE.items():
            for tool, colour in (("cairn", "tab:blue"), ("buildkit", "tab:red")):
                pts = [(n, results[c][mode][tool]) for n, c in sizes
                       if mode in results[c] and results[c][mode].get(tool) is not None
                       and not math.isnan(results[c][mode][tool])]
                if pts:
                    ax.plot(*zip(*pts), style, color=colour, label=f"{tool} {mode}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("seconds (median)")
        ax.grid(True, which="both", alpha=0.3)
        rss = [(n, results[c]["peak_rss_mib"]) for n, c in sizes]
        twin = ax.twinx()
        twin.plot(*zip(*rss), "x-", color="tab:green", label="cairn peak RSS")
        twin.set_ylabel("cairn peak RSS (MiB)", color="tab:green")
        twin.set_ylim(0, max(64, max(r for _, r in rss) * 1.2))
        twin.axhline(64, color="tab:green", alpha=0.3, linestyle=":")
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
