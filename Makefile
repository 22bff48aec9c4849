# ombud — two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each bootstraps .venv when needed and re-installs when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEV    := $(VENV)/.installed-dev
BENCH  := $(VENV)/.installed-bench

.PHONY: demo test bench bench-quick lint clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "ombud needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(BENCH): pyproject.toml $(DEV)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $@

demo: $(DEV)
	$(BIN)/ombud demo

test: $(DEV)
	$(BIN)/python -m pytest

bench: $(BENCH)
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/witness.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/nab.py
	$(BIN)/python bench/poisoning.py
	$(BIN)/python bench/screening.py
	$(BIN)/python bench/sentiment.py
	$(BIN)/python bench/services.py
	$(BIN)/python bench/campaign.py
	$(BIN)/python bench/dp.py
	$(BIN)/python bench/posts.py
	$(BIN)/python bench/demo.py

bench-quick: $(BENCH)
	$(BIN)/python bench/ledger.py --quick
	$(BIN)/python bench/witness.py --quick
	$(BIN)/python bench/ingest.py --quick

lint: $(DEV)
	$(BIN)/ruff check src tests bench training
	$(BIN)/ruff format --check src tests bench training
	$(BIN)/mypy --strict src

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
