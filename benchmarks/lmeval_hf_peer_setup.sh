#!/usr/bin/env bash
# Makes the virtual environment in which benchmarks/vs_lm_eval_hf.py runs the peer: lm-evaluation-harness
# with its `hf` model type (transformers on the CPU), which reads the embedded GGUF file itself (the `gguf`
# package) and dequantises it. Kept apart from the project's .venv.
#
#   bash benchmarks/lmeval_hf_peer_setup.sh               # → .bench/lmeval-hf (git-ignored)
#   LMEVAL_HF_VENV=DIR bash benchmarks/lmeval_hf_peer_setup.sh
#
# torch is installed first and pinned to 2.13.0, the CPU build that lies on this machine's disk: left to
# lm-eval[hf] or transformers, pip would take a CUDA build of several GB. Everything else is pinned to the
# versions measured in the README (a `pip install --dry-run` of them pulls no other torch).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${LMEVAL_HF_VENV:-$ROOT/.bench/lmeval-hf}"
PY="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
LMEVAL_VERSION="${LMEVAL_VERSION:-0.4.13}"
TRANSFORMERS_VERSION="${TRANSFORMERS_VERSION:-5.24.0}"

mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet "torch==$TORCH_VERSION"
"$VENV/bin/pip" install --quiet "torch==$TORCH_VERSION" "lm-eval[hf]==$LMEVAL_VERSION" \
    "transformers==$TRANSFORMERS_VERSION" "gguf==0.19.0" "accelerate==1.15.0"
"$VENV/bin/python" - <<'EOF' || { echo "the peer venv $VENV is not usable (see above)" >&2; exit 1; }
import torch, transformers, gguf, lm_eval.models.huggingface
from transformers.integrations.ggml import GGUF_CONFIG_MAPPING
assert torch.version.cuda is None, f"a CUDA build of torch was installed ({torch.__version__})"
assert "gemma3" in GGUF_CONFIG_MAPPING, f"transformers {transformers.__version__} cannot read a Gemma 3 GGUF"
print(f"torch {torch.__version__}, transformers {transformers.__version__}, lm-eval {lm_eval.__version__}")
EOF
echo "lm-evaluation-harness hf peer ready: $VENV (use --peer-venv $VENV or LMEVAL_HF_VENV=$VENV)"
