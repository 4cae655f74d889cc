# The README's two commands: `make run` and `make test`. Both install what they need
# into .venv first (only Python 3.11+ must be present).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-test bench clean

$(VENV)/.python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "photoshare needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: $(VENV)/.python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	command -v chromium >/dev/null || { apt-get update && apt-get install -y --no-install-recommends chromium; }
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Run the embedded profile on http://127.0.0.1:8000 with data in ./data.
# Pass flags through ARGS, e.g. `make run ARGS="--port 9000 --data-dir /tmp/ps"`.
run: install
	$(BIN)/photoshare serve $(ARGS)

# Install and run the whole test suite. Pass pytest flags through PYTEST_ARGS.
test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python bench/images.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
