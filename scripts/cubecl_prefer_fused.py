#!/usr/bin/env python3
"""Rewrites cubecl's autotune cache so that every fused reduction runs fused. Used by
scripts/cubecl-lavapipe.sh to make its launch counts deterministic.

burn's fusion autotunes each fused reduction against its unfused fallback (the prologue as an
element-wise kernel, then a plain reduction: one launch more). On lavapipe those timings are a
noisy CPU's, so the same build counted 486 to 562 launches per step from run to run. On a GPU the
fused kernel is the one expected to win. This sets each cached choice to `fused_cube` wherever
that candidate ran, so a count is the same on every run and an A/B of two builds is exact.

    python3 scripts/cubecl_prefer_fused.py AUTOTUNE_DIR    # prints how many choices it changed
"""

import json
import pathlib
import sys

FUSED = "fused_cube"


def prefer_fused(path):
    """Rewrites one cache file; returns (entries, changed)."""
    lines, entries, changed = [], 0, 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        value = entry["value"]
        fused = [
            r["outcome"]["Ok"]["index"]
            for r in value["results"]
            if r["outcome"].get("Ok", {}).get("name") == FUSED
        ]
        entries += 1
        if fused and value["fastest_index"] != fused[0]:
            value["fastest_index"] = fused[0]
            changed += 1
        lines.append(json.dumps(entry))
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return entries, changed


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    files = sorted(pathlib.Path(sys.argv[1]).glob("**/burn_cubecl_fusion-optim-reduce-tune*"))
    totals = [prefer_fused(f) for f in files]
    entries = sum(e for e, _ in totals)
    changed = sum(c for _, c in totals)
    print(f"autotune cache: {changed} of {entries} fused reductions switched to {FUSED}")


if __name__ == "__main__":
    main()
