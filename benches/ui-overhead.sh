#!/usr/bin/env bash
# What the dashboard costs the trainer: steps/s of the same seeded run headless and with the
# dashboard drawing in a 120x40 pty (a detached tmux pane, at the default 10 fps), alternating
# the two modes; and the bytes the dashboard writes to the terminal per second (what an SSH
# session carries), captured with `tmux pipe-pane`.
#   benches/ui-overhead.sh [steps] [rounds]        # defaults 300 steps, 2 rounds; needs tmux
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-300}
rounds=${2:-2}
cargo build --release --quiet
bin=$PWD/target/release/resdash
tmp=$(mktemp -d)
session=resdash-ui-overhead-$$
trap 'tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$tmp"' EXIT
args=(--config configs/default.toml --max-steps "$steps")

for round in $(seq "$rounds"); do
    "$bin" --headless "${args[@]}" --run-dir "$tmp/headless-$round" 2>/dev/null
    tmux new-session -d -s "$session" -x 120 -y 40 \
        "$bin ${args[*]} --run-dir $tmp/ui-$round; touch $tmp/ui-$round.done; sleep 60"
    tmux pipe-pane -t "$session" -o "cat > $tmp/ui-$round.bytes"
    # The dashboard stays open at the step limit: wait for it, then quit with q.
    until grep -q '"state":"finished"' "$tmp"/ui-"$round"/*/metrics.jsonl 2>/dev/null; do
        sleep 0.5
    done
    tmux send-keys -t "$session" q
    until [[ -e $tmp/ui-$round.done ]]; do sleep 0.2; done
    tmux kill-session -t "$session"
done

python3 - "$tmp" "$rounds" <<'PY'
import glob, json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])

def rate(run):
    """Steps per second between step 20 and the last step (warm-up excluded), and that span."""
    [path] = glob.glob(f"{tmp}/{run}/*/metrics.jsonl")
    steps = [json.loads(l) for l in open(path)]
    steps = [e for e in steps if e["event"] == "step" and e["step"] >= 20]
    span = steps[-1]["t"] - steps[0]["t"]
    return (steps[-1]["step"] - steps[0]["step"]) / span, span, steps[0]["t"], steps[-1]["t"]

rows = []
for r in range(1, rounds + 1):
    h, _, _, _ = rate(f"headless-{r}")
    u, span, t0, t1 = rate(f"ui-{r}")
    size = len(open(f"{tmp}/ui-{r}.bytes", "rb").read())
    rows.append((h, u, size, size / span))
    print(f"round {r}: headless {h:6.2f} steps/s | dashboard {u:6.2f} steps/s "
          f"({100 * (u - h) / h:+.1f}%) | {size / 1024:.0f} KiB to the terminal, "
          f"{size / span / 1024:.1f} KiB/s while training")
h = statistics.median(r[0] for r in rows)
u = statistics.median(r[1] for r in rows)
b = statistics.median(r[3] for r in rows)
print(f"median: headless {h:.2f} steps/s, dashboard {u:.2f} steps/s ({100 * (u - h) / h:+.1f}%), "
      f"{b / 1024:.1f} KiB/s to a 120x40 terminal")
PY
