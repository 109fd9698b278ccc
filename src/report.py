"""One self-contained HTML page for a run or a sweep: no network, images embedded.

    python -m src.report                 # the newest run under outputs/
    python -m src.report run=DIR         # a run dir or a sweep dir (make report RUN=DIR)

A run's page: its config, metrics, figures and submission. A sweep's: the summary table, best
first (failed jobs with their error), and holdout accuracy against each swept setting. Both,
when the Kaggle ledger exists: holdout accuracy against public score for each submission.
Written into that dir (src/runs/run_dir.py names the file); the path is printed. Missing
pieces are named on the page.
"""

from __future__ import annotations

import base64
import html
import sys
from pathlib import Path

import numpy as np

from src.config import command_config
from src.kaggle import ledger
from src.runs import run_dir
from src.runs.run_dir import RunDir
from src.sweeps import summary
from src.utils.atomic_io import write_text
from src.utils.errors import ConfigError, exit_on_error

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f0f0f0}
figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:13px}.missing{color:#a33}
tr.failed td{color:#a33}"""
# The browser marks the page once every image has decoded (checked by the Chromium test).
CHECK = """<script>window.addEventListener('load',()=>{const i=[...document.images];
document.body.dataset.images=i.every(x=>x.complete&&x.naturalWidth>0)?'ok':'broken';});
</script>"""


def newest_run() -> RunDir:
    run = run_dir.newest_run()
    if run is None:
        raise ConfigError(f"no runs yet under {' or '.join(f'{r}/' for r in run_dir.RUN_ROOTS)}"
                          ": train one (make run), or give run=DIR")
    return run


def _png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def _figure_png(fig) -> str:
    from src.views.figures import png_bytes

    data = base64.b64encode(png_bytes(fig)).decode()
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _table(columns: list[str], rows: list[list], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for k, row in enumerate(rows):
        cls = f' class="{classes[k]}"' if classes and classes[k] else ""
        cells = "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _flat(prefix: str, value) -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _flat(f"{prefix}{k}.", v)]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [item for k, v in enumerate(value) for item in _flat(f"{prefix}{k}.", v)]
    if isinstance(value, list) and len(value) > 12:
        value = f"[{len(value)} values]"
    return [(prefix.rstrip("."), value)]


def run_sections(run: RunDir) -> tuple[str, list[str]]:
    parts = []
    metrics, failed = run.metrics(), run.failure()
    if metrics is not None:
        accuracy = metrics.get("holdout_accuracy")
        title = (f"{metrics.get('model', 'run')}: holdout accuracy {accuracy:.5f}"
                 if isinstance(accuracy, float) else f"{metrics.get('model', 'run')}: "
                 "trained on all rows (no holdout)")
        parts.append("<h2>Metrics</h2>" + _table(["metric", "value"],
                                                  [list(kv) for kv in _flat("", metrics)]))
    elif failed is not None:
        title = "a failed run"
        parts.append(f'<h2>Failed</h2><p class="missing">{html.escape(failed["error"])}</p>')
    else:
        title = "an unfinished run"
        parts.append(f'<p class="missing">No {run_dir.METRICS}: this run has not finished (or '
                     "was stopped).</p>")
    parts.append("<h2>Figures</h2>")
    found = run.figures()
    if not found:
        parts.append('<p class="missing">No figures in this run dir (a run from before '
                     "figures existed, or with figures=false).</p>")
    for path in found:
        parts.append(f"<figure>{_png(path)}<figcaption>{run_dir.FIGURES[path.name]}"
                     "</figcaption></figure>")
    parts.append("<h2>Submission</h2>" + _submission(run))
    config = run.config_text()
    parts.append("<h2>Config</h2>" + (f"<pre>{html.escape(config)}</pre>" if config is not None
                                      else f'<p class="missing">No {run_dir.CONFIG}.</p>'))
    return title, parts


def _submission(run: RunDir) -> str:
    metrics = run.metrics()
    path = metrics.get("submission") if metrics is not None else None
    if not path or not Path(path).is_file():
        return f'<p class="missing">No submission file found ({html.escape(str(path))}).</p>'
    import pandas as pd

    frame = pd.read_csv(path)
    counts = frame["Label"].value_counts().sort_index()
    return (f"<p><code>{html.escape(path)}</code>: {len(frame):,} rows.</p>"
            + _table(["ImageId", "Label"], frame.head(8).values.tolist())
            + "<p>Predicted labels per class:</p>"
            + _table([str(k) for k in counts.index], [counts.tolist()]))


def sweep_sections(sweep: Path) -> tuple[str, list[str]]:
    rows = summary.summarize(sweep, echo=False)
    failed = sum(r["status"] == "failed" for r in rows)
    columns = [c for c in rows[0] if c not in ("submission",)] if rows else []
    parts = ["<h2>Summary, best first</h2>",
             f"<p>{len(rows)} jobs" + (f", {failed} failed (their error is in the last "
                                       "column)" if failed else "") + ".</p>",
             _table(columns, [[r[c] for c in columns] for r in rows],
                    ["failed" if r["status"] == "failed" else "" for r in rows])]
    swept = [c for c in columns if c not in ("job", "status", "run_dir", "error",
                                             *summary.METRICS)]
    ok = [r for r in rows if isinstance(r.get("holdout_accuracy"), float | int)]
    if ok and swept:
        parts.append("<h2>Holdout accuracy against each swept setting</h2>")
        parts.append(_sweep_plot(ok, swept))
    best = ok[0]["holdout_accuracy"] if ok else None
    title = f"sweep of {len(rows)} jobs" + (f", best holdout {best:.5f}" if best else "")
    return title, parts


def _sweep_plot(rows: list[dict], swept: list[str]) -> str:
    from src.views.figures import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, len(swept), figsize=(4.2 * len(swept), 3.6), squeeze=False)
    for ax, key in zip(axes[0], swept, strict=True):
        values = [r[key] for r in rows]
        accuracy = [r["holdout_accuracy"] for r in rows]
        try:
            numbers = [float(v) for v in values]
            ax.plot(numbers, accuracy, "o")
            if min(numbers) > 0 and max(numbers) / min(numbers) > 50:
                ax.set_xscale("log")
        except (TypeError, ValueError):
            labels = sorted(set(map(str, values)))
            ax.plot([labels.index(str(v)) for v in values], accuracy, "o")
            ax.set_xticks(range(len(labels)), labels, rotation=30)
        ax.set_xlabel(key)
        ax.set_ylabel("holdout accuracy")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _figure_png(fig)


def kaggle_section(ledger_path: Path) -> list[str]:
    rows = ledger.read(ledger_path)
    if not rows:
        return ["<h2>Kaggle</h2>", f'<p class="missing">No Kaggle ledger at '
                f"{html.escape(str(ledger_path))} (nothing submitted yet): `make submit` "
                "starts one.</p>"]
    table = [[r["time"][:16], Path(r["file"]).name, r["model"], r["holdout_accuracy"],
              r["public_score"], r["status"]] for r in rows]
    parts = ["<h2>Kaggle: holdout accuracy against public score</h2>",
             _table(["time", "file", "model", "holdout", "public score", "status"], table)]
    scored = [(float(r["holdout_accuracy"]), float(r["public_score"])) for r in rows
              if r["holdout_accuracy"] and r["public_score"]]
    if scored:
        from src.views.figures import pyplot

        fig, ax = pyplot().subplots(figsize=(5, 4))
        x, y = np.array(scored).T
        ax.plot(x, y, "o")
        low, high = min(x.min(), y.min()), max(x.max(), y.max())
        ax.plot([low, high], [low, high], color="grey", lw=0.8, ls="--", label="equal")
        ax.set_xlabel("holdout accuracy")
        ax.set_ylabel("public score")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        parts.append(_figure_png(fig))
    else:
        parts.append('<p class="missing">No public scores yet: `make scores` fetches them.</p>')
    return parts


def build(target: Path, ledger_path: Path) -> Path:
    if not target.is_dir():
        raise ConfigError(f"run={target} is not a directory: give a run dir or a sweep dir")
    if run_dir.is_sweep_dir(target):
        title, parts = sweep_sections(target)
    elif RunDir(target).looks_like_run():
        title, parts = run_sections(RunDir(target))
    else:
        raise ConfigError(f"{target} is neither a run dir nor a sweep dir (no "
                          f"{run_dir.METRICS}, {run_dir.HYDRA} or job dirs)")
    parts += kaggle_section(ledger_path)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Digit Recognizer: "
            f"{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p><code>{html.escape(str(target))}</code></p>"
            + "\n".join(parts) + CHECK + "</body></html>\n")
    out = RunDir(target).report_path()
    write_text(out, page)
    return out


@exit_on_error
def main(argv: list[str]) -> Path:
    settings = command_config.load(argv, name="report")
    target = Path(settings.run) if settings.run else newest_run().path
    out = build(target, Path(settings.ledger))
    print(f"report: {out} (one self-contained page: open it in a browser)")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
