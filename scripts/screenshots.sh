#!/usr/bin/env bash
# Regenerates screenshots/*.png from real runs of the dashboard, driven by keys in a detached
# 120x40 tmux pane and captured with `tmux capture-pane -e` (the bytes resdash drew, colours
# included), then rendered to PNG by scripts/ansi_to_png.py. About 6 minutes on 2 cores.
#
#   scripts/screenshots.sh            # needs tmux, fonts-dejavu-core, python3 (Pillow is
#                                     # installed into .venv-tools on first use)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet
BIN=$PWD/target/release/resdash
VENV=${VENV:-.venv-tools}
if ! "$VENV/bin/python" -c "import PIL" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet pillow
fi
RUNS=$(mktemp -d)
SESSION=resdash-screenshots-$$
trap 'tmux kill-session -t "$SESSION" 2>/dev/null || true; rm -rf "$RUNS"' EXIT
mkdir -p screenshots

start() { # command...
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    tmux new-session -d -s "$SESSION" -x 120 -y 40 "$*; sleep 600"
}
keys() { tmux send-keys -t "$SESSION" "$@"; }
screen() { tmux capture-pane -p -t "$SESSION"; }
wait_for() { # grep pattern, seconds
    for ((i = 0; i < $2; i++)); do
        if screen | grep -q -- "$1"; then return 0; fi
        sleep 1
    done
    echo "screenshots: no \"$1\" on screen after $2 s; the screen was:" >&2
    screen >&2
    exit 1
}
wait_step() { # global step shown in the header, seconds
    for ((i = 0; i < $2; i++)); do
        local step
        step=$(screen | head -1 | grep -o 'step [0-9]*' | grep -o '[0-9]*' || echo 0)
        if ((step >= $1)); then return 0; fi
        sleep 0.5
    done
    echo "screenshots: step $1 not reached after $2 polls" >&2
    exit 1
}
shoot() { # name (after half a second, so that the last key's frame has been drawn)
    sleep 0.5
    tmux capture-pane -p -e -t "$SESSION" >"$RUNS/$1.ansi"
    "$VENV/bin/python" scripts/ansi_to_png.py "$RUNS/$1.ansi" "screenshots/$1.png"
}

# 1. Default data: depth 20 running, the learning rate halved and restored (two markers).
start "$BIN" --run-dir "$RUNS"
wait_step 150 240
keys l
wait_step 200 120
keys L
wait_step 300 120
shoot default-running
# 2. At the step limit press D (20 -> 56): the degradation panel gets the depth-20 row; pause
#    part-way through depth 56 with the flow panel zoomed.
wait_for "STEP LIMIT" 120
keys D
wait_step 600 480
keys Space
wait_for "PAUSED" 30
shoot default-paused
keys 3
shoot default-flow-zoomed
# Esc and space sent together would read as Alt+space: a terminal cannot tell them apart.
keys Escape
sleep 0.5
keys Space
# 3. Depth 56 at its step limit: both rows, the seed paper's Figure 1 built live.
wait_for "STEP LIMIT" 400
sleep 1
shoot default-degradation
keys q
sleep 2

# 4. Fashion-MNIST (Debian's dataset-fashion-mnist), 40 steps of batch 128 (about 2 minutes).
start "$BIN" --config configs/fashion-mnist.toml --run-dir "$RUNS"
wait_step 40 480
sleep 1
shoot fashion-mnist
keys q
sleep 1
ls -l screenshots/*.png
