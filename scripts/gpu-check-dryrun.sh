#!/usr/bin/env bash
# Runs scripts/gpu-check.sh on this CPU-only machine before device time is spent on it: every
# section, the table and its verdicts, with `cuda` swapped for `flex` and PyTorch on the CPU, and
# the sizes cut (speed: batch 8, one timed step; Fashion-MNIST: 30 steps, 500 test images). Numbers from a dry run
# mean nothing; a crash, a missing file or a FAIL in section 1 means the script needs fixing.
#   scripts/gpu-check-dryrun.sh          # builds the CPU binaries, ~5 minutes on 2 cores (+ PyTorch
#                                        # into .venv-torch on first use, ~3 GB)
#   DRYRUN_STALL=1 scripts/gpu-check-dryrun.sh     # ~5 minutes: it waits out the limits
#   DRYRUN_PACK=1 scripts/gpu-check-dryrun.sh      # the binaries in .bin/resdash-cuda.tar.xz
#       # the stall met once on cuda: the residual net never makes a first step (every cuda run
#       # that trains it hangs); the table must still come within the budget
set -euo pipefail
cd "$(dirname "$0")/.."
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
if [[ -n ${DRYRUN_PACK:-} ]]; then
    # The binaries scripts/gpu-pack.sh packed (cuda builds; their flex backend runs here).
    mkdir "$fake/packed"
    tar -C "$fake/packed" -xJf .bin/resdash-cuda.tar.xz
    cp .bin/commit "$fake/" 2>/dev/null || true
    resdash_bin=$fake/packed/resdash trace_bin=$fake/packed/trace bench=$fake/packed/throughput
else
    cargo build --release --quiet --bin resdash --bench throughput --example trace
    resdash_bin=$PWD/target/release/resdash trace_bin=$PWD/target/release/examples/trace
    bench=$PWD/$(ls -t target/release/deps/throughput-* | grep -v '\.d$' | head -1)
fi
# Each wrapper rewrites the GPU arguments, then runs the real CPU binary.
cat >"$fake/rewrite" <<'PY'
import json, os, sys
tool, args = sys.argv[1], sys.argv[2:]
# STALL: run what a GPU with the stall would still run (the plain configurations), then hang.
stall = os.environ.get("DRYRUN_STALL") and "cuda" in args and tool != "python"
if stall and tool == "throughput":
    args[args.index("--nets") + 1] = "plain"
    args[args.index("--depth") + 1] = args[args.index("--depth") + 1].split(",")[0]
swap = {"cuda": "flex"} if tool != "python" else {"cuda": "cpu"}
args = [swap.get(a, a) for a in args]
if "--fusion" in args:  # flex has no burn-fusion to turn off: the dry run times flex as it is
    i = args.index("--fusion")
    del args[i:i + 2]
cut = {}
if tool == "throughput" or "throughput" in args:
    # A list of batches stays a list: its largest is the table's, its smallest the scaling's.
    batch = args[args.index("--batch") + 1] if "--batch" in args else ""
    cut = {"--steps": "1", "--warmup": "0", "--batch": "8,2" if "," in batch else "8"}
if tool == "resdash" and "469" in args:
    cut = {"--max-steps": "30"}
args = [cut.get(args[i - 1], a) if i else a for i, a in enumerate(args)]
args = ["data.test_limit=500" if a == "data.test_limit=0" else a for a in args]
print("\0".join(["STALL" if stall else "RUN"] + args), end="")
PY
for tool in resdash trace throughput; do
    real=$resdash_bin
    [[ $tool == trace ]] && real=$trace_bin
    [[ $tool == throughput ]] && real=$bench
    cat >"$fake/$tool" <<SH
#!/usr/bin/env bash
mapfile -d '' args < <(python3 "$fake/rewrite" $tool "\$@")
mode=\${args[0]}
args=("\${args[@]:1}")
if [[ \$mode == STALL ]]; then
    [[ $tool == throughput ]] && "$real" "\${args[@]}"
    exec sleep 100000
fi
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
# PyTorch on the CPU for the baseline's sections: TORCH_PYTHON, or .venv-torch (installed on first
# use, as the comparison scripts do; without it every PyTorch step would exit 127).
source benches/torch-python.sh
[[ $TORCH_PYTHON == /* ]] || TORCH_PYTHON=$PWD/$TORCH_PYTHON
cat >"$fake/python" <<SH
#!/usr/bin/env bash
mapfile -d '' args < <(python3 "$fake/rewrite" python "\$@")
exec "$TORCH_PYTHON" "\${args[@]:1}"
SH
chmod +x "$fake/python"
nvidia-smi() { :; }
OUT=${OUT:-$(mktemp -d)} BIN=$fake PY=$fake/python scripts/gpu-check.sh
