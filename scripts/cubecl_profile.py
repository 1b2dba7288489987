#!/usr/bin/env python3
"""Reads cubecl's profiling log: the per-kernel summary cubecl writes at each device sync when its
`cubecl.toml` has `[profiling.logger] level = "basic"` (one summary per timed step of
`benches/throughput.rs`, which syncs after each). Used by scripts/gpu-check.sh and
scripts/cubecl-lavapipe.sh.

    python3 scripts/cubecl_profile.py PROFILE_LOG    # prints the last summary (one step)
"""

import re
import sys


def duration_ms(text):
    """Rust's Debug of a Duration ("1.5ms", "830.2µs", "12ns", "1.2s") in milliseconds."""
    m = re.fullmatch(r"([0-9.]+)(ns|µs|us|ms|s)", text.strip())
    scale = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}
    return float(m.group(1)) * scale[m.group(2)] if m else None


def summaries(path):
    """Every per-kernel summary in the log, oldest first: [[(name, ms, launches)]]; None when
    the log cannot be read."""
    try:
        text = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return None
    tables, rows = [], None
    for line in text:
        cells = [c.strip() for c in line.strip().strip("|").rsplit("|", 3)]
        if len(cells) != 4:
            continue
        if cells[0] == "Name" and cells[2] == "Num Computed":
            rows = []
        elif rows is not None and cells[0] == "Total":
            tables.append(rows)
            rows = None
        elif rows is not None and cells[2].isdigit() and duration_ms(cells[1]) is not None:
            rows.append((cells[0], duration_ms(cells[1]), int(cells[2])))
    return tables


def last(path):
    """The last summary (the last timed step), or None."""
    tables = summaries(path)
    return tables[-1] if tables else None


def short(name):
    """A kernel's name without its runtime and generic arguments: "KernelBinop | MulOp"."""
    parts = [p.strip() for p in name.split("|") if not p.strip().endswith("Runtime")]
    return " | ".join(parts[:2])


def describe(rows, indent="   "):
    """Lines: launches and summed time, the largest families by time, the most launched."""
    launches, busy = sum(n for _, _, n in rows), sum(ms for _, ms, _ in rows)
    by_time = sorted(rows, key=lambda r: -r[1])[:6]
    by_count = sorted(rows, key=lambda r: -r[2])[:6]
    return [
        f"{launches} kernel launches, {busy:.1f} ms summed with each kernel launched and waited "
        "for (launch cost included)",
        f"{indent}largest: " + "; ".join(f"{100 * ms / max(busy, 1e-9):.0f}% {n}x {short(name)}"
                                         for name, ms, n in by_time),
        f"{indent}most launched: " + "; ".join(f"{n}x {short(name)}" for name, _, n in by_count),
    ]


if __name__ == "__main__":
    rows = last(sys.argv[1])
    if not rows:
        sys.exit(f"{sys.argv[1]}: no cubecl profiling summary")
    print("\n".join(describe(rows, indent="")))
