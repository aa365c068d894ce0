# One command to set up and run the demo, one to set up and run the tests.
#   make demo   create .venv, install trd-spark, simulate the demo study into out/demo and run it
#   make test   create .venv, install trd-spark with test tools, run the whole test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit lint bench check-java clean

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found); install it or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

check-java:
	@bash scripts/check_java.sh

demo: $(STAMP) check-java
	$(BIN)/trd-spark demo --out out/demo

test: $(STAMP) check-java
	bash scripts/run_tests.sh $(BIN)

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

lint: $(STAMP)
	$(BIN)/ruff check trd_spark jobs tests benchmarks
	$(BIN)/ruff format --check trd_spark jobs tests benchmarks
	$(BIN)/mypy

bench: $(STAMP) check-java
	$(BIN)/python benchmarks/pgs_bench.py
	$(BIN)/python benchmarks/phenotype_bench.py
	$(BIN)/python benchmarks/stats_bench.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
