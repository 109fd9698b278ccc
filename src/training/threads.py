"""How many threads one job may use, so parallel jobs don't oversubscribe the cores.

The rule: `threads=auto` gives each job the cores it has (a Slurm job: its
SLURM_CPUS_PER_TASK; otherwise the cores its affinity allows) divided by the jobs that run at
once there (`hydra.launcher.n_jobs` under the joblib launcher, -1 meaning one job per core; 1
otherwise), and at least one. The budget caps TensorFlow's intra-op pool (set by the Keras
models) and the BLAS/OpenMP pools numpy and scikit-learn use (threadpoolctl, here).
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits

from src.utils import machine
from src.utils.errors import ConfigError


def check(setting) -> None:
    """Refuse a `threads=` setting that is neither auto nor an integer >= 1."""
    if setting != "auto" and (isinstance(setting, bool) or not isinstance(setting, int)
                              or setting < 1):
        raise ConfigError(f"threads={setting} is out of range: expected auto or an "
                          "integer >= 1")


def budget(setting, launcher: dict) -> int:
    """Threads per job for `threads=setting` under the launcher config `launcher`."""
    check(setting)
    if setting != "auto":
        return setting
    cores = int(os.environ.get("SLURM_CPUS_PER_TASK") or len(machine.usable_cores()))
    parallel = 1
    if "joblib" in str(launcher.get("_target_", "")):
        n_jobs = launcher.get("n_jobs") or 1
        parallel = cores if n_jobs < 0 else n_jobs
    return max(1, cores // parallel)


def limit_math_libraries(threads: int):
    """Cap numpy/scikit-learn's native thread pools for the rest of this process."""
    return threadpool_limits(limits=threads)
