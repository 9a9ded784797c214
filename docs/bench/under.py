#!/usr/bin/env python3
"""Where a function's time goes, from folded stacks (`root;...;leaf count` lines, as
inferno-collapse-perf and flamegraph.pl's stackcollapse write them): its share of all samples,
split by the frame it calls.

    python3 docs/bench/under.py 'pier_bench::push::Publisher::run::{{closure}}' push.folded
"""
import collections
import sys


def under(path, function, top=12):
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
    under(sys.argv[2], sys.argv[1])
