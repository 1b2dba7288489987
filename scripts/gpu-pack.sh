#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine without Rust into .bin/ (git-ignored),
# small enough to carry (the device tool carries 64 MiB in all):
#   .bin/resdash-cuda.tar.xz   resdash, trace and throughput built with --features cuda
#                              (~100 MB of binaries; xz -9 finds the code they share)
#   .bin/fashion-mnist/        the four Debian IDX files (30 MB, already gzip'd)
# Then, on the GPU machine: scripts/gpu-check.sh (it unpacks the archive to a temporary folder).
#   scripts/gpu-pack.sh        # builds first: ~10-20 minutes on 2 cores from a cold cuda build
set -euo pipefail
cd "$(dirname "$0")/.."
FMNIST_DIR=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
LIMIT_MIB=${LIMIT_MIB:-64}

# The executables cargo reports, not the newest file matching a name: a bench binary built
# without the cuda feature can be newer than the cuda one.
mapfile -t built < <(cargo build --release --features cuda --bin resdash --bench throughput \
    --example trace --message-format=json-render-diagnostics |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["target"]["name"] + "\t" + m["executable"])')
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for entry in "${built[@]}"; do
    name=${entry%%$'\t'*}
    cp "${entry#*$'\t'}" "$stage/$name"
done
for name in resdash trace throughput; do
    [[ -x $stage/$name ]] || { echo "gpu-pack: cargo reported no $name executable" >&2; exit 1; }
    # A binary without cuda says so at once; a cuda one gets past parsing (and fails here, with
    # no GPU, at the device).
    case $name in
        resdash) args=(--headless --max-steps 1 --run-dir "$stage/probe") ;;
        trace) args=(--steps 1 --out "$stage/probe") ;;
        throughput) args=(--depth 8 --batch 2 --steps 1 --warmup 0) ;;
    esac
    said=$(timeout 60 "$stage/$name" --backend cuda "${args[@]}" 2>&1 || true)
    if grep -q "compiled into this binary" <<<"$said"; then
        echo "gpu-pack: $name has no cuda backend: $said" >&2
        exit 1
    fi
done
mkdir -p .bin/fashion-mnist
rm -f .bin/resdash-cuda.tar.xz
XZ_OPT=-9 tar -C "$stage" -cJf .bin/resdash-cuda.tar.xz resdash trace throughput
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
    t10k-labels-idx1-ubyte; do
    src=$FMNIST_DIR/$f.gz
    [[ -f $src ]] || src=$FMNIST_DIR/$f
    [[ -f $src ]] || { echo "gpu-pack: no $f(.gz) in $FMNIST_DIR (FMNIST_DIR)" >&2; exit 1; }
    cp "$src" .bin/fashion-mnist/
done
# Which source the binaries are: gpu-check.sh prints it in its table.
echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src benches examples Cargo.toml Cargo.lock || echo '+uncommitted changes')" >.bin/commit
du -b .bin/resdash-cuda.tar.xz .bin/fashion-mnist/*
total=$(du -cb .bin | tail -1 | cut -f1)
echo "gpu-pack: .bin holds $((total / 1024 / 1024)) MiB (carry limit ${LIMIT_MIB} MiB)"
if ((total > LIMIT_MIB * 1024 * 1024)); then
    echo "gpu-pack: too big to carry: remove what else is in .bin" >&2
    exit 1
fi
