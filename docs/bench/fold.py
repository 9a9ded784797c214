#!/usr/bin/env python3
"""Fold `perf script` call stacks into `root;...;leaf count` lines (the input format of
flamegraph.pl and inferno-flamegraph), and summarise where a function's time goes.

    perf script -i perf.data | python3 docs/bench/fold.py > push.folded
    python3 docs/bench/fold.py --under 'pier_bench::push::Publisher::run::{{closure}}' push.folded
"""
import collections
import re
import sys

FRAME = re.compile(r"\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)$")


def fold(lines):
    counts, stack = collections.Counter(), []
    for line in lines:
        frame = FRAME.match(line.rstrip("\n"))
        if frame:
            stack.append(re.sub(r"\+0x[0-9a-f]+$", "", frame.group(1)))
        elif stack:  # a blank or header line ends a sample
            counts[";".join(reversed(stack))] += 1
            stack = []
    if stack:
        counts[";".join(reversed(stack))] += 1
    return counts


def under(path, function, top=12):
    """Share of all samples spent in `function`, split by the frame it calls."""
    children, total = collections.Counter(), 0
    with open(path) as f:
        for line in f:
            stack, n = line.rsplit(" ", 1)
            frames, n = stack.split(";"), int(n)
            total += n
            if function in frames:
                i = frames.index(function)
                children[frames[i + 1] if i + 1 < len(frames) else "(self)"] += n
    inside = sum(children.values())
    print(f"{100 * inside / total:5.1f}%  {function}")
    for child, n in children.most_common(top):
        print(f"{100 * n / total:5.1f}%    {child}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--under"]:
        under(sys.argv[3], sys.argv[2])
    else:
        for stack, n in fold(sys.stdin).most_common():
            print(f"{stack} {n}")
