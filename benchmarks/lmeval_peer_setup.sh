#!/usr/bin/env bash
# Makes the virtual environment in which benchmarks/vs_lm_eval.py runs the peer: lm-evaluation-harness
# with its `gguf` model type, talking to llama-cpp-python's OpenAI-compatible server (the way its users
# run GGUF models). Kept apart from the project's .venv.
#
#   bash benchmarks/lmeval_peer_setup.sh                  # → /tmp/lmeval_venv
#   LMEVAL_VENV=DIR bash benchmarks/lmeval_peer_setup.sh
#
# llama-cpp-python is the same version as the project's (pip reuses its cached wheel if one was built).
set -euo pipefail
VENV="${LMEVAL_VENV:-/tmp/lmeval_venv}"
PY="${PYTHON:-python3}"
LMEVAL_VERSION="${LMEVAL_VERSION:-0.4.13}"

"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet "lm-eval==$LMEVAL_VERSION" "llama-cpp-python[server]==0.3.36"
"$VENV/bin/python" -c "import lm_eval.models.gguf, llama_cpp.server" \
    || { echo "the peer venv $VENV lacks lm_eval's gguf model or llama_cpp.server" >&2; exit 1; }
echo "lm-evaluation-harness peer ready: $VENV (use --peer-venv $VENV or LMEVAL_VENV=$VENV)"
