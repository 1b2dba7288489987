# Sourced by the PyTorch comparison scripts (from the repository root): sets TORCH_PYTHON to a
# Python that imports torch. Without TORCH_PYTHON set, PyTorch goes into .venv-torch
# (git-ignored), with its dependencies: the PyPI wheel imports libcudart even on a CPU-only
# machine, so `pip install torch --no-deps` is not enough (about 3 GB, CUDA libraries unused).
if [[ -z ${TORCH_PYTHON:-} ]]; then
    if ! .venv-torch/bin/python -c "import torch" 2>/dev/null; then
        python3 -m venv .venv-torch
        .venv-torch/bin/pip install --quiet torch numpy
    fi
    TORCH_PYTHON=.venv-torch/bin/python
fi
