# Two commands on a fresh machine: `make demo` (the main job on the embedded emulator) and `make test`.
# Each installs what it needs into .venv first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= configs/local.yaml
MLOPS  := $(BIN)/mlops

.PHONY: install demo test lint typecheck unit bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(MLOPS) local up
	$(MLOPS) storage init   -c $(CONFIG)
	$(MLOPS) storage upload -c $(CONFIG) data/churn
	$(MLOPS) storage ls     -c $(CONFIG)
	$(MLOPS) storage status -c $(CONFIG) --check
	$(MLOPS) preprocess run -c $(CONFIG) --wait
	$(MLOPS) train run      -c $(CONFIG) --wait
	$(MLOPS) train evaluate -c $(CONFIG) --wait
	$(MLOPS) register model -c $(CONFIG)
	$(MLOPS) register approve latest -c $(CONFIG) --reason "approved by make demo"
	$(MLOPS) deploy apply   -c $(CONFIG)
	$(MLOPS) deploy invoke  -c $(CONFIG) --file data/examples/customers.json
	$(MLOPS) deploy invoke  -c $(CONFIG) --file data/examples/customers.csv --accept text/csv
	$(MLOPS) gateway apply  -c $(CONFIG)
	@echo 'A prediction through the REST API; repeat it with:'
	@echo '  URL=$$($(MLOPS) gateway url -c $(CONFIG)); KEY=$$($(MLOPS) gateway keys show --reveal -c $(CONFIG))'
	@echo '  curl -sS -X POST "$$URL/predict" -H "x-api-key: $$KEY" -H "Content-Type: application/json" --data @data/examples/customers.json'
	@URL=$$($(MLOPS) gateway url -c $(CONFIG)) && KEY=$$($(MLOPS) gateway keys show --reveal -c $(CONFIG)) && \
		curl -sS --fail-with-body --noproxy 127.0.0.1 -X POST "$$URL/predict" -H "x-api-key: $$KEY" \
		-H "Content-Type: application/json" --data @data/examples/customers.json && echo

test: install lint typecheck unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q -n 2 --dist loadfile

bench: install
	$(BIN)/python benchmarks/startup.py

clean:
	-$(MLOPS) local down
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
