# The README's commands. Each one creates .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench install clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# llama-cpp-python is built from source (about 5 minutes on 2 cores): it needs a C++ compiler and cmake
$(STAMP): pyproject.toml | $(PY)
	sh scripts/ensure-build-deps.sh
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local,postgres,dev]'
	touch $(STAMP)

# benchmark data: $CODEROUGE_DATA if set, else ../shared/data where it exists, else downloaded on first use
DATA := $(or $(CODEROUGE_DATA),$(wildcard $(abspath ../shared/data)))

demo: $(STAMP)
	CODEROUGE_DATA=$(DATA) $(VENV)/bin/coderouge demo

test: $(STAMP)
	sh scripts/ensure-system.sh
	CODEROUGE_DATA=$(DATA) $(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/runner_overhead.py
	$(PY) benchmarks/store_memory.py
	$(PY) benchmarks/gateway_overhead.py    # added latency against a bare proxy, and memory over 100,000 requests
	$(PY) benchmarks/stress_accuracy.py    # stress: TTFT and ITL beside a minimal aiohttp client (vLLM-style)
	$(PY) benchmarks/stress_capacity.py    # stress: requests/s beside the same client
	$(PY) benchmarks/report_scale.py    # coderouge report on 100,000 calls, 50 eval runs, 50,000 battles
	CODEROUGE_DATA=$(DATA) $(PY) benchmarks/loglik_throughput.py
	$(PY) benchmarks/arena_ratings.py    # FastChat side by side: needs bash benchmarks/fastchat_peer_setup.sh once
	CODEROUGE_DATA=$(DATA) $(PY) benchmarks/vs_lm_eval.py       # lm-evaluation-harness side by side (about 15 min): needs bash benchmarks/lmeval_peer_setup.sh once
	CODEROUGE_DATA=$(DATA) $(PY) benchmarks/vs_lm_eval_hf.py    # lm-evaluation-harness's hf backend side by side (about 20 min): needs bash benchmarks/lmeval_hf_peer_setup.sh once

clean:
	rm -rf $(VENV) reports .pytest_cache
