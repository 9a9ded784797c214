#!/usr/bin/env python3
"""Print the tables of docs/benchmarks.md from the outputs of docs/bench/measure.sh and draw
docs/img/benchmarks.png.

    python3 docs/bench_chart.py --table docs/bench/results          # tables only (measure.sh)
    pip install matplotlib
    python3 docs/bench_chart.py docs/bench/results docs/img/benchmarks.png   # tables + chart

Figures are medians over runs: consumed msg/s and client CPU µs per consumed message, from
`pier-bench bench --format json` (workloads[0].consumed.msgs_per_sec, client_cpu.us_per_msg)
and from the reference Go client docs/bench/goref (consumed_msgs_per_sec, cpu_us_per_msg).
"""
import glob
import json
import os
import statistics
import sys

# The seed's figures (msg/s), from its README.
SEED = {("push", 1): 12_000, ("push", 3): 28_000, ("pull", 1): 8_000, ("pull", 3): 25_000}


def reports(results, pattern):
    for path in sorted(glob.glob(os.path.join(results, pattern))):
        with open(path) as f:
            text = f.read()
        if text.strip():
            yield json.loads(text)


def pier_runs(results, mode, nodes):
    return [
        {
            "rate": r["workloads"][0]["consumed"]["msgs_per_sec"],
            "cpu_us": r["client_cpu"]["us_per_msg"],
            "ok": r["ok"],
        }
        for r in reports(results, f"{mode}-n{nodes}-r*.json")
    ]


def go_runs(results, mode, nodes):
    return [
        {"rate": r["consumed_msgs_per_sec"], "cpu_us": r["cpu_us_per_msg"], "ok": r["complete"]}
        for r in reports(results, f"go-{mode}-n{nodes}-r*.json")
    ]


def median(values):
    values = list(values)
    return statistics.median(values) if values else float("nan")


def rows_of(results):
    rows = []
    for mode, nodes in [("push", 1), ("push", 3), ("pull", 1), ("pull", 3)]:
        pier, go = pier_runs(results, mode, nodes), go_runs(results, mode, nodes)
        if not pier and not go:
            continue
        row = {"case": (mode, nodes), "seed": SEED[(mode, nodes)]}
        for name, runs in (("pier", pier), ("go", go)):
            row[name] = median(r["rate"] for r in runs)
            row[name + "_cpu"] = median(r["cpu_us"] for r in runs)
            row[name + "_runs"] = [f"{r['rate'] / 1000:.0f}K {r['cpu_us']:.2f}" for r in runs]
            row[name + "_ok"] = bool(runs) and all(r["ok"] for r in runs)
        rows.append(row)
    return rows


def print_tables(results, rows):
    print("| traffic | nodes | seed msg/s | pier msg/s | Go msg/s | pier / Go msg/s "
          "| client CPU µs/msg pier | Go | pier / Go CPU | all complete | runs pier (msg/s, µs/msg) | runs Go |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mode, nodes = r["case"]
        ok = "yes" if r["pier_ok"] and r["go_ok"] else "NO"
        print(
            f"| {mode} | {nodes} | {r['seed']:,} | {r['pier']:,.0f} | {r['go']:,.0f} "
            f"| {r['pier'] / r['go']:.2f} | {r['pier_cpu']:.2f} | {r['go_cpu']:.2f} "
            f"| {r['pier_cpu'] / r['go_cpu']:.2f} | {ok} "
            f"| {', '.join(r['pier_runs'])} | {', '.join(r['go_runs'])} |"
        )
    print()
    print("| offered load | nodes | workload | consumed msg/s | p50 µs | p90 µs | p99 µs | p99.9 µs | complete |")
    print("|---|---|---|---|---|---|---|---|---|")
    for report in reports(results, "mixed-rate*-n*.json"):
        for w in report["workloads"]:
            l = w["latency_us"]
            print(
                f"| {report['options']['rate']:,} msg/s each, mixed | {report['cluster_size']} | {w['kind']} "
                f"| {w['consumed']['msgs_per_sec']:,.0f} | {l['p50']:,.0f} | {l['p90']:,.0f} "
                f"| {l['p99']:,.0f} | {l['p99_9']:,.0f} | {'yes' if w['check']['complete'] else 'NO'} |"
            )


def draw(rows, image):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{m}\n{'single node' if n == 1 else '3-node cluster'}" for m, n in (r["case"] for r in rows)]
    xs = range(len(rows))
    width = 0.27
    fig, ax = plt.subplots(figsize=(9, 5))
    series = [
        ("seed (its README)", "seed", "#b0b0b0"),
        ("pier-bench bench (median)", "pier", "#1f77b4"),
        ("Go client, nats.go (median)", "go", "#ff7f0e"),
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


def main():
    args = sys.argv[1:]
    table_only = "--table" in args
    args = [a for a in args if a != "--table"]
    results = args[0] if args else "docs/bench/results"
    image = args[1] if len(args) > 1 else "docs/img/benchmarks.png"
    rows = rows_of(results)
    print_tables(results, rows)
    if not table_only:
        draw(rows, image)


if __name__ == "__main__":
    main()
