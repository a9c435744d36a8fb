# lvlm-debias: `make run` runs the embedded default end to end, `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
# The CPU wheel of torch; on a GPU machine use e.g. `make TORCH=torch==2.13.0 install` with your CUDA index.
TORCH ?= torch==2.13.0
CORES ?= all
CONFIG ?= config.yaml
BIN := $(VENV)/bin

.PHONY: install run resume study test lint report bench bench-scoring bench-cache bench-workflow clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

run: install
	HF_HUB_OFFLINE=1 $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --rerun-incomplete
	@echo "Report: $(abspath results/report.html)"

# After a killed or pre-empted run: release Snakemake's lock, then redo only the unfinished jobs.
resume: install
	HF_HUB_OFFLINE=1 $(BIN)/snakemake --cores 1 --configfile $(CONFIG) --unlock
	$(MAKE) run

# The controlled study (docs/study.md): when does debiasing help? Models at 4 injected prior strengths x 2 seeds,
# 3 evidence levels; writes results/study/ (see docs/study.md for its measured time).
study: install
	HF_HUB_OFFLINE=1 $(BIN)/snakemake --cores $(CORES) --configfile config/study.yaml --rerun-incomplete
	@echo "Study report: $(abspath results/study/report.html)"

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests workflow/scripts

report: install
	$(BIN)/snakemake --cores 1 --configfile $(CONFIG) --report results/snakemake_report.html

# Performance benchmark (docs/performance.md): prints tables and targets, writes results/bench/*.csv.
bench: bench-scoring bench-cache bench-workflow

bench-scoring: install
	HF_HUB_OFFLINE=1 $(BIN)/snakemake data/models/shapes-llava data/shapes_world/pope/random.jsonl \
		--cores $(CORES) --configfile $(CONFIG)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/scoring.py --config $(CONFIG)

bench-cache: install
	HF_HUB_OFFLINE=1 $(BIN)/snakemake data/models/shapes-llava data/shapes_world/pope/random.jsonl \
		data/shapes_world/pope/popular.jsonl data/shapes_world/pope/adversarial.jsonl --cores $(CORES) --configfile $(CONFIG)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/cache.py --config $(CONFIG)

bench-workflow: install
	HF_HUB_OFFLINE=1 $(BIN)/python bench/workflow.py --config $(CONFIG)

clean:
	rm -rf results logs benchmarks .snakemake
