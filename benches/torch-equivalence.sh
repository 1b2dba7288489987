#!/usr/bin/env bash
# Is resdash's training step the same maths as PyTorch's? Runs the first steps of both nets in
# resdash on ndarray in float64 (examples/trace.rs writes initial weights, batches, losses and
# final weights), replays them in PyTorch from the same weights on the same batches
# (benches/torch_resnet.py replay, float64 and float32), and checks that resdash and PyTorch
# float64 agree to rounding. The yardstick is PyTorch float64 fed each batch in reverse order
# (same maths, other rounding): resdash's distance to PyTorch, per-step losses and every weight
# (BatchNorm running statistics included, relative L2), must be within 100x that noise floor (or
# 1e-8). A deep plain net amplifies rounding enormously (plain-56: 1e-3 after two float64 steps),
# so a fixed tolerance would not do. Exits 1 otherwise.
#   benches/torch-equivalence.sh [depth] [steps] [resdash --set overrides...]
#   benches/torch-equivalence.sh 56 3 data.source=fashion-mnist data.dir=/usr/share/datasets/fashion-mnist
# Default: depth 20, 5 steps, the built-in data (8x8 synthetic, batch 64). float64 on ndarray is
# slow: depth 56 on 28x28 Fashion-MNIST takes minutes per step on 2 cores.
# PyTorch: .venv-torch as in benches/pytorch-compare.sh, or TORCH_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
depth=${1:-20}
steps=${2:-5}
shift $(( $# < 2 ? $# : 2 ))
sets=(--set "model.depth=$depth")
for kv in "$@"; do sets+=(--set "$kv"); done
source benches/torch-python.sh   # sets TORCH_PYTHON
cargo build --release --quiet --example trace
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
target/release/examples/trace --f64 "${sets[@]}" --steps "$steps" --out "$dir" 2>&1 | grep -v '^trace: wrote'
"$TORCH_PYTHON" benches/torch_resnet.py --threads "$(nproc)" replay --trace "$dir" | tee "$dir/replay.txt"
python3 - "$dir/replay.txt" <<'PY'
import json, sys
row = json.loads(open(sys.argv[1]).read().splitlines()[-1])
runs = row["runs"]
ours = next(v for k, v in runs.items() if k.startswith("resdash"))
floor = runs["pytorch f64 reversed batches"]
bad = []
for net in ("plain", "residual"):
    for what, get in (("loss", lambda r: max(r["loss_rel_diff"])),
                      ("weights", lambda r: r["weight_rel_diff"])):
        limit = max(100 * get(floor[net]), 1e-8)
        if not get(ours[net]) <= limit:
            bad.append(f"{net} {what} {get(ours[net]):.1e} > {limit:.1e}")
if bad:
    print("FAIL: " + "; ".join(bad))
    sys.exit(1)
print(f"PASS: depth {row['depth']}, {row['steps']} steps: resdash float64 = PyTorch float64 "
      "(within 100x the float64 noise floor, or 1e-8)")
PY
