"""`make kaggle-run ARGS="..."`: train in a Kaggle notebook session, on its GPU, and bring
the run home.

    python -m src.kaggle_run model=cnn trainer.epochs=40
    python -m src.kaggle_run -m seed=1,2,3          # one kernel per job, then the summary
    python -m src.kaggle_run --fetch <user>/<slug>  # a session nobody waited for, brought home
    python -m src.kaggle_run --list                 # the kernels pushed from here, and their state

The overrides are those of `python -m src.run`, checked here before anything is pushed. Each
job is packaged (src/kaggle/kernel_package.py), pushed with the official client, followed with
bounded polling, and its output placed as a normal run dir with its submission
(src/kaggle/kernel_output.py). Every push is recorded (src/kaggle/kernel_record.py), so a
session left by Ctrl-C or the wait bound can be listed and fetched later. Settings:
conf/kaggle/default.yaml, `kernel:`.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from omegaconf import OmegaConf

from src.config import command_config
from src.kaggle import api_client, kernel_output, kernel_package, kernel_record, kernels
from src.kaggle.api_client import KaggleError
from src.runs.run_dir import RunDir, finished_runs
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
    overrides: list[str] | None  # None: a FETCH, whose overrides come with its output
    target: Path  # its run dir here, once fetched
    kernel: kernels.Kernel | None = None
    pushed_at: float = 0.0  # or, for a FETCH, when the waiting began
    error: str | None = None
    run: RunDir | None = None
    submission: Path | None = None
    state: str = "waiting"  # KernelWorkerStatus' name once pushed
    failure_message: str = ""
    session_seconds: float | None = None  # push to end, as polled; unknown for a FETCH
    git: dict | None = None  # a FETCH: the pushed code's, from the record (None: this tree's)


@exit_on_error
def main(argv: list[str]) -> int:
    multirun, fetch, listing, overrides = _parse(argv)
    _refuse(overrides, fetch or listing)
    command_config.check_overrides((["-m"] if multirun else []) + overrides)
    cfg = command_config.load(overrides if not multirun else _expand(overrides)[0])
    settings = OmegaConf.to_container(cfg.kaggle, resolve=True)
    _check_kernel_settings(settings["kernel"])
    jobs = [] if fetch or listing else _jobs(multirun, overrides, cfg)
    client = api_client.connect(settings)
    owner = kernels.owner(client)
    if listing:
        return _list(client, settings["kernel"]["record"], cfg.kaggle.run_dirs)
    if fetch:
        jobs = [_fetch_job(fetch, owner, settings["kernel"], cfg)]
    quota = not fetch and (settings["kernel"]["gpu"] or settings["kernel"]["accelerator"])
    if quota:
        quota = _print_quota(client, "before")  # unreadable once: not asked again
    local = {"data_dir": cfg.data.dir, "cache": cfg.data.cache,
             "submission_dir": cfg.submission.dir, "overrides": overrides}
    try:
        _run_all(client, owner, jobs, settings, local)
    except KeyboardInterrupt:
        going = [j.kernel for j in jobs if j.kernel and j.state not in kernels.ENDED
                 and j.run is None and j.error is None]
        print("\nstopped waiting; still on Kaggle, spending quota until they end: "
              + (", ".join(f"{k.url} (bring it home later: {_fetch_command(k)})"
                           for k in going) or "none"), file=sys.stderr)
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


def _parse(argv: list[str]) -> tuple[bool, str | None, bool, list[str]]:
    """(multirun, the kernel to fetch, list, overrides) of `argv`."""
    multirun, fetch, listing, overrides = False, None, False, []
    args = iter(argv)
    for arg in args:
        if arg in ("-m", "--multirun"):
            multirun = True
        elif arg == "--list":
            listing = True
        elif arg == "--fetch" or arg.startswith("--fetch="):
            fetch = arg.partition("=")[2] if "=" in arg else next(args, "")
            if not fetch.strip():
                raise ConfigError("FETCH= needs a kernel: <user>/<slug>, a slug or its URL "
                                  "(make kaggle-run LIST=1 lists this project's)")
        else:
            overrides.append(arg)
    if sum(map(bool, (multirun, fetch, listing))) > 1:
        raise ConfigError("give one of FETCH=, LIST=1 and a multirun (-m)")
    return multirun, fetch, listing, overrides


def _kernel_named(text: str, owner: str, prefix: str) -> kernels.Kernel:
    """The kernel FETCH= names: <user>/<slug>[/<version>], a slug (this account's) or the
    kernel's URL; it must be one this project pushes (its slug starts with the prefix)."""
    name = text.strip().rstrip("/")
    if name.startswith(("https://", "http://")):
        path = urlsplit(name).path.strip("/").split("/")
        parts = path[1:3] if len(path) >= 3 and path[0] == "code" else []
    else:
        parts = name.split("/")
        parts = [owner, *parts] if len(parts) == 1 else parts
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(f"FETCH={text}: expected <user>/<slug>, a slug or the kernel's URL "
                          f"({kernels.SITE}/code/<user>/<slug>)")
    if not parts[1].startswith(f"{prefix}-"):
        raise ConfigError(f"FETCH={text}: not a kernel of this project (its slugs start with "
                          f"{prefix}-, kaggle.kernel.slug_prefix); make kaggle-run LIST=1 "
                          "lists them")
    version = parts[2] if len(parts) == 3 else None
    if version is not None and not version.isdigit():
        raise ConfigError(f"FETCH={text}: the version after the slug must be a number")
    return kernels.Kernel(parts[0], parts[1], int(version) if version else None)


def _fetch_job(fetch: str, owner: str, kernel_settings: dict, cfg) -> Job:
    """The job FETCH= names, with the version and git state its push recorded here (the
    client reads a kernel's latest version only)."""
    kernel = _kernel_named(fetch, owner, kernel_settings["slug_prefix"])
    pushed = kernel_record.last_push(kernel_settings["record"], kernel.id)
    latest = kernel_record.kernel(pushed).version if pushed else None
    if kernel.version is not None and latest is not None and kernel.version != latest:
        raise ConfigError(f"FETCH={fetch}: version {kernel.version} is not the latest pushed "
                          f"from here ({latest}); Kaggle's client fetches a kernel's latest "
                          "version only")
    kernel = kernels.Kernel(kernel.owner, kernel.slug, kernel.version or latest)
    home = _fetched_runs(cfg.kaggle.run_dirs).get(kernel.ref)
    if home:
        raise ConfigError(f"kernel {kernel.ref} came home already, as {home}: remove that "
                          "run dir to fetch it again")
    git = (pushed or {}).get("git") or {"commit": None, "dirty": None}  # unknown: not pushed here
    return Job(0, None, Path(cfg.kaggle.kernel.run_dir), kernel=kernel,
               pushed_at=time.monotonic(), state="", git=git)


def _fetch_command(kernel: kernels.Kernel) -> str:
    return f"make kaggle-run FETCH={kernel.id}"


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _matches(key: str, names) -> bool:
    return any(key == name or key.startswith((f"{name}.", f"{name}/")) for name in names)


def _for_kernel(overrides: list[str]) -> list[str]:
    return [o for o in overrides if not _matches(_key(o), LOCAL)]


def _refuse(overrides: list[str], no_job: bool) -> None:
    """Overrides a kernel cannot take; with FETCH or LIST, any that is not about this
    machine (the fetched kernel's own come with its output)."""
    for override in overrides:
        if override.startswith("-"):
            raise ConfigError(f"kaggle-run takes overrides only, not {override}: "
                              "e.g. make kaggle-run ARGS=\"model=cnn trainer.epochs=40\"")
        if no_job and not _matches(_key(override), LOCAL):
            raise ConfigError(f"{override}: FETCH and LIST take only settings of this machine "
                              f"({', '.join(LOCAL)}); the kernel's own come with it")
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
    waiting = [job for job in jobs if job.kernel is None]
    running = [job for job in jobs if job.kernel is not None]  # FETCH: pushed before
    while waiting or running:
        while waiting and len(running) < kernel_settings["max_sessions"]:
            job = waiting.pop(0)
            try:
                _push(client, owner, job, settings, git)
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


def _push(client, owner: str, job: Job, settings: dict, git: dict) -> None:
    kernel_settings = settings["kernel"]
    slug = kernel_package.slug_for(kernel_settings["slug_prefix"], job.overrides)
    with tempfile.TemporaryDirectory(prefix="kaggle-push-") as folder:
        kernel_package.write(Path(folder), owner, slug, job.overrides, kernel_settings,
                             settings["competition"])
        job.kernel = kernels.push(client, Path(folder), kernel_settings)
    job.pushed_at = time.monotonic()
    try:
        kernel_record.add(kernel_settings["record"], job.kernel, job.overrides, git)
    except OSError as err:  # the kernel is pushed whatever the record says: go on
        print(f"warning: {job.kernel.ref} is not in {kernel_settings['record']} ({err}); "
              f"LIST=1 will not show it", file=sys.stderr)
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
        if job.overrides is not None:  # pushed by this command: its session's length
            job.session_seconds = time.monotonic() - job.pushed_at
        return True
    waited = time.monotonic() - job.pushed_at
    if waited > kernel_settings["wait"]:
        raise KaggleError(f"kernel {job.kernel.ref} is still {state} after {waited:.0f} s "
                          f"(kaggle.kernel.wait={kernel_settings['wait']}): it goes on on "
                          f"Kaggle ({job.kernel.url}); bring it home when it ends: "
                          f"{_fetch_command(job.kernel)}")
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
            if job.overrides is None:  # a FETCH: its run dir is named once its model is known
                job.overrides = _pushed_overrides(staging, job.kernel, kernel_settings)
                job.target = Path(command_config.load(
                    [*local["overrides"], *job.overrides]).kaggle.kernel.run_dir)
            job.run, job.submission = kernel_output.place(
                staging, job.kernel, job.overrides, job.target, local,
                settings["test_rows"], job.git or git, job.session_seconds)
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


def _pushed_overrides(staging: Path, kernel: kernels.Kernel, kernel_settings: dict) -> list[str]:
    """A fetched kernel's overrides: those its run recorded, less this machine's (the
    session's data and submission dirs). They must give the kernel's slug, as its push did:
    otherwise it is not a job of this project's, and nothing is kept."""
    recorded = kernel_output.recorded_overrides(staging, kernel)
    overrides = _for_kernel(recorded)
    if kernel_package.slug_for(kernel_settings["slug_prefix"], overrides) != kernel.slug:
        raise KaggleError(f"kernel {kernel.ref} was not pushed by make kaggle-run as its run "
                          f"recorded it ({' '.join(overrides) or 'defaults'}): nothing was "
                          f"kept; see {kernel.url}")
    return overrides


def _fetch_log(client, job: Job, staging: Path) -> str:
    try:
        kernels.fetch_output(client, job.kernel, staging)
    except KaggleError as err:
        return f"(the log could not be fetched: {err})"
    log = kernels.log_path(job.kernel, staging)
    return log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""


def _list(client, record: str, run_dirs: list[str]) -> int:
    """`make kaggle-run LIST=1`: each kernel pushed from here, its state now and where it
    came home."""
    rows = kernel_record.latest(record)
    if not rows:
        print(f"no kernel pushed from here yet ({record} is empty): make kaggle-run "
              "ARGS=\"model=cnn\" pushes one")
        return 0
    home = _fetched_runs(run_dirs)
    table = [("kernel", "version", "pushed", "state", "here", "overrides")]
    for row in rows:
        kernel = kernel_record.kernel(row)
        try:
            state, _ = kernels.status(client, kernel)
        except KaggleError as err:
            state = f"unknown ({err})"
        table.append((kernel.id, row["version"], row["time"], state, home.get(kernel.ref, "-"),
                      row["overrides"] or "(defaults)"))
    widths = [max(len(str(line[i])) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=False))
              + "  " + line[-1])
    print("bring one home: make kaggle-run FETCH=<kernel>")
    return 0


def _fetched_runs(run_dirs: list[str]) -> dict[str, str]:
    """kernel ref (owner/slug/version, as the run recorded it) -> its run dir here."""
    home = {}
    for run in finished_runs(run_dirs):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            kernel = (run.metrics().get("kaggle") or {}).get("kernel", "")
            if kernel:
                home[kernel] = str(run.path)
    return home


def _record_failed_job(job: Job) -> None:
    run = RunDir(job.target)
    run.record_lost_job(job.overrides, job.error)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
