"""`make scores`: fetch this account's submissions, fill public scores into the ledger, and
print holdout accuracy beside public score for each submission."""

from __future__ import annotations

import sys

from omegaconf import OmegaConf

from src.config import command_config
from src.kaggle import api_client, ledger
from src.utils.errors import exit_on_error
from src.views.text_table import aligned


@exit_on_error
def main(argv: list[str]) -> None:
    cfg = command_config.load(argv)
    settings = OmegaConf.to_container(cfg.kaggle)
    remote = {int(s.ref): s for s in api_client.connect(settings).submissions()}
    rows = ledger.read(settings["ledger"])
    reconcile(rows, remote)
    for row in rows:
        found = remote.get(int(row["kaggle_ref"])) if row["kaggle_ref"].isdigit() else None
        if found is not None:
            row["status"] = found.status.name.lower()
            row["public_score"] = found.public_score or ""
    ledger.rewrite(settings["ledger"], rows)

    known = {int(r["kaggle_ref"]) for r in rows if r["kaggle_ref"].isdigit()}
    table = [(r["time"][:16], r["file"].rsplit("/", 1)[-1], r["model"], r["holdout_accuracy"],
              r["public_score"], r["status"]) for r in rows if r["kaggle_ref"].isdigit()]
    table += [(str(s.date)[:16], s.file_name, "?", "", s.public_score or "",
               s.status.name.lower()) for ref, s in remote.items() if ref not in known]
    print(render(table))


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
