# The two README commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEMO_DIR ?= demo-project

.PHONY: demo test lint bench clean browser postgres
# The browser tests drive Debian's Chromium through Playwright (no browser download).
CHROMIUM_INSTALL := apt-get install -y -q --no-install-recommends chromium

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Label Studio's own validator (label-studio-sdk) checks the files `export labelstudio` writes. It
# lives in a venv of its own: it pins numpy and OpenCV versions that curalog's venv does not take.
LS_VENV := .venv-labelstudio
LS_SDK  := label-studio-sdk==2.1.2

$(LS_VENV)/.done:
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet '$(LS_SDK)'
	touch $@

demo: $(VENV)/.base
	$(VENV)/bin/curalog demo $(DEMO_DIR) --fresh

browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO $(CHROMIUM_INSTALL) >/dev/null || ($$SUDO apt-get update -q >/dev/null && $$SUDO $(CHROMIUM_INSTALL) >/dev/null); \
	fi

# The PostgreSQL tests start a throwaway server from Debian's postgresql package (initdb, pg_ctl).
POSTGRES_INSTALL := apt-get install -y -q --no-install-recommends postgresql

postgres:
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "installing Debian's postgresql for the ledger tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO $(POSTGRES_INSTALL) >/dev/null || ($$SUDO apt-get update -q >/dev/null && $$SUDO $(POSTGRES_INSTALL) >/dev/null); \
	fi

test: $(VENV)/.dev $(LS_VENV)/.done browser postgres
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

bench: $(VENV)/.dev browser
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(LS_VENV) $(DEMO_DIR) .pytest_cache .ruff_cache .hypothesis
