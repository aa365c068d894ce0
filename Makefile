# One command to set up and run the demo, one to set up and run the tests.
#   make demo   create .venv, install trd-spark, simulate the demo study into out/demo and run it
#               (again: reuses that study, skips finished stages; make demo DEMO_ARGS=--overwrite)
#   make test   create .venv, install trd-spark with test tools, run the whole test suite
#   make cluster-test   only the tests on a Spark standalone cluster on loopback (spark-submit of
#               the built wheel, installs as on Dataproc, EMR and the All of Us Workbench)
# Installs take the exact versions in constraints.txt; setup.cfg keeps compatible ranges.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit cluster-test lint bench check-java constraints wheel clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found); install it or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

check-java:
	@bash scripts/check_java.sh

demo: $(STAMP) check-java
	$(BIN)/trd-spark demo --out out/demo $(DEMO_ARGS)

test: $(STAMP) check-java
	bash scripts/run_tests.sh $(BIN) all

cluster-test: $(STAMP) check-java
	bash scripts/run_tests.sh $(BIN) cluster

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

lint: $(STAMP)
	$(BIN)/ruff check trd_spark jobs tests benchmarks scripts
	$(BIN)/ruff format --check trd_spark jobs tests benchmarks scripts
	$(BIN)/mypy

bench: $(STAMP) check-java
	$(BIN)/python benchmarks/pgs_bench.py
	$(BIN)/python benchmarks/phenotype_bench.py
	$(BIN)/python benchmarks/stats_bench.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/prscs_bench.py

# the wheel that spark-submit --py-files, Dataproc, EMR and the Workbench install
wheel: $(STAMP)
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .

# after changing setup.cfg: re-pin every package the dev environment holds
constraints: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	{ head -n 2 constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v '^trd-spark'; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) out dist build .pytest_cache .mypy_cache .ruff_cache
