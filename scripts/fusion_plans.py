#!/usr/bin/env python3
"""burn-fusion's plans in one training step, from its full log (BURN_FUSION_LOG=full).

burn-fusion (0.21) cuts the recorded operation stream into segments and replays a cached plan for
each; every plan costs its fusion thread host time, a plan that launches kernels far more than
one that only rewrites views (reshape, permute, drop). Counted per step, the split says how many
plans a model change adds or removes: deterministic, unlike timings on a shared CPU.

    scripts/cubecl-lavapipe.sh --plans --size 8 --batch 1 --steps 3   # runs the harness, then this
    python3 scripts/fusion_plans.py fusion.log                          # the last step of a log

The log is the harness's stderr: the fusion thread's tables ("[plan] ..." and one row per
operation) and the harness's "step N:" lines, printed after each step's sync, which delimit steps.
"""

import argparse
import re
import signal
import sys
from collections import Counter

# Operations that change only a tensor's view or lifetime: a plan made of these launches nothing.
VIEW_ONLY = {"Reshape", "Permute", "SwapDims", "Drop", "Expand"}

ROW = re.compile(r"^\d+\s+(?:▸ (fused \w+|un-fused) \([^)]*\)\s+)?(?:\w+::)?(\w+)\s")
STEP = re.compile(r"^step (\d+):")


def steps(lines):
    """The log's lines cut at each "step N:" line: [(N, lines of that step)]."""
    out, current = [], []
    for line in lines:
        m = STEP.match(line)
        if m:
            out.append((int(m.group(1)), current))
            current = []
        else:
            current.append(line)
    return out


def plans(lines):
    """Each plan of a step as a list of blocks: (kind, [operation names])."""
    out = []
    for line in lines:
        if line.startswith("[plan]"):
            out.append([])
            continue
        m = ROW.match(line)
        if not m or not out:
            continue
        kind, op = m.groups()
        if kind is not None:
            out[-1].append((kind, []))
        if out[-1]:
            out[-1][-1][1].append(op)
    return out


def describe(plan):
    fused = [kind.split()[1] for kind, _ in plan if kind.startswith("fused")]
    loose = sorted({op for kind, ops in plan if kind == "un-fused" for op in ops})
    head = "fused " + "+".join(fused) if fused else "un-fused"
    return head + (": " + " ".join(loose) if loose else "")


def view_only(plan):
    return all(kind == "un-fused" and set(ops) <= VIEW_ONLY for kind, ops in plan)


def report(step, step_plans, top):
    ops = Counter(op for plan in step_plans for _, block in plan for op in block)
    views = [p for p in step_plans if view_only(p)]
    print(
        f"step {step}: {len(step_plans)} plans, {sum(ops.values())} operations; "
        f"{len(views)} plans only change views (no kernel), {len(step_plans) - len(views)} run kernels"
    )
    print("  plans by content:")
    for what, n in Counter(describe(p) for p in step_plans).most_common(top):
        print(f"    {n:4d}  {what}")
    print("  operations: " + ", ".join(f"{op} {n}" for op, n in ops.most_common(top)))


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("log", help="stderr of a run with BURN_FUSION_LOG=full")
    parser.add_argument("--top", type=int, default=12, help="rows per table (default 12)")
    args = parser.parse_args()
    with open(args.log, encoding="utf-8", errors="replace") as f:
        cut = steps(f.read().splitlines())
    if len(cut) < 2:
        sys.exit(f"{args.log}: fewer than two 'step N:' lines (run the harness with --steps 2+)")
    step, lines = cut[-1]
    step_plans = plans(lines)
    if not step_plans:
        sys.exit(f"{args.log}: no '[plan]' lines in step {step} (was BURN_FUSION_LOG=full set?)")
    report(step, step_plans, args.top)


if __name__ == "__main__":
    main()
