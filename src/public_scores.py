"""`make scores`: fetch this account's submissions, fill public scores into the ledger, and
print holdout accuracy beside public score for each submission.

It also settles the attempts whose outcome was unknown (a send that failed after the upload,
or a `make submit` that died while sending): the submission Kaggle lists for one gives it its
ref; a `sending` row Kaggle lists nothing for was never received and becomes `not sent`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from omegaconf import OmegaConf

from src.config import command_config
from src.kaggle import api_client, ledger
from src.runs.run_dir import RunDir
from src.tracking import mlflow_store
from src.utils.errors import exit_on_error
from src.views.text_table import aligned

LISTED = 200  # Client.submissions asks for one page of this many, the newest first


@exit_on_error
def main(argv: list[str]) -> None:
    cfg = command_config.load(argv)
    settings = OmegaConf.to_container(cfg.kaggle)
    client = api_client.connect(settings)
    # The list is read under the lock too: a submit that sends after the read must not find
    # its row judged by a list from before.
    with ledger.locked(settings["ledger"], "make scores", wait=settings["lock_wait"]):
        remote = {int(s.ref): s for s in client.submissions()}
        rows = ledger.read(settings["ledger"])
        known_scores = {id(row): row["public_score"] for row in rows}
        settled = reconcile(rows, remote, datetime.now(UTC).replace(tzinfo=None),
                            settings["settle_after"])
        for row in rows:
            found = remote.get(int(row["kaggle_ref"])) if row["kaggle_ref"].isdigit() else None
            if found is not None:
                row["status"] = status_of(found)
                row["public_score"] = found.public_score or ""
        ledger.rewrite(settings["ledger"], rows)
    track_public_scores([r for r in rows if r["public_score"] != known_scores[id(r)]])
    for row in settled:
        name, when = Path(row["file"]).name, row["time"][:16]
        if row["kaggle_ref"]:
            print(f"{name} (attempt of {when}, outcome unknown): Kaggle has it, as ref "
                  f"{row['kaggle_ref']}")
        else:
            print(f"{name} (attempt of {when}, outcome unknown): Kaggle never received it; "
                  f"marked `{ledger.NOT_SENT}`, so it can be sent again")

    known = {int(r["kaggle_ref"]) for r in rows if r["kaggle_ref"].isdigit()}
    table = [(r["time"][:16], r["file"].rsplit("/", 1)[-1], r["model"], r["holdout_accuracy"],
              r["public_score"], r["status"]) for r in rows if r["kaggle_ref"].isdigit()]
    table += [(str(s.date)[:16], s.file_name, "?", "", s.public_score or "",
               status_of(s)) for ref, s in remote.items() if ref not in known]
    print(render(table))


def status_of(submission) -> str:
    """The ledger's status for a submission as Kaggle lists it; a scoring error keeps
    Kaggle's reason."""
    status = submission.status.name.lower()
    if status != "error":
        return status
    reason = " ".join((submission.error_description or "").split())
    return f"error: {api_client.scrub(reason) or 'Kaggle gave no reason'}"


def track_public_scores(rows: list[dict]) -> None:
    """Each new public score also on the MLflow run that made the submission
    (tracking=mlflow)."""
    for row in rows:
        record = RunDir(row["run_dir"]).tracking() if row["run_dir"] and row["public_score"] \
            else None
        if not record:
            continue
        try:
            mlflow_store.log_public_score(record, float(row["public_score"]))
            print(f"public score {row['public_score']} set on MLflow run {record['run_id']}")
        except Exception as err:  # noqa: BLE001 - the ledger already holds the score
            print(f"warning: MLflow run {record['run_id']} not given its public score: "
                  f"{type(err).__name__}: {' '.join(str(err).split())[:200]}", file=sys.stderr)


def reconcile(rows: list[dict], remote: dict, now: datetime, settle_after: float
              ) -> list[dict]:
    """Settle each attempt whose outcome was unknown, oldest first, and return them: Kaggle's
    submission with its description gives it a ref; failing that, the row becomes `not sent`
    (and stops blocking a resend) when Kaggle's list reaches back to its time (the list holds
    only the newest LISTED) and `settle_after` seconds (UTC, naive `now`) have passed since
    the attempt: Kaggle may still be recording a file it answered with an error, or whose
    sender was killed mid-send."""
    taken = {int(r["kaggle_ref"]) for r in rows if r["kaggle_ref"].isdigit()}
    whole = len(remote) < LISTED
    oldest = min((s.date for s in remote.values() if s.date), default=None)
    settled = []
    for row in rows:
        if not ledger.outcome_unknown(row):
            continue
        match = next((ref for ref, found in sorted(remote.items())
                      if ref not in taken and found.description == row["message"]), None)
        if match is not None:
            row["kaggle_ref"] = str(match)
            taken.add(match)
            settled.append(row)
        elif (whole or _utc(row["time"]) >= oldest) and \
                (now - _utc(row["time"])).total_seconds() >= settle_after:
            row["status"] = ledger.NOT_SENT
            settled.append(row)
    return settled


def _utc(iso_time: str) -> datetime:
    """A ledger time as the naive UTC datetime the client gives for Kaggle's dates."""
    return datetime.fromisoformat(iso_time).astimezone(UTC).replace(tzinfo=None)


def render(table: list[tuple]) -> str:
    header = ("date", "file", "model", "holdout", "public", "gap", "status")
    lines = []
    for date, name, model, holdout, public, status in sorted(table, reverse=True):
        gap = f"{float(public) - float(holdout):+.5f}" if holdout and public else ""
        lines.append((date, name, model, holdout, public, gap, status))
    if not lines:
        return "no submissions yet: `make submit` sends the newest one"
    return aligned(list(header), lines)


if __name__ == "__main__":
    main(sys.argv[1:])
