#!/usr/bin/env bash
# Probe cost: median step time of the real trainer with a probe on every step vs. (almost)
# never, for ResNet-20 and ResNet-56 pairs at batch 128, alternating the two settings in one
# run. Prints the probe-step overhead and the amortised overhead at the default probe_every.
#   benches/probe-overhead.sh [backend] [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-flex}
steps=${2:-8}
cargo build --release --quiet
bin=target/release/resdash
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
default_every=$(grep -E '^probe_every' configs/default.toml | grep -oE '[0-9]+')


echo "depth  normal_ms  probe_ms  probe_step_overhead  amortised_at_every_${default_every}"
for depth in 20 56; do
    for every in 1 1000000; do
        for round in 1 2; do
            dir="$tmp/d$depth-e$every-r$round"
            "$bin" --headless --backend "$backend" --max-steps "$steps" --run-dir "$dir" \
                --set model.depth="$depth" --set data.image_size=32 --set run.batch_size=128 \
                --set run.probe_every="$every" --set run.eval_every=1000000 \
                --set data.synthetic_train=1024 --set data.synthetic_test=10 --set run.train_eval_size=10 \
                --flow-every 0 2>/dev/null
        done
    done
    normal=$(python3 -c "import json,glob,statistics;print(statistics.median([json.loads(l)['step_ms'] for f in glob.glob('$tmp/d$depth-e1000000-r*/*/metrics.jsonl') for l in open(f) if json.loads(l)['event']=='step' and json.loads(l)['step']>=3]))")
    probe=$(python3 -c "import json,glob,statistics;print(statistics.median([json.loads(l)['step_ms'] for f in glob.glob('$tmp/d$depth-e1-r*/*/metrics.jsonl') for l in open(f) if json.loads(l)['event']=='step' and json.loads(l)['step']>=3]))")
    python3 -c "n=$normal;p=$probe;e=$default_every;print(f'{$depth:>5}  {n:9.1f}  {p:8.1f}  {100*(p-n)/n:18.1f}%  {100*(p-n)/e/n:20.2f}%')"
done
