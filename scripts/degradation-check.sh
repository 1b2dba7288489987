#!/usr/bin/env bash
# The degradation problem on a laptop, checked: `resdash sweep --depths 20,56` with the default
# config for three seeds; prints one table and exits non-zero unless, for every seed,
#   1. plain-56 train error >= plain-20 train error + 5 points  (deeper plain trains worse),
#   2. residual-56 train error <= plain-56 train error - 5 points (shortcuts fix it),
#   3. the sweep took <= MAX_WALL seconds (default 300: five minutes on a 2-core CPU).
#
#   scripts/degradation-check.sh                      # seeds 0 1 2, configs/default.toml
#   CONFIG=configs/fashion-mnist.toml STEPS=500 MAX_WALL=0 scripts/degradation-check.sh
#
# Environment: CONFIG, SEEDS ("0 1 2"), STEPS (default: the config's run.max_steps),
# MAX_WALL (seconds, 0 = no limit), RESDASH (a built binary; default: cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG=${CONFIG:-configs/default.toml}
SEEDS=${SEEDS:-0 1 2}
MAX_WALL=${MAX_WALL:-300}
if [[ -z ${RESDASH:-} ]]; then
    cargo build --release --quiet
    RESDASH=target/release/resdash
fi
RUNS=$(mktemp -d)
trap 'rm -rf "$RUNS"' EXIT
steps=()
[[ -n ${STEPS:-} ]] && steps=(--steps "$STEPS")

results=()
for seed in $SEEDS; do
    echo "seed $seed: $RESDASH sweep --depths 20,56 --config $CONFIG --seed $seed ${steps[*]}" >&2
    start=$EPOCHREALTIME
    json=$("$RESDASH" sweep --depths 20,56 --config "$CONFIG" --seed "$seed" "${steps[@]}" \
        --json --run-dir "$RUNS" 2>"$RUNS/seed-$seed.log") || {
        tail -20 "$RUNS/seed-$seed.log" >&2
        echo "seed $seed: the sweep failed" >&2
        exit 1
    }
    results+=("$seed $start $EPOCHREALTIME $json")
    echo "seed $seed: $json" >&2
done

printf '%s\n' "${results[@]}" >"$RUNS/results.txt"
MAX_WALL=$MAX_WALL python3 scripts/sweep_check.py <"$RUNS/results.txt"
