# paperboy: `make run` and `make test` do their whole set-up themselves on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# One home for `make run` and the `paperboy` command: $PAPERBOY_HOME, else ~/.paperboy (the CLI's default).
HOME_DIR ?= $(or $(PAPERBOY_HOME),$(HOME)/.paperboy)
CORPUS ?= $(CURDIR)/../shared/data/arxiv-2025-2026.jsonl.gz

.PHONY: install run test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch is pinned to the CPU build waiting in pip's local wheel folder; never a CUDA build.
	$(BIN)/pip install -q "torch==2.13.0"
	# cluster: Dask distributed for `paperboy index --cluster` (its test runs a local 2-worker cluster);
	# postgres: psycopg 3 (the suite runs on PostgreSQL too)
	$(BIN)/pip install -q -e ".[dev,cluster,postgres]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

HOST ?= 127.0.0.1
PORT ?= 8000

## run: import the real sample corpus (or the latest arXiv listings), then serve the web app on $(HOST):$(PORT)
run: install
	@if [ -f "$(CORPUS)" ]; then \
		$(BIN)/paperboy --home "$(HOME_DIR)" ingest jsonl "$(CORPUS)"; \
	else \
		echo "no sample corpus at $(CORPUS): fetching the latest arXiv listings"; \
		$(BIN)/paperboy --home "$(HOME_DIR)" ingest rss || echo "could not reach arXiv: serving what the store holds"; \
	fi
	$(BIN)/paperboy --home "$(HOME_DIR)" serve --host $(HOST) --port $(PORT)

## test: lint, then the test suite on SQLite and again on PostgreSQL (a server the suite starts
## itself from Debian's postgresql package: initdb and pg_ctl in a temporary folder)
test: install lint
	$(BIN)/pytest -q
	$(BIN)/pytest -q --backend postgres

lint: install
	$(BIN)/ruff check paperboy tests bench

## bench: the performance figures the issues ask for
bench: install
	$(BIN)/python -m bench

clean:  ## the checkout's build files (the home in $(HOME_DIR) is kept)
	rm -rf $(VENV) var .pytest_cache .ruff_cache
