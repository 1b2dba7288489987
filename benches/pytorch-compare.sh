#!/usr/bin/env bash
# resdash vs PyTorch eager on this CPU: the identical model (benches/torch_resnet.py mirrors
# src/model.rs) and SGD step, plain + residual pair, CIFAR-shaped batches, both pinned to the
# same thread count, alternating the two implementations in one run. Prints img/s and the
# resdash/pytorch ratio per depth.
#   benches/pytorch-compare.sh [threads] [steps]       # defaults: 2 threads, 5 timed steps
#   BACKENDS="flex tch" benches/pytorch-compare.sh     # each resdash backend named, same rounds
# (tch builds the bench with `--features tch`: libtorch 2.9.0 must be findable, README "The tch
# backend"; libtorch's threads are shared between the two nets as the trainer shares them)
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
backends=${BACKENDS:-flex}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/rows
for backend in $backends; do
    features=()
    [[ $backend == tch ]] && features=(--features tch)
    # Each feature set links a bench binary of its own: cargo names the one it built.
    cargo build --release --quiet --bench throughput "${features[@]}" --message-format=json \
        | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "throughput" and m.get("executable"):
        print(m["executable"])' >"$work/bench-$backend"
    bench=$(cat "$work/bench-$backend")
    [[ -x $bench ]] || { echo "pytorch-compare: no throughput bench built for $backend" >&2; exit 1; }
    cp "$bench" "$work/throughput-$backend"
done
for depth in 20 56; do
    for round in 1 2; do
        for backend in $backends; do
            RAYON_NUM_THREADS=$threads "$work/throughput-$backend" --backend "$backend" \
                --depth "$depth" --batch 128 --steps "$steps" >>"$out"
        done
        "$TORCH_PYTHON" benches/torch_resnet.py --threads "$threads" throughput \
            --depth "$depth" --batch 128 --steps "$steps" --warmup 1 >>"$out"
    done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("depth  backend  resdash img/s  pytorch img/s  resdash/pytorch   (pair, batch 128, 3x32x32, CPU)")
for depth in sorted({r["depth"] for r in rows}):
    theirs = statistics.median(r["img_per_s"] for r in rows if r["depth"] == depth and r["impl"] == "pytorch")
    for backend in sorted({r["backend"] for r in rows if r["impl"] == "resdash"}):
        ours = statistics.median(r["img_per_s"] for r in rows
                                 if r["depth"] == depth and r["impl"] == "resdash" and r["backend"] == backend)
        print(f"{depth:>5}  {backend:>7}  {ours:13.1f}  {theirs:13.1f}  {ours / theirs:15.2f}")
PY
