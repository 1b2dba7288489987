#!/usr/bin/env bash
# resdash vs PyTorch eager on this CPU: the identical model (benches/torch_resnet.py mirrors
# src/model.rs) and SGD step, plain + residual pair, CIFAR-shaped batches, both pinned to the
# same thread count, alternating the two implementations in one run. Prints img/s and the
# resdash/pytorch ratio per depth.
#   benches/pytorch-compare.sh [threads] [steps]       # defaults: 2 threads, 5 timed steps
#
# PyTorch goes into .venv-torch (git-ignored). `pip install torch --no-deps` is not enough: the
# PyPI wheel imports libcudart even on a CPU-only machine, so it is installed with its
# dependencies (about 3 GB, CUDA libraries unused here). Set TORCH_PYTHON to use another Python
# that has torch.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
steps=${2:-5}
source benches/torch-python.sh   # sets TORCH_PYTHON
cargo build --release --quiet --bench throughput
bench=$(ls -t target/release/deps/throughput-* | grep -v '\.d$' | head -1)

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for depth in 20 56; do
    for round in 1 2; do
        RAYON_NUM_THREADS=$threads "$bench" --depth "$depth" --batch 128 --steps "$steps" >>"$out"
        "$TORCH_PYTHON" benches/torch_resnet.py --threads "$threads" throughput \
            --depth "$depth" --batch 128 --steps "$steps" --warmup 1 >>"$out"
    done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("depth  resdash img/s  pytorch img/s  resdash/pytorch   (pair, batch 128, 3x32x32, CPU)")
for depth in sorted({r["depth"] for r in rows}):
    ours = statistics.median(r["img_per_s"] for r in rows if r["depth"] == depth and r["impl"] == "resdash")
    theirs = statistics.median(r["img_per_s"] for r in rows if r["depth"] == depth and r["impl"] == "pytorch")
    print(f"{depth:>5}  {ours:13.1f}  {theirs:13.1f}  {ours / theirs:15.2f}")
PY
