"""Sweep summaries: one row per job of a multirun, best first, as summary.csv and summary.md in
the sweep dir, printed as a table.

Rows come from what each job left in its own run dir (its metrics, or its failure line), so the
same code reads a sweep that ran here, in parallel, or on a cluster, finished or still running.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from hydra.experimental.callback import Callback

from src.runs import run_dir
from src.runs.run_dir import RunDir, job_number, sweep_jobs
from src.sweeps import sweep_record
from src.utils.atomic_io import write_text
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
    rows = [_row(job) for job in sweep_jobs(sweep_dir)]
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


def _row(job: RunDir) -> dict:
    overrides = job.overrides() or []
    row = {"job": job.name, "run_dir": str(job),
           "values": dict(o.split("=", 1) for o in overrides if "=" in o)}
    for read, name, status in ((job.metrics, run_dir.METRICS, "ok"),
                               (job.failure, run_dir.FAILED, "failed")):
        try:
            result = read()
        except ValueError:
            row.update(status="unreadable", error=f"{name} is not valid JSON")
            break
        if result is not None:
            row.update({"status": status, **result})
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
            job_number(row["job"]))


def render(table: list[dict], columns: list[str]) -> str:
    def cell(value):
        return "" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in table]
    return "\n".join(lines)
