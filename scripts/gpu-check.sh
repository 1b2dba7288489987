#!/usr/bin/env bash
# The CUDA check, for a machine with an NVIDIA GPU, the CUDA 13 toolkit and Python + PyTorch, but
# no Rust and no internet. Build here, carry the binaries:
#
#   cargo build --release --features cuda --bin resdash --bench throughput --example trace
#   mkdir -p .bin && cp target/release/resdash target/release/examples/trace .bin/ \
#     && cp "$(ls -t target/release/deps/throughput-* | grep -v '\.d$' | head -1)" .bin/throughput
#   # on the GPU machine, from the repository root (with /usr/share/datasets/fashion-mnist or
#   # FMNIST_DIR pointing at the four IDX files):
#   scripts/gpu-check.sh              # writes its full log under $OUT (default ./gpu-check-out)
#
# Prints one table last: (1) correctness: the same seeded 20-step run (identical initial weights
# and batches) traced on flex and on cuda and replayed in PyTorch float64 (the ref) and float32 on
# the GPU: cuda's losses must stay within the spread that float32 rounding alone produces, and the
# gradient-flow probe of the first step (identical weights) must agree between flex and cuda; (2) img/s of resdash and PyTorch eager (benches/torch_resnet.py,
# the identical model and step) for ResNet-20/56/110 at batch 128, pair and residual alone, with
# the ratio; (3) a headless Fashion-MNIST run on cuda: test accuracy and wall time. Budget: under
# 6 minutes including warm-up.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
BIN=${BIN:-.bin}
FMNIST_DIR=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
PY=${PY:-python3}
mkdir -p "$OUT"
export CUDA_PATH=${CUDA_PATH:-/usr/local/cuda}
export LD_LIBRARY_PATH=$CUDA_PATH/lib64:$CUDA_PATH/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
log=$OUT/gpu-check.log
: >"$log"
say() { echo "$*" | tee -a "$log" >&2; }
run() { # timeout seconds, command...: logs stdout+stderr, never aborts the script
    local t=$1
    shift
    say "\$ $*"
    timeout "$t" "$@" >>"$log" 2>&1
    local rc=$?
    ((rc == 0)) || say "  -> exit $rc"
    return $rc
}
nvidia-smi >>"$log" 2>&1 || say "nvidia-smi failed"

# 1. Correctness. (a) Trace 20 steps of depth 20 on flex and on cuda (same seed: the same
# initial weights and batches), replay them in PyTorch: float64 (the ref) and float32 on the GPU.
trace=(--set model.depth=20 --set run.seed=3 --steps 20)
run 120 "$BIN/trace" --backend flex "${trace[@]}" --out "$OUT/trace-flex"
run 240 "$BIN/trace" --backend cuda "${trace[@]}" --out "$OUT/trace-cuda"
run 180 "$PY" benches/torch_resnet.py --device cuda replay --trace "$OUT/trace-flex" \
    --trace "$OUT/trace-cuda" && tail -1 "$log" >"$OUT/replay.json"
# (b) The gradient-flow probe of the first step (the initial weights, one batch) on both.
common=(--headless --max-steps 2 --seed 3 --set model.depth=20 --set run.probe_every=1000
    --set run.eval_every=1000 --flow-every 0)
run 120 "$BIN/resdash" "${common[@]}" --backend flex --run-dir "$OUT/cpu"
run 240 "$BIN/resdash" "${common[@]}" --backend cuda --run-dir "$OUT/cuda"

# 2. Speed: resdash vs PyTorch eager, batch 128, 3x32x32.
: >"$OUT/speed.jsonl"
for depth in 20 56 110; do
    for nets in pair residual; do
        run 120 "$BIN/throughput" --backend cuda --depth $depth --batch 128 --nets $nets \
            --steps 30 --warmup 5 && tail -1 "$log" >>"$OUT/speed.jsonl"
        run 120 "$PY" benches/torch_resnet.py --device cuda throughput --depth $depth \
            --batch 128 --nets $nets --steps 30 --warmup 5 && tail -1 "$log" >>"$OUT/speed.jsonl"
    done
done

# 3. The headless dashboard on Fashion-MNIST, one epoch at batch 128, depth 20.
start=$(date +%s.%N)
run 150 "$BIN/resdash" --headless --config configs/fashion-mnist.toml --backend cuda \
    --set data.dir="$FMNIST_DIR" --set data.test_limit=0 --max-steps 469 --run-dir "$OUT/fmnist"
fmnist_wall=$(python3 -c "import time; print(round(time.time() - $start, 1))")

python3 - "$OUT" "$fmnist_wall" <<'PY' | tee -a "$log"
import glob, json, sys
out, fmnist_wall = sys.argv[1], sys.argv[2]

def events(run):
    paths = glob.glob(f"{out}/{run}/*/metrics.jsonl")
    return [json.loads(l) for l in open(paths[0])] if paths else []

print("\n== resdash GPU check ==")
STEP1, BAND, FLOOR = 1e-3, 5.0, 1e-4
try:
    runs = json.load(open(f"{out}/replay.json"))["runs"]
    flex, cuda = runs["resdash flex f32"], runs["resdash cuda f32"]
    torch32 = next(v for k, v in runs.items() if k.startswith("pytorch") and k.endswith("f32"))
    print("1. correctness, depth 20, 20 steps from identical weights on identical batches; "
          "loss difference relative to PyTorch float64:")
    for net in ("plain", "residual"):
        c, f, t = (r[net]["loss_rel_diff"] for r in (cuda, flex, torch32))
        spread = max(max(f), max(t))
        ok = c[0] <= STEP1 and max(c) <= BAND * spread + FLOOR
        print(f"   {net:<8} cuda step 1 {c[0]:.1e} (<= {STEP1:g}), worst step {max(c):.1e} vs "
              f"float32 spread {spread:.1e} (flex {max(f):.1e}, PyTorch cuda {max(t):.1e}; "
              f"allowed {BAND:g}x + {FLOOR:g}) {'PASS' if ok else 'FAIL'}")
except (OSError, ValueError, KeyError) as e:
    print(f"1. correctness: FAIL, no replay result ({e!r}; see gpu-check.log)")
cpu, gpu = events("cpu"), events("cuda")
probes = lambda ev: [b for e in ev if e["event"] == "probe" for b in e["blocks"]]
pc, pg = probes(cpu), probes(gpu)
keys = ["activation_rms", "total", "shortcut", "branch"]
diffs = [abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for a, b in zip(pc, pg) for k in keys
         if a.get(k) is not None and b.get(k) is not None]
if diffs and len(pc) == len(pg):
    worst = max(diffs)
    print(f"   probe of step 1 ({len(diffs)} magnitudes), flex vs cuda: max relative difference "
          f"{worst:.1e} ({'PASS' if worst <= 5e-2 else 'FAIL'}, tolerance 5e-2)")
else:
    print(f"   probe of step 1: FAIL, nothing to compare (flex {len(pc)} blocks, cuda {len(pg)})")

print("2. img/s, batch 128, 3x32x32, fp32")
rows = [json.loads(l) for l in open(f"{out}/speed.jsonl") if l.startswith("{")]
print("   depth nets      resdash  pytorch  resdash/pytorch")
for depth in (20, 56, 110):
    for nets in ("pair", "residual"):
        r = {x["impl"]: x["img_per_s"] for x in rows if x["depth"] == depth and x["nets"] == nets}
        ours, theirs = r.get("resdash"), r.get("pytorch")
        ratio = f"{ours / theirs:.2f}" if ours and theirs else "-"
        print(f"   {depth:>5} {nets:<9} {ours or '-':>8} {theirs or '-':>8}  {ratio:>15}")

fm = events("fmnist")
summary = [e for e in fm if e["event"] == "depth_summary"]
if summary:  # the end of the epoch: test error on the whole test split
    err = summary[-1]["test_error"]
    print(f"3. Fashion-MNIST on cuda, depth 20, {summary[-1]['steps']} steps of 128: test accuracy "
          f"plain {100 - err[0]:.1f}%, residual {100 - err[1]:.1f}%, wall {fmnist_wall} s "
          "(flex on a 2-core CPU, first 2,000 test images: plain 85.7%, residual 81.4%, ~16 min; "
          f"{'PASS' if min(err) <= 20 else 'FAIL'}: at least one net >= 80%)")
else:
    print(f"3. Fashion-MNIST on cuda: the run did not finish (wall {fmnist_wall} s; see gpu-check.log)")
PY
