"""`make submit`: send a submission file to Kaggle, once, and record the attempt.

    python scripts/submit.py [--file F] [--message M] [--force] [--dry-run] [--wait]
                             [overrides...]

The file is validated before any network call; a file whose sha256 was already submitted is
refused unless --force; the daily allowance is checked first. One submit at a time: the
ledger's lock is held from that check until the outcome is on record. The ledger row is
written (`sending`) before the file goes out and completed after, so a process killed in
between leaves a row that blocks a resend until `make scores` has asked Kaggle. A submission
is never retried. With --wait it then polls Kaggle for the score (kaggle.poll_interval, at most
kaggle.wait_timeout): Ctrl-C stops the waiting, not the submission.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from omegaconf import OmegaConf

from src.config import command_config
from src.kaggle import api_client, ledger, score_wait
from src.public_scores import status_of, track_public_scores
from src.runs.run_dir import finished_runs
from src.submissions import submission_csv
from src.utils.atomic_io import write_bytes
from src.utils.errors import SubmissionError, exit_on_error
from src.utils.file_hash import sha256_file

EXIT_INTERRUPTED = 130  # what a shell reports for Ctrl-C


@exit_on_error
def main(argv: list[str]) -> int | None:
    parser = argparse.ArgumentParser(prog="make submit", description=__doc__.splitlines()[0])
    parser.add_argument("--file", help="default: the newest file in submission.dir")
    parser.add_argument("--message", help="default: built from the run that wrote the file")
    parser.add_argument("--force", action="store_true", help="send a file already submitted")
    parser.add_argument("--dry-run", action="store_true", help="do everything but send")
    parser.add_argument("--wait", action="store_true",
                        help="then wait for Kaggle's score (kaggle.wait_timeout)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. kaggle.timeout=30")
    args = parser.parse_intermixed_args(argv)  # options and overrides in any order
    cfg = command_config.load(args.overrides)
    settings = OmegaConf.to_container(cfg.kaggle)

    path = (Path(args.file) if args.file
            else submission_csv.newest(cfg.submission.dir, settings["ledger"]))
    submission_csv.read(path, settings["test_rows"])  # before any network call
    with ledger.locked(settings["ledger"], "make submit"):
        sent = send(args, settings, path)
    if sent is None:
        return None
    client, row = sent
    if args.wait:
        report_score(client, row, settings)
    return int(row["kaggle_ref"])


def send(args, settings: dict, path: Path) -> tuple[api_client.Client, dict] | None:
    """Check, send and record; None for a dry run. The caller holds the ledger's lock."""
    digest = sha256_file(path)
    sent = [row for row in ledger.read(settings["ledger"]) if ledger.counts_as_sent(row)]
    earlier = [row for row in sent if row["sha256"] == digest]
    if earlier and not args.force:
        raise SubmissionError(already_sent(path, earlier[0]))
    runs = written_by(settings["run_dirs"])
    run = runs.get(path.resolve(), {})
    check_choice(path, runs, {row["sha256"] for row in sent}, settings, args.force)
    message = args.message or describe(path, run)
    row = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "file": str(path),
           "sha256": digest, "message": message, **run}

    if args.dry_run and api_client.credentials_source() is None:
        print(f"dry run: {path} is valid; message: {message}")
        print("dry run: no Kaggle credentials, so a real submit would stop here")
        return None
    client = api_client.connect(settings)
    if args.wait:
        score_wait.check_settings(client, settings)
    allowed = client.allowed_now()  # a failure here sent nothing: nothing goes on the ledger
    if allowed is not None and allowed <= 0:
        raise api_client.KaggleError(
            f"the daily submission limit of {settings['competition']} is reached: "
            "try again after midnight UTC")
    if args.dry_run:
        left = "unknown" if allowed is None else str(allowed)
        print(f"dry run: would submit {path} ({left} submissions left today); "
              f"message: {message}")
        return None

    book = Path(settings["ledger"])
    before = book.read_bytes() if book.exists() else None
    ledger.append(settings["ledger"], {**row, "status": ledger.SENDING})
    try:
        ref = client.submit(path, message)
    except api_client.KaggleError as err:
        if err.transient and err.reached:
            # Kaggle may have recorded the file before failing: `make scores` matches such
            # a row to the submission by its message, or settles it as not sent
            complete(settings, row, {"status": f"{ledger.UNKNOWN}: {err}"})
        else:  # refused by Kaggle's answer, or no connection: the ledger holds only what
            withdraw(settings, before)  # Kaggle may have received
        raise
    except KeyboardInterrupt:  # the row stays `sending`: only Kaggle knows what it got
        raise SubmissionError(f"interrupted while sending {path}: Kaggle may have it, so a "
                              "resend is refused until `make scores` has asked") from None
    row = complete(settings, row, {"kaggle_ref": str(ref), "status": "submitted"})
    left = "" if allowed is None else f"; {allowed - 1} submissions left today"
    then = "" if args.wait else "; `make scores` fetches its public score"
    print(f"submitted {path} to {settings['competition']} (ref {ref}){left}{then}",
          flush=True)
    return client, row


def already_sent(path: Path, first: dict) -> str:
    if first["kaggle_ref"]:
        how = f"Kaggle ref {first['kaggle_ref']}"
    elif first["status"] == ledger.SENDING:
        how = ("its process stopped while sending it, so whether Kaggle has it is unknown: "
               "`make scores` asks Kaggle")
    else:
        how = first["status"]
    return (f"{path} was already submitted on {first['time']} ({how}): --force (FORCE=1) "
            "sends it again")


def complete(settings: dict, row: dict, changes: dict) -> dict:
    """Replace this attempt's `sending` row by its outcome."""
    def mine(r):
        return r["time"] == row["time"] and r["sha256"] == row["sha256"] \
            and r["status"] == ledger.SENDING

    try:
        return ledger.update(settings["ledger"], mine, changes)
    except LookupError:  # the ledger was moved away meanwhile: keep the outcome all the same
        ledger.append(settings["ledger"], {**row, **changes})
        return {**row, **changes}


def withdraw(settings: dict, before: bytes | None) -> None:
    """Put the ledger back as it was before this attempt's `sending` row (the caller holds
    its lock, so nothing else wrote meanwhile): Kaggle never had the file."""
    path = Path(settings["ledger"])
    if before is None:
        path.unlink(missing_ok=True)
    else:
        write_bytes(path, before)


def report_score(client: api_client.Client, row: dict, settings: dict) -> None:
    """Wait for the score of the submission `row` records, put it on the ledger and print it
    beside the holdout accuracy."""
    ref, name = int(row["kaggle_ref"]), Path(row["file"]).name
    stays = f"{name} stays submitted (ref {ref}): `make scores` fetches its score later"
    try:  # the line that says Ctrl-C is safe is printed inside the block that catches it
        print(f"waiting for Kaggle to score it: a poll every {settings['poll_interval']} s, for "
              f"at most {settings['wait_timeout']} s; Ctrl-C stops the waiting, not the "
              "submission", flush=True)
        found = score_wait.wait(client, ref, settings)
    except KeyboardInterrupt:
        print(f"stopped waiting: {stays}", file=sys.stderr, flush=True)
        sys.exit(EXIT_INTERRUPTED)
    except api_client.KaggleError as err:
        raise api_client.KaggleError(f"{err}; {stays}", err.transient) from None
    status = status_of(found)
    score = (found.public_score or "") if status == "complete" else ""
    with ledger.locked(settings["ledger"], "make submit", wait=settings["lock_wait"]):
        row = ledger.update(settings["ledger"], lambda r: r["kaggle_ref"] == str(ref),
                            {"status": status, "public_score": score})
    if status != "complete":
        raise SubmissionError(f"Kaggle could not score {name} (ref {ref}): "
                              f"{status.removeprefix('error: ')}")
    track_public_scores([row])
    holdout = row["holdout_accuracy"]
    if not score:
        print(f"{name} (ref {ref}) is scored; Kaggle does not publish its public score")
    elif holdout:
        print(f"{name} (ref {ref}): public score {score}, holdout {holdout}, "
              f"gap {float(score) - float(holdout):+.5f}")
    else:
        print(f"{name} (ref {ref}): public score {score} (no holdout: trained on all rows, "
              "or no run on record)")


def written_by(run_dirs: list[str]) -> dict[Path, dict]:
    """Each submission file the finished runs under `run_dirs` wrote, with what its run
    recorded (the ledger's columns)."""
    found = {}
    for run in finished_runs(run_dirs):
        try:
            metrics = run.metrics()
        except (OSError, ValueError):
            continue
        if not metrics.get("submission"):
            continue
        accuracy = metrics.get("holdout_accuracy")
        found[Path(metrics["submission"]).resolve()] = {
            "run_dir": str(run), "model": metrics.get("model", ""),
            "overrides": " ".join(metrics.get("overrides", [])),
            "git_commit": (metrics.get("git") or {}).get("commit") or "",
            "holdout_accuracy": "" if accuracy is None else f"{accuracy:.5f}",
        }
    return found


def check_choice(path: Path, runs: dict[Path, dict], sent: set[str], settings: dict,
                 force: bool) -> None:
    """Say what is about to be sent, with its holdout accuracy; refuse one at chance (a model
    that learnt nothing) unless forced; point at an unsent file whose run held out better."""
    run = runs.get(path.resolve(), {})
    accuracy = float(run["holdout_accuracy"]) if run.get("holdout_accuracy") else None
    print(f"{path}: " + (f"{run['model']}, holdout {accuracy:.5f}" if accuracy is not None
                         else f"{run['model']}, trained on all rows (no holdout)" if run
                         else "no run under kaggle.run_dirs wrote it"), flush=True)
    floor = settings["refuse_below_holdout"]
    if accuracy is not None and accuracy < floor and not force:
        raise SubmissionError(f"{path} scored holdout {accuracy:.5f}, below "
                              f"kaggle.refuse_below_holdout={floor} (chance is 0.1): its model "
                              "learnt next to nothing; --force (FORCE=1) sends it anyway")
    if accuracy is None:
        return
    better = [(float(r["holdout_accuracy"]), p) for p, r in runs.items()
              if r["holdout_accuracy"] and float(r["holdout_accuracy"]) > accuracy
              and p.is_file() and sha256_file(p) not in sent]
    if better:
        best, where = max(better)
        print(f"note: {where} scored a better holdout ({best:.5f}) and was never sent",
              flush=True)


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
