#!/usr/bin/env bash
# The CUDA check, for a machine with an NVIDIA GPU, the CUDA 13 toolkit and Python + PyTorch, but
# no Rust and no internet. Here, build and pack what it needs into .bin/ (the cuda binaries in one
# xz archive and the Fashion-MNIST files: ~50 MiB, under the device tool's 64 MiB carry limit):
#
#   scripts/gpu-pack.sh
#   # then on the GPU machine, from the repository root, with .bin carried along:
#   scripts/gpu-check.sh              # writes its full log under $OUT (default ./gpu-check-out)
#
# BIN may instead name a folder holding the three binaries unpacked; FMNIST_DIR the IDX files
# (default .bin/fashion-mnist, else /usr/share/datasets/fashion-mnist).
#
# Prints one table last, within BUDGET_S seconds (default 330) whatever happens: every command
# gets the smaller of its own limit and the time left, and a command that would start with less
# than 15 s left is skipped and reported as such.
#   0. warm-up: the first steps of each cuda process, with the kernels it compiled (NVRTC) and the
#      autotune results it logged (cubecl's own logs, every 5 s), so a slow first step shows as
#      compiling or as stuck. If the residual net makes no first step within its limit (the stall
#      met once in an earlier probe), it is tried again with autotuning at its minimum, and the
#      cuda runs that train it are skipped instead of timing out one after another;
#   1. correctness: the same seeded 20-step run (identical initial weights and batches) traced on
#      flex and on cuda and replayed in PyTorch float64 (the ref) and float32 on the GPU: cuda's
#      losses must stay within the spread that float32 rounding alone produces; the gradient-flow
#      probe of the first step (identical weights) must agree between flex and cuda;
#   2. img/s of resdash and PyTorch eager (benches/torch_resnet.py, the identical model and step)
#      for ResNet-20/56/110 at batch 128 (the pair on two threads as the trainer runs it, the pair
#      on one thread, residual alone, plain alone), with the ratio; one process each, so kernels
#      are compiled once; each also at batch 32, which says whether a step is bound by the GPU
#      (about 4x faster at a quarter of the batch) or by the host's per-step work (about as slow);
#   3. a headless Fashion-MNIST epoch on cuda: test accuracy and wall time;
#   4. what bounds the speed: the kernels one ResNet-20 step launches and their time, resdash
#      (cubecl's profiling log) next to PyTorch (torch.profiler), with the largest of each; and
#      (in section 2) the host CPU time per step of each resdash thread (spin-waits included);
#      the activations' layout A/B; and the residual ResNet-20 step without burn-fusion (cubecl
#      alone: more kernels, each far cheaper for the host), at batch 128 and 32, if time is left.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${OUT:-$PWD/gpu-check-out}
BIN=${BIN:-.bin}
FMNIST_DIR=${FMNIST_DIR:-.bin/fashion-mnist}
[[ -d $FMNIST_DIR ]] || FMNIST_DIR=/usr/share/datasets/fashion-mnist
PY=${PY:-python3}
BUDGET_S=${BUDGET_S:-330}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
labels=(speed-cuda warmup-minimal trace-flex trace-cuda replay speed-pytorch fmnist profile-cuda
    profile-pytorch layout-cuda unfused-cuda)
for label in "${labels[@]}"; do rm -rf "${OUT:?}/$label"; done # no stale result from a rerun
built_from=$(cat "$BIN/commit" 2>/dev/null || echo "unknown commit")
if [[ -f $BIN/resdash-cuda.tar.xz ]]; then
    # Unpacked outside $OUT: what is under $OUT is fetched back.
    unpacked=$(mktemp -d)
    tar -C "$unpacked" -xJf "$BIN/resdash-cuda.tar.xz" ||
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
            "$BIN/resdash-cuda.tar.xz" "$unpacked" ||
        { echo "gpu-check: cannot unpack $BIN/resdash-cuda.tar.xz" >&2; exit 2; }
    BIN=$unpacked
fi
for name in resdash trace throughput; do
    [[ -x $BIN/$name ]] || { echo "gpu-check: no $BIN/$name: run scripts/gpu-pack.sh here first" >&2; exit 2; }
done
BIN=$(cd "$BIN" && pwd)
[[ -d $FMNIST_DIR ]] && FMNIST_DIR=$(cd "$FMNIST_DIR" && pwd)
export CUDA_PATH=${CUDA_PATH:-/usr/local/cuda}
export LD_LIBRARY_PATH=$CUDA_PATH/lib64:$CUDA_PATH/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
log=$OUT/gpu-check.log
: >"$log"
: >"$OUT/runs.tsv"
say() { echo "$*" | tee -a "$log" >&2; }
started=$SECONDS

# run LABEL CAP COMMAND...: runs COMMAND in $OUT/LABEL (its working directory, with a cubecl.toml
# that sends cubecl's compilation and autotune logs there, plus $extra_toml if set) for at most
# CAP seconds and never past the budget; stdout to $OUT/LABEL/stdout (and the log), stderr to the log. Never aborts the
# script; records "label seconds exit" in runs.tsv (exit 125: skipped, 124: timed out).
run() {
    local label=$1 cap=$2
    shift 2
    local dir=$OUT/$label t=$((BUDGET_S - (SECONDS - started)))
    mkdir -p "$dir"
    ((t > cap)) && t=$cap
    if ((t < 15)); then
        say "skipped, the time budget is spent: $*"
        printf '%s\t0\t125\n' "$label" >>"$OUT/runs.tsv"
        return 125
    fi
    printf '[compilation.logger]\nlevel = "basic"\nfile = "compile.log"\n\n[autotune.logger]\nlevel = "minimal"\nfile = "autotune.log"\n%s' "${extra_toml:-}" >"$dir/cubecl.toml"
    say "\$ $* (limit ${t} s)"
    local begin=$SECONDS
    (
        # Every 5 s: seconds, kernels compiled, autotunes finished so far (cubecl logs each
        # compilation as one "[Compiling kernel] name" line before NVRTC runs, each finished
        # autotune as "Fastest result ...").
        while sleep 5; do
            kernels=$(grep -c "Compiling kernel" "$dir/compile.log" 2>/dev/null)
            tuned=$(grep -c "Fastest result" "$dir/autotune.log" 2>/dev/null)
            printf '%s\t%s\t%s\n' $((SECONDS - begin)) "${kernels:-0}" "${tuned:-0}"
        done >"$dir/progress.tsv"
    ) &
    local poller=$!
    (cd "$dir" && timeout -k 5 "$t" "$@") >"$dir/stdout" 2>>"$log"
    local rc=$?
    kill "$poller" 2>/dev/null
    wait "$poller" 2>/dev/null
    cat "$dir/stdout" >>"$log"
    printf '%s\t%s\t%s\n' "$label" $((SECONDS - begin)) "$rc" >>"$OUT/runs.tsv"
    ((rc == 0)) || say "  -> exit $rc after $((SECONDS - begin)) s"
    return $rc
}
nvidia-smi >>"$log" 2>&1 || say "nvidia-smi failed"
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)

# 0 + 2a. resdash speed on cuda, every configuration in one process. Plain first: its warm-up
# compiles the kernels both nets share; residual's adds the shortcut's.
run speed-cuda 200 "$BIN/throughput" --backend cuda --depth 20,56,110 \
    --nets plain,residual,pair,pair-serial \
    --batch 128,32 --steps 30 --warmup 5
residual_ok=1
if ! grep -q '"depth":20,.*"nets":"residual"' "$OUT/speed-cuda/stdout"; then
    residual_ok=0
    # Is it autotuning? The same first steps with autotuning at its minimum.
    CUBECL_AUTOTUNE_LEVEL=minimal run warmup-minimal 90 "$BIN/throughput" --backend cuda \
        --depth 20 --nets residual --batch 128 --steps 3 --warmup 1
fi

# 1. Correctness. Trace 20 steps of depth 20 on flex and on cuda (same seed: the same initial
# weights and batches; the first step is a probe step), replay them in PyTorch: float64 (the
# ref) and float32 on the GPU.
trace=(--set model.depth=20 --set run.seed=3 --steps 20)
if ((residual_ok)); then
    run trace-flex 120 "$BIN/trace" --backend flex "${trace[@]}" --out "$OUT/trace-flex"
    run trace-cuda 150 "$BIN/trace" --backend cuda "${trace[@]}" --out "$OUT/trace-cuda"
fi
if [[ -f $OUT/trace-cuda/trace.json ]]; then
    run replay 180 "$PY" "$REPO/benches/torch_resnet.py" --device cuda replay \
        --trace "$OUT/trace-flex" --trace "$OUT/trace-cuda"
fi

# 2b. PyTorch eager on the same card, the same configurations, one process.
run speed-pytorch 150 "$PY" "$REPO/benches/torch_resnet.py" --device cuda throughput \
    --depth 20,56,110 --nets plain,residual,pair --batch 128,32 --steps 30 --warmup 5

# 3. The headless dashboard on Fashion-MNIST, one epoch at batch 128, depth 20.
if ((residual_ok)); then
    run fmnist 150 "$BIN/resdash" --headless --config "$REPO/configs/fashion-mnist.toml" \
        --backend cuda --set data.dir="$FMNIST_DIR" --set data.test_limit=0 --max-steps 469 \
        --run-dir "$OUT/fmnist/runs"
fi

# 4. What bounds the speed: one step of ResNet-20 (residual alone, batch 128) after warm-up, its
# kernels counted and timed. resdash: cubecl's profiling log (each kernel launched, then waited
# for: its time includes the launch; the summary per kernel name is written at each device sync,
# one per step); PyTorch: torch.profiler (CUPTI kernel times).
if ((residual_ok)); then
    extra_toml=$'\n[profiling.logger]\nlevel = "basic"\nfile = "profile.log"\n' \
        run profile-cuda 60 "$BIN/throughput" --backend cuda --depth 20 --nets residual \
        --batch 128 --steps 2 --warmup 2
fi
run profile-pytorch 60 "$PY" "$REPO/benches/torch_resnet.py" --device cuda profile \
    --depth 20 --nets residual --batch 128 --steps 3 --warmup 5
# Where activations live between convolutions (resdash::model::Layout): channels-last is cuda's
# default; channels-first is the CPU backends' layout, here to measure what channels-last saves.
if ((residual_ok)); then
    run layout-cuda 60 "$BIN/throughput" --backend cuda --depth 20 --nets residual \
        --batch 128 --steps 10 --warmup 3 --layout channels-last,channels-first
fi

# What burn-fusion costs the host: the same residual step on cubecl alone (every operation its own
# kernel, launched from the thread that records it, but resdash's own kernels for the SGD update,
# one per parameter shape, for batch norm with the residual add and the ReLU after it, three
# each way, and for the loss). On this project's CPU a launch cost the host ~6 us that way, and a
# fused plan about five of those at the margin (docs/gpu.md), for 339 launches on lavapipe (fewer
# here: 11 of the SGD update's 14 there, and lavapipe's convolution fallbacks copy) against
# burn-fusion's 370; this says which wins on this machine, at both batches. The same seeded
# batch as speed-cuda's, so the first steps' losses compare: the check of resdash's kernels on
# this GPU (batch 128: batch norm over 131,072 rows in the first stage). Last: it only gets the
# time the sections above left.
if ((residual_ok)); then
    run unfused-cuda 60 "$BIN/throughput" --backend cuda --fusion off --depth 20 \
        --nets residual --batch 128,32 --steps 10 --warmup 3
fi

python3 - "$OUT" "$((SECONDS - started))" "$BUDGET_S" "$gpu" "$residual_ok" "$built_from" "$REPO" <<'PY' | tee -a "$log"
import glob, json, os, sys
out, wall, budget, gpu, residual_ok, built_from, repo = sys.argv[1:8]
residual_ok = residual_ok == "1"

runs = {}
for line in open(f"{out}/runs.tsv"):
    label, seconds, rc = line.split("\t")
    runs[label] = (int(seconds), int(rc))

def how(label):
    """'' when the run exited 0, else why it has no result."""
    if label not in runs:
        return "not run (the residual net made no first step in section 0)"
    seconds, rc = runs[label]
    return {0: "", 125: "skipped: time budget spent", 124: f"timed out after {seconds} s"}.get(
        rc, f"exit {rc} after {seconds} s (see gpu-check.log)")

def lines(path):
    try:
        return [json.loads(l) for l in open(path) if l.startswith("{")]
    except OSError:
        return []

def kernels(label):
    """Kernels compiled and autotunes finished by one cuda run, and its progress samples."""
    count = lambda name, text: sum(text in l for l in open(f"{out}/{label}/{name}")) \
        if os.path.exists(f"{out}/{label}/{name}") else 0
    try:
        samples = [l.split() for l in open(f"{out}/{label}/progress.tsv")]
    except OSError:
        samples = []
    return count("compile.log", "[Compiling kernel]"), count("autotune.log", "Fastest result"), samples

def progress(label):
    """What a cuda run was doing when it was stopped, from its 5-second samples."""
    compiled, tuned, samples = kernels(label)
    trail = ", ".join(f"{s}s:{k}/{t}" for s, k, t in samples[-6:])
    moving = len(samples) > 1 and samples[-1][1:] != samples[-2][1:]
    return (f"{label}: {compiled} kernels compiled, {tuned} autotunes; by second "
            f"(kernels/autotune): {trail or 'no samples'} -> "
            + ("still compiling or autotuning when stopped" if moving else
               "nothing compiled or autotuned in its last 5 s: waiting on the GPU, or stuck"))

print(f"\n== resdash GPU check == {gpu or 'no GPU name (nvidia-smi failed)'}; binaries built "
      f"from {built_from}; {wall} s of the {budget} s budget")

speed_all = lines(f"{out}/speed-cuda/stdout")
# The table's batch is the largest timed (128; the dry run cuts it), the scaling's the smallest.
batches = sorted({r["batch"] for r in speed_all}) or [128]
BIG, SMALL = batches[-1], batches[0]
speed = [r for r in speed_all if r["batch"] == BIG]
first = {r["nets"]: r for r in speed if r["depth"] == 20}
compiled, tuned, samples = kernels("speed-cuda")
print("0. warm-up, depth 20, batch 128 (5 steps, the first compiles and autotunes kernels):")
for nets in ("plain", "residual"):
    r = first.get(nets)
    print(f"   {nets:<8} " + (f"{r['warmup_s']} s" if r else "no first step: " + (how("speed-cuda") or "no result")))
print(f"   the speed process compiled {compiled} kernels and finished {tuned} autotunes")
if not residual_ok:
    print(f"   {progress('speed-cuda')}")
    m = {r["nets"]: r for r in lines(f"{out}/warmup-minimal/stdout")}
    c2, t2, _ = kernels("warmup-minimal")
    print("   again with CUBECL_AUTOTUNE_LEVEL=minimal: "
          + (f"residual warm-up {m['residual']['warmup_s']} s" if "residual" in m
             else "no first step: " + (how("warmup-minimal") or "no result"))
          + f" ({c2} kernels, {t2} autotunes)")

STEP1, BAND, FLOOR = 1e-3, 5.0, 1e-4
print("1. correctness, depth 20, 20 steps from identical weights on identical batches; "
      "loss difference relative to PyTorch float64:")
try:
    stdout = [l for l in open(f"{out}/replay/stdout") if l.startswith("{")]
    runs_ = json.loads(stdout[-1])["runs"]
    flex, cuda = runs_["resdash flex f32"], runs_["resdash cuda f32"]
    torch32 = next(v for k, v in runs_.items() if k.startswith("pytorch") and k.endswith("f32"))
    for net in ("plain", "residual"):
        c, f, t = (r[net]["loss_rel_diff"] for r in (cuda, flex, torch32))
        spread = max(max(f), max(t))
        # Step 1 (identical weights): within 1e-3, or within 5x PyTorch's own float32 run on
        # this GPU if that is further off (TF32 convolutions, PyTorch's default, round to ~1e-3).
        step1 = max(STEP1, BAND * t[0])
        ok = c[0] <= step1 and max(c) <= BAND * spread + FLOOR
        print(f"   {net:<8} cuda step 1 {c[0]:.1e} (<= {step1:.1e}; PyTorch cuda {t[0]:.1e}), "
              f"worst step {max(c):.1e} vs "
              f"float32 spread {spread:.1e} (flex {max(f):.1e}, PyTorch cuda {max(t):.1e}; "
              f"allowed {BAND:g}x + {FLOOR:g}) {'PASS' if ok else 'FAIL'}")
except (OSError, ValueError, KeyError, IndexError, StopIteration) as e:
    why = how("trace-cuda") or how("replay") or repr(e)
    print(f"   FAIL, no replay result ({why})")

def probe(label):
    try:
        return json.load(open(f"{out}/{label}/trace.json"))["probe"]
    except (OSError, ValueError, KeyError):
        return []
pc, pg = probe("trace-flex"), probe("trace-cuda")
keys = ["activation_rms", "total", "shortcut", "branch", "sum", "param_grad_norm", "update_ratio"]
diffs = [abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for ra, rb in zip(pc, pg)
         for a, b in zip(ra["blocks"], rb["blocks"]) for k in keys
         if a.get(k) is not None and b.get(k) is not None]
if diffs and len(pc) == len(pg):
    worst = max(diffs)
    print(f"   probe of step 1 ({len(diffs)} magnitudes, both nets), flex vs cuda: max relative "
          f"difference {worst:.1e} ({'PASS' if worst <= 5e-2 else 'FAIL'}, tolerance 5e-2)")
else:
    print(f"   probe of step 1: FAIL, nothing to compare (flex {len(pc)} reports, cuda {len(pg)}; "
          f"{how('trace-cuda') or 'no probe in the trace'})")

print(f"2. img/s, batch {BIG}, 3x32x32, fp32 (warm-up: seconds for the first 5 steps; pair: both nets, "
      "one thread each, as the trainer runs them; pair-serial: one after the other on one thread, "
      "as PyTorch's pair)")
pytorch_all = lines(f"{out}/speed-pytorch/stdout")
rows = speed + [r for r in pytorch_all if r["batch"] == BIG]
print("   depth nets         resdash  pytorch  resdash/pytorch  warm-up resdash/pytorch")
for depth in (20, 56, 110):
    for nets in ("pair", "pair-serial", "residual", "plain"):
        ours_row = next((x for x in speed if x["depth"] == depth and x["nets"] == nets), None)
        theirs_row = next((x for x in rows if x["impl"] == "pytorch" and x["depth"] == depth
                           and x["nets"] == nets.removesuffix("-serial")), None)
        ours, theirs = (r["img_per_s"] if r else None for r in (ours_row, theirs_row))
        ratio = f"{ours / theirs:.2f}" if ours and theirs else "-"
        warm = "/".join(f"{r['warmup_s']} s" if r else "-" for r in (ours_row, theirs_row))
        print(f"   {depth:>5} {nets:<12} {ours or '-':>7} {theirs or '-':>8}  {ratio:>15}  {warm:>22}")
for depth in (20, 56, 110):
    r = {x["nets"]: x["median_step_ms"] for x in speed if x["depth"] == depth}
    if all(k in r for k in ("pair", "pair-serial", "residual", "plain")):
        both = r["plain"] + r["residual"]
        print(f"   depth {depth} step ms: pair {r['pair']}, pair-serial {r['pair-serial']}, "
              f"plain alone + residual alone {both:.2f}: the pair's two threads "
              + (f"save {100 * (1 - r['pair'] / both):.0f}%" if r["pair"] < both else "save nothing"))
# Host-bound or not: the same step at a quarter of the batch. The GPU's work shrinks about 4x, the
# host's (recording, burn-fusion, launching: per operation, not per image) does not, so a step
# that takes about as long at 32 as at 128 is bound by the host.
def scaling(rows_, impl, depth, nets):
    by = {x["batch"]: x["median_step_ms"] for x in rows_ if x["depth"] == depth and x["nets"] == nets}
    if BIG in by and SMALL in by and BIG != SMALL:
        return f"{impl} {by[BIG]} / {by[SMALL]} ms = {by[BIG] / by[SMALL]:.2f}x"
    return f"{impl} not measured at both batches"
print(f"   step time at batch {BIG} / at {SMALL} (~1x: bound by the host's per-step work; "
      f"~{BIG // SMALL}x: by the GPU):")
for depth in (20, 110):
    for nets in ("residual", "pair"):
        print(f"   depth {depth:<3} {nets:<8}: {scaling(speed_all, 'resdash', depth, nets)}; "
              f"{scaling(pytorch_all, 'pytorch', depth, nets)}")
# CPU time per thread (benches/host_cpu.rs) counts spin-waits: a thread whose queue to the next
# is full spins in cubecl's channel, so upstream of the bound every thread reads busy; a thread
# well under the step's time is not the bound.
for nets in ("residual", "pair"):
    r = next((x for x in speed if x["depth"] == 20 and x["nets"] == nets), None)
    if r and r.get("host_cpu_ms"):
        busy = ", ".join(f"{k} {v}" for k, v in list(r["host_cpu_ms"].items())[:5])
        print(f"   depth 20 {nets}: step {r['median_step_ms']} ms; host CPU per step, spin-waits "
              f"included (ms): {busy}")
for label in ("speed-cuda", "speed-pytorch"):
    if how(label):
        print(f"   {label}: {how(label)}")

paths = glob.glob(f"{out}/fmnist/runs/*/metrics.jsonl")
fm = [json.loads(l) for l in open(paths[0])] if paths else []
summary = [e for e in fm if e["event"] == "depth_summary"]
seconds = runs.get("fmnist", (0, 0))[0]
if summary:  # the end of the epoch: test error on the whole test split
    err = summary[-1]["test_error"]
    print(f"3. Fashion-MNIST on cuda, depth 20, {summary[-1]['steps']} steps of 128: test accuracy "
          f"plain {100 - err[0]:.1f}%, residual {100 - err[1]:.1f}%, wall {seconds} s "
          "(flex on a 2-core CPU, first 2,000 test images: plain 84.5%, residual 85.5%, ~7 min; "
          f"{'PASS' if min(err) <= 20 else 'FAIL'}: at least one net >= 80%)")
else:
    print(f"3. Fashion-MNIST on cuda: FAIL, the run did not finish ({how('fmnist') or 'no summary'})")
sys.path.insert(0, f"{repo}/scripts")
import cubecl_profile

def step_ms(rows, impl):
    r = next((x for x in rows if x["impl"] == impl and x["depth"] == 20 and x["nets"] == "residual"), None)
    return f"{r['median_step_ms']} ms" if r else "not measured"

print("4. what bounds the speed: one step of ResNet-20, residual alone, batch 128, after warm-up")
ours = cubecl_profile.last(f"{out}/profile-cuda/profile.log")
if ours:
    launches = sum(n for _, _, n in ours)
    first, *rest = cubecl_profile.describe(ours, indent="            ")
    print(f"   resdash: {first}; step unprofiled {step_ms(speed, 'resdash')}")
    print("\n".join(rest))
else:
    print(f"   resdash: no cubecl profile ({how('profile-cuda') or 'no summary in profile.log'})")
theirs = next(iter(lines(f"{out}/profile-pytorch/stdout")), None)
if theirs:
    print(f"   pytorch: {theirs['per_step']:g} {theirs['events']}, {theirs['busy_ms_per_step']} ms "
          f"in them; step unprofiled {step_ms(rows, 'pytorch')}")
    print("            largest: " + "; ".join(f"{share:.0f}% {name[:70]}" for name, share in theirs["top"]))
else:
    print(f"   pytorch: no profile ({how('profile-pytorch') or 'no output'})")
if ours and theirs and theirs["per_step"] and theirs["events"] == "gpu kernels":
    print(f"   resdash launches {launches / theirs['per_step']:.1f}x PyTorch's kernels per step")
by_layout = {r["layout"]: r for r in lines(f"{out}/layout-cuda/stdout")}
if len(by_layout) == 2:
    last, first_ = by_layout["channels-last"], by_layout["channels-first"]
    print(f"   layout: channels-last {last['img_per_s']} img/s, channels-first {first_['img_per_s']} "
          f"img/s ({last['img_per_s'] / first_['img_per_s']:.2f}x; lavapipe launch counts: docs/gpu.md)")
else:
    print(f"   layout A/B: {how('layout-cuda') or 'no result'}")

unfused = {r["batch"]: r for r in lines(f"{out}/unfused-cuda/stdout")}
fused = {r["batch"]: r for r in speed_all if r["depth"] == 20 and r["nets"] == "residual"}
if BIG in unfused and BIG in fused:
    u, f = unfused[BIG], fused[BIG]
    small = (f"; at batch {SMALL}: {unfused[SMALL]['median_step_ms']} ms unfused, "
             f"{fused[SMALL]['median_step_ms']} ms fused" if SMALL in unfused and SMALL in fused else "")
    print(f"   without burn-fusion (cubecl alone): {u['img_per_s']} img/s, {u['median_step_ms']} ms "
          f"per step, against {f['img_per_s']} img/s fused ({u['img_per_s'] / f['img_per_s']:.2f}x)"
          + small)
    # The same seeded batch, so the first steps' losses (steps 2-4 follow an SGD update, 3-4 with
    # momentum) differ only by rounding: on lavapipe within 1e-5 of flex; a kernel that dropped
    # the momentum moved step 3 by 34%.
    lu, lf = u.get("first_losses") or [], f.get("first_losses") or []
    pairs = [(a, b) for a, b in zip(lu, lf) if a is not None and b is not None]
    if len(pairs) == len(lu) == len(lf) and pairs:
        rel = max(abs(a - b) / max(abs(b), 1e-6) for a, b in pairs)
        verdict = "agree" if rel <= 1e-3 else "DIFFER (beyond 1e-3: resdash's SGD or batch norm kernels, or cubecl's, are wrong here)"
        n = f"{len(pairs)} steps'" if len(pairs) > 1 else "step's"
        print(f"   its first {n} losses against the fused run's: largest relative difference "
              f"{rel:.1e}, {verdict} ({', '.join(f'{a:.5f}' for a, _ in pairs)} unfused)")
    else:
        print(f"   its first losses: not comparable (unfused {lu}, fused {lf}: a pack older than this "
              "check, or a NaN loss)")
else:
    print(f"   without burn-fusion: {how('unfused-cuda') or 'no result'}")

stopped = [l for l, (_, rc) in runs.items() if rc == 124 and l != "speed-cuda" or
           l == "speed-cuda" and rc == 124 and residual_ok]
if stopped:
    print("timed out (kernels compiled / autotunes finished, every 5 s):")
    for label in stopped:
        print(f"   {progress(label)}")
    if residual_ok and "trace-cuda" in stopped:
        print("   (the speed runs, which never probe, made their steps; the trace's and the "
              "dashboard's first step is a probe step)")
PY
