"""docs/benchmarks.md as sections between markers: its header, one section replaced in place
(`--sections`), and the header's list of when each section was measured and by what."""

from __future__ import annotations

from datetime import UTC, datetime

from src.benchmarks.cells import machine
from src.runs.run_dir import METRICS
from src.utils import machine as this_machine

# The headings these sections had before they were marked, so --sections replaces them.
LEGACY_HEADINGS = {"speed": "## XLA (`trainer.jit_compile`) on this CPU",
                   "ensembles": "## An ensemble of default CNNs",
                   "sweeps": "## A 4-job sweep"}


def mark(name: str, body: str) -> str:
    """A section between markers, so that `--sections` can find and replace it."""
    return f"<!-- bench:{name} -->\n{body.rstrip()}\n<!-- /bench:{name} -->\n"


def splice(text: str, name: str, body: str) -> str:
    """`text` with section `name` replaced by `body` (found by its markers, or by the heading
    it had before it was marked, up to the next heading), or `body` added at the end."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        return head + mark(name, body) + rest.split(end, 1)[1].lstrip("\n")
    legacy = LEGACY_HEADINGS.get(name)
    if legacy and legacy in text:
        head, rest = text.split(legacy, 1)
        after = rest.find("\n## ")
        tail = rest[after + 1:] if after >= 0 else ""
        return head + mark(name, body) + ("\n" + tail if tail else "")
    return text.rstrip("\n") + "\n\n" + mark(name, body)


DATES = ("<!-- bench:dates -->", "<!-- /bench:dates -->")


def dated(text: str, name: str, command: str, when: datetime | None = None) -> str:
    """`text` whose header says that section `name` was measured now (or `when`) by `command`;
    the other sections' lines stay as they were. The list sits after the title."""
    when = when or datetime.now(UTC)
    line = f"- `{name}`: measured {when:%Y-%m-%d} by `{command}`"
    start, end = DATES
    if start in text and end in text:
        head, rest = text.split(start, 1)
        block, tail = rest.split(end, 1)
        lines = [entry for entry in block.strip("\n").splitlines()
                 if entry and not entry.startswith(f"- `{name}`:")]
        return head + "\n".join([start, *sorted([*lines, line]), end]) + tail
    title, _, rest = text.partition("\n")
    return f"{title}\n\n{start}\n{line}\n{end}\n\n{rest.lstrip(chr(10))}"


def full_command(mode: str) -> str:
    """The command that writes the whole doc in `mode` (quick or full)."""
    return "make bench" + (" BENCH=quick" if mode == "quick" else "")


def render_header(mode: str, plot: str) -> str:
    command = full_command(mode)
    return "\n".join([
        "# Benchmarks", "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Each figure comes "
        f"from a record in the results archive (a run: `results/<name>/{METRICS}`; a timing: "
        "`results/bench/*.json`), made on the day the list above gives for its section; "
        "`make bench SECTIONS=...` measures a section again and replaces it here.",
        f"Machine of this writing: {machine()}.", "",
        "The machines are shared and noisy: a step's time can double beside other work. Every "
        "timing carries the load of other processes it was measured under; one measured busy "
        f"(more than {this_machine.BUSY_CORES} cores of other load) is marked, and no ratio or "
        "verdict is drawn from it.", "",
        f"![holdout accuracy against training time]({plot})", ""])
