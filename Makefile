# The README's two commands: `make run` and `make test`. Both install what they need
# into .venv first (only Python 3.11+ must be present).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test cluster install install-test install-servers install-browser engines bench clean

$(VENV)/.python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "photoshare needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	@echo "making $(VENV) (first run only)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

# setuptools says "Editable installation. Please be careful with folders ... of the same
# name as your package" on every editable install of a package-dir layout like ours (an
# information, not a problem: no folder is named `photoshare`); pip shows it as a warning
# banner. Only that notice is silenced; every real warning of the build still shows.
EDITABLE_NOTICE := PYTHONWARNINGS='ignore:Editable installation:UserWarning'

$(VENV)/.installed: $(VENV)/.python pyproject.toml
	@echo "installing photoshare and its dependencies into $(VENV)"
	@$(EDITABLE_NOTICE) $(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(EDITABLE_NOTICE) $(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The servers the tests and `make cluster` start on free ports (never the system's own):
# PostgreSQL and Redis from Debian, a JDK 17 and Maven for Kafka, Cassandra and OpenSearch
# (their jars come from Maven Central), and Chromium for the browser tests. Installed with
# apt when missing (as root); `infra/localcluster/` starts them.
install-servers:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	ls /usr/lib/jvm/java-17-openjdk*/bin/java >/dev/null 2>&1 || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
		echo "installing from Debian:$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

install-browser:
	@command -v chromium >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

# Resolve the JVM engines' jars from Maven Central once (cached in ~/.m2 and
# ~/.cache/photoshare/engines), so the first test that needs one does not wait for it.
engines: install-servers $(VENV)/.installed
	$(BIN)/python -m photoshare.infra.localcluster.jars

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Run the embedded profile on http://127.0.0.1:8000 with data in ./data.
# Pass flags through ARGS, e.g. `make run ARGS="--port 9000 --data-dir /tmp/ps"`.
run: install
	@$(BIN)/photoshare serve $(ARGS)

# The cluster profile on real engines on this machine: PostgreSQL, Redis, Apache Kafka,
# Apache Cassandra and OpenSearch (data under data/cluster), then every role behind
# http://127.0.0.1:8000. Pass flags through ARGS, e.g. ARGS="--workers 4 --port 9000".
cluster: install engines
	$(BIN)/photoshare local-cluster $(ARGS)

# Install and run the whole test suite. Pass pytest flags through PYTEST_ARGS.
# `pytest`, not `python -m pytest`, which would put the repository root on sys.path and
# let our `events/` folder shadow the `events` module of a dependency (opensearch-py).
test: install-test install-browser engines
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python bench/images.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
