"""`make scores`: fetch this account's submissions, fill public scores into the ledger, and
print holdout accuracy beside public score for each submission."""

from __future__ import annotations

import sys

from omegaconf import OmegaConf

from src.config import command_config
from src.kaggle import api_client, ledger
from src.runs.run_dir import RunDir
from src.tracking import mlflow_store
from src.utils.errors import exit_on_error
from src.views.text_table import aligned


@exit_on_error
def main(argv: list[str]) -> None:
    cfg = command_config.load(argv)
    settings = OmegaConf.to_container(cfg.kaggle)
    remote = {int(s.ref): s for s in api_client.connect(settings).submissions()}
    rows = ledger.read(settings["ledger"])
    known_scores = {id(row): row["public_score"] for row in rows}
    reconcile(rows, remote)
    for row in rows:
        found = remote.get(int(row["kaggle_ref"])) if row["kaggle_ref"].isdigit() else None
        if found is not None:
            row["status"] = found.status.name.lower()
            row["public_score"] = found.public_score or ""
    ledger.rewrite(settings["ledger"], rows)
    _track_public_scores([r for r in rows if r["public_score"] != known_scores[id(r)]])

    known = {int(r["kaggle_ref"]) for r in rows if r["kaggle_ref"].isdigit()}
    table = [(r["time"][:16], r["file"].rsplit("/", 1)[-1], r["model"], r["holdout_accuracy"],
              r["public_score"], r["status"]) for r in rows if r["kaggle_ref"].isdigit()]
    table += [(str(s.date)[:16], s.file_name, "?", "", s.public_score or "",
               s.status.name.lower()) for ref, s in remote.items() if ref not in known]
    print(render(table))


def _track_public_scores(rows: list[dict]) -> None:
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


def reconcile(rows: list[dict], remote: dict) -> None:
    """Give a ref to each attempt whose outcome was unknown and that Kaggle did record,
    matched by its description, oldest first."""
    taken = {int(r["kaggle_ref"]) for r in rows if r["kaggle_ref"].isdigit()}
    for row in rows:
        if row["kaggle_ref"] or not row["status"].startswith("unknown"):
            continue
        for ref, found in sorted(remote.items()):
            if ref not in taken and found.description == row["message"]:
                row["kaggle_ref"] = str(ref)
                taken.add(ref)
                break


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
