#!/usr/bin/env python3
"""Draw docs/img/benchmarks.png from the outputs of docs/bench/measure.sh and print the
markdown table of docs/benchmarks.md.

    pip install matplotlib
    python3 docs/bench_chart.py docs/bench/results docs/img/benchmarks.png

Figures are medians over runs of consumed msg/s: pier's `pier-broker bench --format json`
(workloads[0].consumed.msgs_per_sec), the independent async-nats loop (examples/nats_loop.rs),
and the seed's published table.
"""
import glob
import json
import os
import re
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# The seed's figures (msg/s), from its README.
SEED = {("push", 1): 12_000, ("push", 3): 28_000, ("pull", 1): 8_000, ("pull", 3): 25_000}
LOOP_LINE = re.compile(r"consumed in ([\d.]+)s = (\d+) msg/s")
CPU_LINE = re.compile(r"client-cpu user ([\d.]+) sys ([\d.]+)")


def client_cpu(path):
    """CPU seconds the client used, from the GNU time line beside its output."""
    try:
        with open(path + ".cpu") as f:
            m = CPU_LINE.search(f.read())
    except FileNotFoundError:
        return None
    return float(m.group(1)) + float(m.group(2)) if m else None


def pier_runs(results, mode, nodes):
    runs = []
    for path in sorted(glob.glob(os.path.join(results, f"{mode}-n{nodes}-r*.json"))):
        with open(path) as f:
            text = f.read()
        if not text.strip():
            continue
        report = json.loads(text)
        workload = report["workloads"][0]
        cpu = client_cpu(path)
        runs.append(
            {
                "rate": workload["consumed"]["msgs_per_sec"],
                "ok": report["ok"],
                "p50": workload["latency_us"]["p50"],
                "p99": workload["latency_us"]["p99"],
                "cpu_us": cpu * 1e6 / workload["consumed"]["messages"] if cpu else None,
            }
        )
    return runs


def loop_runs(results, mode, nodes, messages):
    runs = []
    for path in sorted(glob.glob(os.path.join(results, f"loop-{mode}-n{nodes}-r*.txt"))):
        with open(path) as f:
            m = LOOP_LINE.search(f.read())
        if m:
            cpu = client_cpu(path)
            runs.append({"rate": float(m.group(2)), "cpu_us": cpu * 1e6 / messages if cpu else None})
    return runs


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def messages_of(results, mode, nodes):
    for path in glob.glob(os.path.join(results, f"{mode}-n{nodes}-r*.json")):
        with open(path) as f:
            text = f.read()
        if text.strip():
            return json.loads(text)["options"]["messages"]
    return 1


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else "docs/bench/results"
    image = sys.argv[2] if len(sys.argv) > 2 else "docs/img/benchmarks.png"
    cases = [("push", 1), ("push", 3), ("pull", 1), ("pull", 3)]
    rows = []
    for mode, nodes in cases:
        pier = pier_runs(results, mode, nodes)
        loop = loop_runs(results, mode, nodes, messages_of(results, mode, nodes))
        rows.append(
            {
                "case": (mode, nodes),
                "seed": SEED[(mode, nodes)],
                "pier": median(r["rate"] for r in pier),
                "pier_runs": [round(r["rate"]) for r in pier],
                "pier_ok": all(r["ok"] for r in pier) and bool(pier),
                "pier_cpu": median(r["cpu_us"] for r in pier),
                "p50": median(r["p50"] for r in pier),
                "p99": median(r["p99"] for r in pier),
                "loop": median(r["rate"] for r in loop),
                "loop_runs": [round(r["rate"]) for r in loop],
                "loop_cpu": median(r["cpu_us"] for r in loop),
            }
        )

    print("| traffic | nodes | seed msg/s | pier bench msg/s (median) | async-nats loop msg/s (median) "
          "| pier / loop | client CPU µs/msg pier / loop | all checks complete | runs (pier) | runs (loop) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mode, nodes = r["case"]
        print(
            f"| {mode} | {nodes} | {r['seed']:,} | {r['pier']:,.0f} | {r['loop']:,.0f} "
            f"| {r['pier'] / r['loop']:.2f} | {r['pier_cpu']:.2f} / {r['loop_cpu']:.2f} "
            f"| {'yes' if r['pier_ok'] else 'NO'} | {r['pier_runs']} | {r['loop_runs']} |"
        )

    print()
    print("| offered load | nodes | workload | consumed msg/s | p50 µs | p90 µs | p99 µs | p99.9 µs | complete |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(results, "mixed-rate*-n*.json"))):
        with open(path) as f:
            text = f.read()
        if not text.strip():
            continue
        report = json.loads(text)
        for w in report["workloads"]:
            l = w["latency_us"]
            print(
                f"| {report['options']['rate']:,} msg/s each, mixed | {report['cluster_size']} | {w['kind']} "
                f"| {w['consumed']['msgs_per_sec']:,.0f} | {l['p50']:,.0f} | {l['p90']:,.0f} "
                f"| {l['p99']:,.0f} | {l['p99_9']:,.0f} | {'yes' if w['check']['complete'] else 'NO'} |"
            )

    labels = [f"{m}\n{'single node' if n == 1 else '3-node cluster'}" for m, n in (r["case"] for r in rows)]
    xs = range(len(rows))
    width = 0.27
    fig, ax = plt.subplots(figsize=(9, 5))
    series = [
        ("seed (its README)", "seed", "#b0b0b0"),
        ("pier-broker bench (median)", "pier", "#1f77b4"),
        ("plain async-nats loop (median)", "loop", "#ff7f0e"),
    ]
    for i, (label, key, colour) in enumerate(series):
        values = [r[key] for r in rows]
        bars = ax.bar([x + (i - 1) * width for x in xs], values, width, label=label, color=colour)
        for bar, value in zip(bars, values):
            ax.annotate(
                f"{value / 1000:,.0f}K",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    ax.set_yscale("log")
    ax.set_ylabel("messages consumed per second (log scale)")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels)
    ax.set_title("pier vs the seed: 128-byte messages, 1 publisher, 4 subscribers / pull workers")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(axis="y", which="major", alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(image) or ".", exist_ok=True)
    fig.savefig(image, dpi=110)
    print(f"\nwrote {image}", file=sys.stderr)


if __name__ == "__main__":
    main()
