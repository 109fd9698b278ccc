"""`make kaggle-run ARGS="..."`: train in a Kaggle notebook session, on its GPU, and bring
the run home.

    python -m src.kaggle_run model=cnn trainer.epochs=40
    python -m src.kaggle_run -m seed=1,2,3          # one kernel per job, then the summary

The overrides are those of `python -m src.run`, checked here before anything is pushed. Each
job is packaged (src/kaggle/kernel_package.py), pushed with the official client, followed with
bounded polling, and its output placed as a normal run dir with its submission
(src/kaggle/kernel_output.py). Settings: conf/kaggle/default.yaml, `kernel:`.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from src.config import command_config
from src.kaggle import api_client, kernel_output, kernel_package, kernels
from src.kaggle.api_client import KaggleError
from src.runs.run_dir import RunDir
from src.sweeps.summary import summarize
from src.training.provenance import git_state
from src.utils.errors import ConfigError, exit_on_error

# Overrides that would point the session at this machine, or need a process that stays up here.
REFUSED = {
    "hydra": "kaggle-run places the kernel's run itself",
    "hparams_search": "a search's sampler runs beside its jobs; run it here (make run)",
    "tracking": "a kernel cannot reach this machine's MLflow store",
}
# Overrides about this machine: where the run comes home, how to talk to Kaggle. The kernel
# does not get them (it reads the competition's read-only input and writes its working dir).
LOCAL = ("data.dir", "data.cache", "submission.dir", "kaggle")


@dataclass
class Job:
    number: int
    overrides: list[str]
    target: Path  # its run dir here, once fetched
    kernel: kernels.Kernel | None = None
    pushed_at: float = 0.0
    error: str | None = None
    run: RunDir | None = None
    submission: Path | None = None
    state: str = "waiting"  # KernelWorkerStatus' name once pushed
    failure_message: str = ""
    session_seconds: float = 0.0


@exit_on_error
def main(argv: list[str]) -> int:
    multirun, overrides = _parse(argv)
    _refuse(overrides)
    command_config.check_overrides((["-m"] if multirun else []) + overrides)
    cfg = command_config.load(overrides if not multirun else _expand(overrides)[0])
    settings = OmegaConf.to_container(cfg.kaggle, resolve=True)
    _check_kernel_settings(settings["kernel"])
    jobs = _jobs(multirun, overrides, cfg)
    client = api_client.connect(settings)
    owner = kernels.owner(client)
    quota = settings["kernel"]["gpu"] or settings["kernel"]["accelerator"]
    if quota:
        quota = _print_quota(client, "before")  # unreadable once: not asked again
    local = {"data_dir": cfg.data.dir, "cache": cfg.data.cache,
             "submission_dir": cfg.submission.dir}
    try:
        _run_all(client, owner, jobs, settings, local)
    except KeyboardInterrupt:
        going = [j.kernel.url for j in jobs if j.kernel and j.state not in kernels.ENDED
                 and j.run is None and j.error is None]
        print(f"\nstopped waiting; still on Kaggle (they go on and spend quota until they end): "
              f"{', '.join(going) or 'none'}", file=sys.stderr)
        return 130
    if quota:
        _print_quota(client, "after")
    if multirun:
        sweep_dir = jobs[0].target.parent
        for job in jobs:
            if job.error:
                _record_failed_job(job)
        summarize(sweep_dir)
        failed = sum(1 for job in jobs if job.error)
        if failed:
            print(f"{failed} of {len(jobs)} kernels failed: see their error column above",
                  file=sys.stderr)
            sys.exit(1)
        return 0
    job = jobs[0]
    if job.error:
        raise KaggleError(job.error)
    print(f"run dir {job.run}\nsubmission {job.submission}")
    return 0


def _check_kernel_settings(kernel: dict) -> None:
    """Before anything is pushed: a pushed kernel spends quota whatever fails after it."""
    for key in ("poll", "wait", "max_sessions", "log_tail"):
        value = kernel[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
                or (key in ("max_sessions", "log_tail") and not isinstance(value, int)):
            raise ConfigError(f"kaggle.kernel.{key}={value}: expected a number > 0"
                              + (" (a whole one)" if key in ("max_sessions", "log_tail") else ""))
    for key in ("gpu", "internet", "private"):
        if not isinstance(kernel[key], bool):
            raise ConfigError(f"kaggle.kernel.{key}={kernel[key]}: expected true or false")


def _print_quota(client, when: str) -> bool:
    """Print this week's GPU quota; whether Kaggle told it."""
    try:
        print(f"GPU quota {when}: {kernels.gpu_quota(client)}", flush=True)
        return True
    except KaggleError as err:  # the quota is for the user's information only
        print(f"warning: {err}", file=sys.stderr)
        return False


def _parse(argv: list[str]) -> tuple[bool, list[str]]:
    multirun = any(a in ("-m", "--multirun") for a in argv)
    return multirun, [a for a in argv if a not in ("-m", "--multirun")]


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _matches(key: str, names) -> bool:
    return any(key == name or key.startswith((f"{name}.", f"{name}/")) for name in names)


def _for_kernel(overrides: list[str]) -> list[str]:
    return [o for o in overrides if not _matches(_key(o), LOCAL)]


def _refuse(overrides: list[str]) -> None:
    for override in overrides:
        if override.startswith("-"):
            raise ConfigError(f"kaggle-run takes overrides only, not {override}: "
                              "e.g. make kaggle-run ARGS=\"model=cnn trainer.epochs=40\"")
        for refused, why in REFUSED.items():
            if _matches(_key(override), [refused]):
                raise ConfigError(f"{override}: not for kaggle-run ({why})")


def _expand(overrides: list[str]) -> list[list[str]]:
    """A multirun's jobs, in the order Hydra's basic sweeper runs them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return BasicSweeper.split_arguments(parsed, max_batch_size=None)[0]


def _jobs(multirun: bool, overrides: list[str], cfg) -> list[Job]:
    if not multirun:
        return [Job(0, _for_kernel(overrides), Path(cfg.kaggle.kernel.run_dir))]
    sweep_dir = Path(cfg.kaggle.kernel.sweep_dir)
    if sweep_dir.exists():
        raise ConfigError(f"{sweep_dir} exists already: wait a second, or set "
                          "kaggle.kernel.sweep_dir")
    jobs, expanded = [], _expand(overrides)
    for number, job_overrides in enumerate(expanded):
        model = command_config.load(job_overrides).model.name
        jobs.append(Job(number, _for_kernel(job_overrides), sweep_dir / f"{number}_{model}"))
    _refuse_twins(jobs, expanded)
    return jobs


def _refuse_twins(jobs: list[Job], expanded: list[list[str]]) -> None:
    """One line when two jobs would push the same kernel: they differ only in keys that stay
    on this machine (LOCAL), so Kaggle would train the same thing twice."""
    first = {}
    for job in jobs:
        twin = first.setdefault(tuple(sorted(job.overrides)), job.number)
        if twin != job.number:
            differ = sorted({_key(o) for o in set(expanded[twin]) ^ set(expanded[job.number])})
            raise ConfigError(f"jobs {twin} and {job.number} would push the same kernel: they "
                              f"differ only in {', '.join(differ)}, which stay on this "
                              "machine; sweep what the session trains, or drop those values")


def _run_all(client, owner: str, jobs: list[Job], settings: dict, local: dict) -> None:
    """Push jobs while fewer than max_sessions run, poll the running ones, fetch each as it
    ends, until none is left."""
    kernel_settings = settings["kernel"]
    git = git_state(kernel_package.ROOT)
    waiting, running = list(jobs), []
    while waiting or running:
        while waiting and len(running) < kernel_settings["max_sessions"]:
            job = waiting.pop(0)
            try:
                _push(client, owner, job, settings)
                running.append(job)
            except KaggleError as err:
                job.error = str(err)
        if running:
            time.sleep(kernel_settings["poll"])
        for job in list(running):
            try:
                if _ended(client, job, kernel_settings):
                    running.remove(job)
                    _finish(client, job, settings, local, git)
            except KaggleError as err:
                if job in running:
                    running.remove(job)
                job.error = str(err)
            if job.error and len(jobs) > 1:  # a single job's error is the command's own line
                print(f"job {job.number}: {job.error}", file=sys.stderr)


def _push(client, owner: str, job: Job, settings: dict) -> None:
    kernel_settings = settings["kernel"]
    slug = kernel_package.slug_for(kernel_settings["slug_prefix"], job.overrides)
    with tempfile.TemporaryDirectory(prefix="kaggle-push-") as folder:
        kernel_package.write(Path(folder), owner, slug, job.overrides, kernel_settings,
                             settings["competition"])
        job.kernel = kernels.push(client, Path(folder), kernel_settings)
    job.pushed_at = time.monotonic()
    job.state = "QUEUED"
    print(f"job {job.number}: pushed {job.kernel.ref} ({' '.join(job.overrides) or 'defaults'})"
          f": {job.kernel.url}", flush=True)


def _ended(client, job: Job, kernel_settings: dict) -> bool:
    state, message = kernels.status(client, job.kernel)
    if state != job.state:
        print(f"job {job.number}: {job.kernel.ref} {state}", flush=True)
        job.state = state
    if state in kernels.ENDED:
        job.failure_message = message
        job.session_seconds = time.monotonic() - job.pushed_at
        return True
    waited = time.monotonic() - job.pushed_at
    if waited > kernel_settings["wait"]:
        raise KaggleError(f"kernel {job.kernel.ref} is still {state} after {waited:.0f} s "
                          f"(kaggle.kernel.wait={kernel_settings['wait']}): it goes on on "
                          f"Kaggle; follow it on {job.kernel.url}")
    return False


def _finish(client, job: Job, settings: dict, local: dict, git: dict) -> None:
    """Fetch an ended kernel's output: a run dir and submission, or its failure line."""
    kernel_settings = settings["kernel"]
    staging_root = Path(kernel_settings["staging"])
    staging_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{job.kernel.slug}-", dir=staging_root))
    try:
        if job.state == kernels.COMPLETE:
            try:
                kernels.fetch_output(client, job.kernel, staging)
            except KaggleError as err:
                raise KaggleError(f"{err}: nothing was kept; the output stays on "
                                  f"{job.kernel.url}") from None
            job.run, job.submission = kernel_output.place(
                staging, job.kernel, job.overrides, job.target, local,
                settings["test_rows"], git, job.session_seconds)
            print(f"job {job.number}: fetched into {job.run}", flush=True)
            return
        log = _fetch_log(client, job, staging)
        why = "was cancelled" if job.state in kernels.CANCELLED else "failed"
        detail = f" ({job.failure_message})" if job.failure_message else ""
        tail = kernels.log_tail(log, kernel_settings["log_tail"])
        job.error = (f"kernel {job.kernel.ref} {why} on Kaggle{detail}: {job.kernel.url}; "
                     f"log tail: {' | '.join(tail) if tail else '(no log)'}")
    finally:
        kernel_output.discard(staging)
        with contextlib.suppress(OSError):  # the staging root goes when the last one is done
            staging_root.rmdir()


def _fetch_log(client, job: Job, staging: Path) -> str:
    try:
        kernels.fetch_output(client, job.kernel, staging)
    except KaggleError as err:
        return f"(the log could not be fetched: {err})"
    log = kernels.log_path(job.kernel, staging)
    return log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""


def _record_failed_job(job: Job) -> None:
    run = RunDir(job.target)
    run.record_lost_job(job.overrides, job.error)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
