#!/usr/bin/env bash
# The CUDA check, for a machine with an NVIDIA GPU, the CUDA 13 toolkit and Python + PyTorch, but
# no Rust and no internet. Build here, carry the binaries:
#
#   cargo build --release --features cuda --bin resdash --bench throughput
#   mkdir -p .bin && cp target/release/resdash .bin/ \
#     && cp "$(ls -t target/release/deps/throughput-* | grep -v '\.d$' | head -1)" .bin/throughput
#   # on the GPU machine, from the repository root (with /usr/share/datasets/fashion-mnist or
#   # FMNIST_DIR pointing at the four IDX files):
#   scripts/gpu-check.sh              # writes its full log under $OUT (default ./gpu-check-out)
#
# Prints one table last: (1) correctness, CPU (flex) vs cuda on the same seeded 20-step run:
# losses and probe magnitudes; (2) img/s of resdash and PyTorch eager (benches/torch_resnet.py,
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

# 1. Correctness: depth 20, fixed batches (no augmentation), probes at steps 10 and 20.
common=(--headless --max-steps 20 --seed 3 --set model.depth=20 --set run.probe_every=10
    --set run.eval_every=1000 --set data.augment=false --flow-every 0)
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
cpu, gpu = events("cpu"), events("cuda")
loss = lambda ev: [[s["loss"] for s in e["scores"]] for e in ev if e["event"] == "step"]
lc, lg = loss(cpu), loss(gpu)
if lc and lg and len(lc) == len(lg):
    worst = max(abs(a - b) / max(abs(a), 1e-6) for x, y in zip(lc, lg) for a, b in zip(x, y))
    print(f"1. losses, 20 steps, flex vs cuda: max relative difference {worst:.2e} "
          f"({'PASS' if worst <= 2e-2 else 'FAIL'}, tolerance 2e-2: f32 sums in another order, "
          "compounded over 20 SGD steps)")
    probes = lambda ev: [b for e in ev if e["event"] == "probe" for b in e["blocks"]]
    pc, pg = probes(cpu), probes(gpu)
    keys = ["activation_rms", "total", "shortcut", "branch"]
    diffs = [abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for a, b in zip(pc, pg) for k in keys
             if a.get(k) is not None and b.get(k) is not None]
    if diffs:
        worst = max(diffs)
        print(f"   probe magnitudes ({len(diffs)} values): max relative difference {worst:.2e} "
              f"({'PASS' if worst <= 5e-2 else 'FAIL'}, tolerance 5e-2)")
    else:
        print("   probe magnitudes: none to compare (FAIL)")
else:
    print(f"1. correctness: FAIL (cpu steps {len(lc)}, cuda steps {len(lg)}; see gpu-check.log)")

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
evals = [e for e in fm if e["event"] == "eval"]
if evals:
    acc = [s["accuracy"] for s in evals[-1]["scores"]]
    print(f"3. Fashion-MNIST on cuda, depth 20, {evals[-1]['step']} steps of 128: test accuracy "
          f"plain {100 * acc[0]:.1f}%, residual {100 * acc[1]:.1f}%, wall {fmnist_wall} s")
else:
    print(f"3. Fashion-MNIST on cuda: no evaluation finished (wall {fmnist_wall} s; see gpu-check.log)")
PY
