#!/usr/bin/env bash
# Runs scripts/gpu-check.sh on this CPU-only machine before device time is spent on it: every
# section, the table and its verdicts, with `cuda` swapped for `flex` and PyTorch on the CPU, and
# the sizes cut (speed: batch 8, one timed step; Fashion-MNIST: 30 steps, 500 test images). Numbers from a dry run
# mean nothing; a crash, a missing file or a FAIL in section 1 means the script needs fixing.
#   scripts/gpu-check-dryrun.sh          # builds the CPU binaries, ~5 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin resdash --bench throughput --example trace
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
bench=$(ls -t target/release/deps/throughput-* | grep -v '\.d$' | head -1)
# Each wrapper rewrites the GPU arguments, then runs the real CPU binary.
cat >"$fake/rewrite" <<'PY'
import json, os, sys
tool, args = sys.argv[1], sys.argv[2:]
swap = {"cuda": "flex"} if tool != "python" else {"cuda": "cpu"}
args = [swap.get(a, a) for a in args]
cut = {}
if tool == "throughput" or "throughput" in args:
    cut = {"--steps": "1", "--warmup": "0", "--batch": "8"}
if tool == "resdash" and "469" in args:
    cut = {"--max-steps": "30"}
args = [cut.get(args[i - 1], a) if i else a for i, a in enumerate(args)]
args = ["data.test_limit=500" if a == "data.test_limit=0" else a for a in args]
print("\0".join(args), end="")
PY
for tool in resdash trace throughput; do
    real=$PWD/target/release/$tool
    [[ $tool == trace ]] && real=$PWD/target/release/examples/trace
    [[ $tool == throughput ]] && real=$PWD/$bench
    cat >"$fake/$tool" <<SH
#!/usr/bin/env bash
mapfile -d '' args < <(python3 "$fake/rewrite" $tool "\$@")
"$real" "\${args[@]}"; rc=\$?
# A trace asked for on cuda is labelled cuda, as the real one would be.
if [[ $tool == trace && " \$* " == *" --backend cuda "* ]]; then
    out=\$(printf '%s\n' "\$@" | grep -A1 -x -- --out | tail -1)
    python3 - "\$out/trace.json" <<'EOF2'
import json, sys
t = json.load(open(sys.argv[1])); t["backend"] = "cuda"; json.dump(t, open(sys.argv[1], "w"))
EOF2
fi
exit \$rc
SH
    chmod +x "$fake/$tool"
done
torch_python=${TORCH_PYTHON:-.venv-torch/bin/python}
cat >"$fake/python" <<SH
#!/usr/bin/env bash
mapfile -d '' args < <(python3 "$fake/rewrite" python "\$@")
exec "$PWD/$torch_python" "\${args[@]}"
SH
chmod +x "$fake/python"
nvidia-smi() { :; }
OUT=${OUT:-$(mktemp -d)} BIN=$fake PY=$fake/python scripts/gpu-check.sh
