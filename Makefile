# `make demo` and `make test` set up everything on a fresh machine: a .venv with the pinned CPU torch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test install peers bench bench-quick clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/entembed demo

# The browser tests drive Debian's chromium; install it when missing (as root, as CI runs).
test: $(STAMP)
	command -v chromium >/dev/null || { test "$$(id -u)" = 0 && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium is missing and could not be installed: the browser tests will fail" >&2
	$(BIN)/python -m pytest -q

# Peers (Keras, implicit, gensim) in their own venv, never dependencies of entembed; torch pinned as ours.
PEERS := benchmarks/.peers-venv
PEERS_STAMP := $(PEERS)/.installed

$(PEERS_STAMP): benchmarks/requirements-peers.txt constraints.txt pyproject.toml
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet -c constraints.txt -r benchmarks/requirements-peers.txt
	$(PEERS)/bin/python -m pip install --quiet -c constraints.txt -e .
	touch $(PEERS_STAMP)

peers: $(PEERS_STAMP)

# Every benchmark, one after the other; each rewrites its own marked block of BENCHMARKS.md (benchmarks/run_all.py).
# bench-quick: a reduced run of each (under 5 minutes), written to benchmarks/out/BENCHMARKS-quick.md.
bench: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python benchmarks/run_all.py

bench-quick: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) build src/*.egg-info
