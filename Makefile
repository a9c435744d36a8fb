# lvlm-debias: `make run` runs the embedded default end to end, `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
# The CPU wheel of torch; on a GPU machine use e.g. `make TORCH=torch==2.13.0 install` with your CUDA index.
TORCH ?= torch==2.13.0
CORES ?= all
CONFIG ?= config.yaml
BIN := $(VENV)/bin

.PHONY: install run test lint report clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

run: install
	HF_HUB_OFFLINE=1 $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG)
	@echo "Report: $(abspath results/report.html)"

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests workflow/scripts

report: install
	$(BIN)/snakemake --cores 1 --configfile $(CONFIG) --report results/snakemake_report.html

clean:
	rm -rf results logs benchmarks .snakemake
