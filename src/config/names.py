"""Names the config, the sweeps and the Hydra plugin shims share. A leaf: it imports nothing of
the project, so that none of them imports another only for a name (they once did, in a circle:
command_config -> the plugin shim -> the sweeper -> command_config)."""

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"  # the project's Hydra configs

# `hydra/sweeper=optuna`'s _target_ (hydra_plugins/digit_harness/optuna_sweeper.py): how a
# job, a sweep record or a pre-flight check knows the sweep is this sweeper's search
OPTUNA_SWEEPER = "hydra_plugins.digit_harness.optuna_sweeper.OptunaSweeper"
