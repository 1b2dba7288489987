#!/usr/bin/env python3
"""Reads lines `seed start end {sweep json}` (from scripts/degradation-check.sh), prints one
table over all seeds and exits 1 unless, for every seed, plain-56 trains >= 5 points worse than
plain-20, residual-56 trains >= 5 points better than plain-56, and the sweep took <= MAX_WALL s
(environment; 0 = no limit)."""

import json
import os
import sys

max_wall = float(os.environ.get("MAX_WALL", "300"))
header = ("seed", "wall", "depth", "steps", "plain train", "plain test", "resid train", "resid test")
print("{:>4} {:>6} {:>5} {:>5} | {:>11} {:>10} | {:>11} {:>10}".format(*header))
failures = []
for line in sys.stdin:
    if not line.strip():
        continue
    seed, start, end, doc = line.split(" ", 3)
    wall = float(end) - float(start)
    rows = {r["depth"]: r for r in json.loads(doc)["rows"]}
    for depth, r in sorted(rows.items()):
        print("{:>4} {:>5.0f}s {:>5} {:>5} | {:>10.1f}% {:>9.1f}% | {:>10.1f}% {:>9.1f}%".format(
            seed, wall, depth, r["steps"], r["plain_train_error"], r["plain_test_error"],
            r["residual_train_error"], r["residual_test_error"]))
    p20, p56 = rows[20]["plain_train_error"], rows[56]["plain_train_error"]
    r56 = rows[56]["residual_train_error"]
    print(f"     seed {seed}: plain-56 - plain-20 = {p56 - p20:+.1f} points, "
          f"plain-56 - residual-56 = {p56 - r56:+.1f} points")
    if p56 - p20 < 5:
        failures.append(f"seed {seed}: plain-56 train error {p56:.1f}% is not 5 points above "
                        f"plain-20's {p20:.1f}%")
    if p56 - r56 < 5:
        failures.append(f"seed {seed}: residual-56 train error {r56:.1f}% is not 5 points below "
                        f"plain-56's {p56:.1f}%")
    if max_wall > 0 and wall > max_wall:
        failures.append(f"seed {seed}: the sweep took {wall:.0f} s (limit {max_wall:.0f} s)")
for f in failures:
    print("FAIL", f)
if failures:
    print(f"{len(failures)} condition(s) failed")
    sys.exit(1)
print("PASS: deeper plain trains worse, and shortcuts fix it, for every seed")
