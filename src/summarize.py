"""Sweep summaries: one row per job of a multirun, best first, as summary.csv and summary.md in
the sweep dir, printed as a table.

    python -m src.summarize multirun/2026-11-25/18-00-00     # any sweep dir, even a running one

Hydra calls `SummaryCallback.on_multirun_end` when a sweep ends, with every launcher. Rows come
from what each job left in its own dir (`metrics.json`, or `failed.json` for a job that failed),
so the same code reads a sweep that ran here, in parallel, or on a cluster.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import yaml
from hydra.experimental.callback import Callback

from src.sweeps import sweep_record
from src.utils.atomic_io import write_text
from src.utils.errors import exit_on_error
from src.views.text_table import aligned

METRICS = ["holdout_accuracy", "train_accuracy", "fit_seconds", "peak_memory_mb"]


class SummaryCallback(Callback):
    def on_multirun_start(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        sweep_record.record(sweep_dir, sweep_record.identity(
            config.hydra, list(config.hydra.overrides.task)))

    def on_multirun_end(self, config, **kwargs) -> None:
        rows = summarize(Path(config.hydra.sweep.dir))
        failed = sum(row["status"] == "failed" for row in rows)
        if failed:
            print(f"{failed} of {len(rows)} jobs failed: see their error column above",
                  file=sys.stderr)
            sys.exit(1)


def summarize(sweep_dir: Path, echo: bool = True) -> list[dict]:
    """Read every job dir under `sweep_dir`, write the summary files, print the table."""
    jobs = sorted({p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")},
                  key=lambda p: _job_number(p.name))
    rows = [_row(job) for job in jobs]
    swept = _swept_keys(rows)
    rows.sort(key=_rank)
    columns = ["job", *swept, "status", *METRICS, "submission", "run_dir", "error"]
    table = [{c: row["values"].get(c, row.get(c, "")) for c in columns} for row in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    write_text(sweep_dir / "summary.csv", buffer.getvalue())
    markdown = render(table, columns)
    write_text(sweep_dir / "summary.md", markdown + "\n")
    if echo:
        shown = [c for c in columns if c not in ("submission", "run_dir")]
        print(f"\nsweep summary, best first (all columns: {sweep_dir / 'summary.md'}):")
        print(aligned(shown, [[row[c] for c in shown] for row in table]))
    return table


def write_failure(job_dir: Path, error: str, **extra) -> None:
    """The job's failed.json: the one line the summary shows, and what else is known."""
    write_text(job_dir / "failed.json", json.dumps({**extra, "error": error}, indent=2) + "\n")


def record_lost_job(job_dir: Path, overrides: list[str], reason: str) -> None:
    """A job that ended without a word (a cluster killed it): a failed row all the same."""
    if not (job_dir / ".hydra" / "overrides.yaml").is_file():  # it never started
        write_text(job_dir / ".hydra" / "overrides.yaml", yaml.safe_dump(list(overrides)))
    if not (job_dir / "metrics.json").is_file():
        write_failure(job_dir, reason)


def _job_number(name: str) -> tuple:
    head = name.split("_", 1)[0]
    return (int(head), name) if head.isdigit() else (1 << 30, name)


def _row(job: Path) -> dict:
    overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []
    row = {"job": job.name, "run_dir": str(job),
           "values": dict(o.split("=", 1) for o in overrides if "=" in o)}
    for name, status in (("metrics.json", "ok"), ("failed.json", "failed")):
        path = job / name
        if path.is_file():
            try:
                row.update({"status": status, **json.loads(path.read_text())})
            except ValueError:
                row.update(status="unreadable", error=f"{name} is not valid JSON")
            break
    else:
        row["status"] = "running"  # or killed: no result yet
    for key in METRICS:
        if isinstance(row.get(key), float):
            row[key] = round(row[key], 5)
    return row


def _swept_keys(rows: list[dict]) -> list[str]:
    """Override keys whose values differ between jobs (every key, for a single job)."""
    keys = sorted({k for row in rows for k in row["values"]})
    if len(rows) < 2:
        return keys
    return [k for k in keys if len({row["values"].get(k) for row in rows}) > 1]


def _rank(row: dict) -> tuple:
    accuracy = row.get("holdout_accuracy")
    return (row["status"] != "ok", -(accuracy if isinstance(accuracy, float | int) else -1),
            _job_number(row["job"]))


def render(table: list[dict], columns: list[str]) -> str:
    def cell(value):
        return "" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in table]
    return "\n".join(lines)


@exit_on_error
def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m src.summarize SWEEP_DIR")
    sweep_dir = Path(argv[0])
    if not list(sweep_dir.glob("*/.hydra/overrides.yaml")):
        from src.utils.errors import HarnessError

        raise HarnessError(f"{sweep_dir} holds no sweep jobs (no */.hydra/overrides.yaml): "
                           "give a multirun dir, e.g. multirun/<date>/<time>")
    summarize(sweep_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
