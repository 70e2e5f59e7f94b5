#!/usr/bin/env bash
# Makes the virtual environment in which benchmarks/arena_ratings.py runs FastChat, the peer.
# It is kept apart from the project's .venv: FastChat is only ever called from its own installed package.
#
#   bash benchmarks/fastchat_peer_setup.sh                  # → /tmp/fastchat_venv
#   FASTCHAT_VENV=DIR bash benchmarks/fastchat_peer_setup.sh
#   FASTCHAT_SRC=/path/to/a/FastChat/checkout bash benchmarks/fastchat_peer_setup.sh
#
# Chatbot Arena's current rating code (fastchat/serve/monitor/rating_systems.py: compute_bt,
# compute_bootstrap_bt) is newer than the last fschat release on PyPI (0.2.36), so the package comes
# from FastChat's repository at a pinned commit, or from a local checkout of it (FASTCHAT_SRC).
# --no-deps: fschat's full dependency list brings in torch, transformers and the like; the rating
# module needs only numpy, scipy, pandas and tqdm.
set -euo pipefail
VENV="${FASTCHAT_VENV:-/tmp/fastchat_venv}"
COMMIT="${FASTCHAT_COMMIT:-2bdb2e0cf988821ecd40cdb6db40e5e01efe7c85}"
PY="${PYTHON:-python3}"

"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet numpy scipy pandas tqdm
if [ -n "${FASTCHAT_SRC:-}" ]; then
    "$VENV/bin/pip" install --quiet --no-deps "$FASTCHAT_SRC"
else
    "$VENV/bin/pip" install --quiet --no-deps "fschat @ git+https://github.com/lm-sys/FastChat.git@$COMMIT"
fi
"$VENV/bin/python" -c "from fastchat.serve.monitor.rating_systems import compute_bt, compute_bootstrap_bt" \
    || { echo "FastChat in $VENV has no rating_systems module: it needs a FastChat newer than fschat 0.2.36" >&2; exit 1; }
echo "FastChat peer ready: $VENV (use --peer-venv $VENV or FASTCHAT_VENV=$VENV)"
