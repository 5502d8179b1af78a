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
	$(MLOPS) pipeline run -c $(CONFIG)
	@echo 'A prediction through the REST API with curl; repeat it with:'
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
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=15

bench: install
	$(BIN)/python benchmarks/startup.py

clean:
	-$(MLOPS) local down
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
