"""`make submit`: send a submission file to Kaggle, once, and record the attempt.

    python scripts/submit.py [--file F] [--message M] [--force] [--dry-run] [overrides...]

The file is validated before any network call; a file whose sha256 was already submitted is
refused unless --force; the daily allowance is checked first; the attempt is appended to the
ledger whatever its outcome once Kaggle was contacted. A submission is never retried: after a
failure whose outcome is unknown, `make scores` shows whether Kaggle recorded it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from omegaconf import OmegaConf

from src.config import command_config
from src.kaggle import api_client, ledger
from src.runs.run_dir import finished_runs
from src.submissions import submission_csv
from src.utils.errors import SubmissionError, exit_on_error
from src.utils.file_hash import sha256_file


@exit_on_error
def main(argv: list[str]) -> int | None:
    parser = argparse.ArgumentParser(prog="make submit", description=__doc__.splitlines()[0])
    parser.add_argument("--file", help="default: the newest file in submission.dir")
    parser.add_argument("--message", help="default: built from the run that wrote the file")
    parser.add_argument("--force", action="store_true", help="send a file already submitted")
    parser.add_argument("--dry-run", action="store_true", help="do everything but send")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. kaggle.timeout=30")
    args = parser.parse_args(argv)
    cfg = command_config.load(args.overrides)
    settings = OmegaConf.to_container(cfg.kaggle)

    path = Path(args.file) if args.file else submission_csv.newest(cfg.submission.dir)
    submission_csv.read(path, settings["test_rows"])  # before any network call
    digest = sha256_file(path)
    # Sent before: anything Kaggle gave a ref, or whose outcome is unknown.
    earlier = [row for row in ledger.read(settings["ledger"]) if row["sha256"] == digest
               and (row["kaggle_ref"] or row["status"].startswith("unknown"))]
    if earlier and not args.force:
        first = earlier[0]
        ref = f"Kaggle ref {first['kaggle_ref']}" if first["kaggle_ref"] else first["status"]
        raise SubmissionError(f"{path} was already submitted on {first['time']} ({ref}): "
                              "--force (FORCE=1) sends it again")
    run = find_run(path, settings["run_dirs"])
    message = args.message or describe(path, run)
    row = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "file": str(path),
           "sha256": digest, "message": message, **run}

    if args.dry_run and api_client.credentials_source() is None:
        print(f"dry run: {path} is valid; message: {message}")
        print("dry run: no Kaggle credentials, so a real submit would stop here")
        return None
    client = api_client.connect(settings)
    try:
        allowed = client.allowed_now()
        if allowed is not None and allowed <= 0:
            raise api_client.KaggleError(
                f"the daily submission limit of {settings['competition']} is reached: "
                "try again after midnight UTC")
        left = "unknown" if allowed is None else str(allowed)
        if args.dry_run:
            print(f"dry run: would submit {path} ({left} submissions left today); "
                  f"message: {message}")
            return None
        ref = client.submit(path, message)
    except api_client.KaggleError as err:
        if not args.dry_run:
            # A transient failure may come after Kaggle recorded the file: `make scores`
            # matches such a row to the submission by its message.
            status = "unknown" if err.transient else "failed"
            ledger.append(settings["ledger"], {**row, "status": f"{status}: {err}"})
        raise
    ledger.append(settings["ledger"], {**row, "kaggle_ref": ref, "status": "submitted"})
    left = "" if allowed is None else f"{allowed - 1} submissions left today; "
    print(f"submitted {path} to {settings['competition']} (ref {ref}); {left}"
          "`make scores` fetches its public score")
    return ref


def find_run(path: Path, run_dirs: list[str]) -> dict:
    """What the run that wrote `path` recorded in its metrics (empty if none did)."""
    target = path.resolve()
    for run in finished_runs(run_dirs):
        try:
            metrics = run.metrics()
        except (OSError, ValueError):
            continue
        if Path(metrics.get("submission", "")).resolve() == target:
            accuracy = metrics.get("holdout_accuracy")
            return {
                "run_dir": str(run), "model": metrics.get("model", ""),
                "overrides": " ".join(metrics.get("overrides", [])),
                "git_commit": (metrics.get("git") or {}).get("commit") or "",
                "holdout_accuracy": "" if accuracy is None else f"{accuracy:.5f}",
            }
    return {}


def describe(path: Path, run: dict) -> str:
    """A Kaggle description a person can read in the submissions list."""
    if not run:
        return path.name
    parts = [run["model"]]
    if run["holdout_accuracy"]:
        parts.append(f"holdout {run['holdout_accuracy']}")
    else:
        parts.append("all rows")
    others = [o for o in run["overrides"].split() if not o.startswith("model=")]
    if others:
        parts.append(" ".join(others))
    if run["git_commit"]:
        parts.append(f"commit {run['git_commit'][:8]}")
    return "; ".join(parts)


if __name__ == "__main__":
    main(sys.argv[1:])
