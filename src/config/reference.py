"""`make config-reference`: docs/configuration_reference.md, written from conf/ itself.

Every config group, each option in it and each of its settings with its default and the
comment beside it in the YAML, so the reference cannot fall behind the files (a test compares
the page with what this writes). The commands' own configs (conf/*.yaml) come after the groups.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from src.config.names import CONF_DIR
from src.utils.atomic_io import write_text

PAGE = CONF_DIR.parent / "docs" / "configuration_reference.md"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[\w.-]+):(?P<value>[^#]*?)\s*(?:#\s?(?P<note>.*))?$")


@dataclass
class Setting:
    key: str
    value: str
    notes: list[str] = field(default_factory=list)


def header(lines: list[str]) -> list[str]:
    """The file's opening comment, without Hydra's package line."""
    notes = []
    for line in lines:
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            notes.append(line.lstrip("#").strip())
    return notes


def settings(lines: list[str], prefix: str) -> list[Setting]:
    """Each key of a YAML file as a dotted path under `prefix`, its value as written (empty for
    a mapping) and its comments: the one beside it and those that continue it below."""
    found: list[Setting] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the mappings the line is inside
    note_column = None  # where the last key's comment started: a comment line there goes on
    above: list[str] = []  # comment lines right above the next key: they describe it
    in_defaults = False
    for line in lines[len(header(lines)):]:
        stripped = line.strip()
        if not stripped or stripped.startswith("- "):
            above = []
            continue
        if stripped.startswith("#"):
            if found and note_column is not None and line.index("#") == note_column:
                found[-1].notes.append(stripped.lstrip("#").strip())
            else:
                above.append(stripped.lstrip("#").strip())
            continue
        match = KEY.match(line)
        if not match:
            continue
        indent, key = len(match["indent"]), match["key"]
        if indent == 0:
            in_defaults = key == "defaults"
        if in_defaults:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join(filter(None, [prefix, *(k for _, k in stack), key]))
        found.append(Setting(path, match["value"].strip(),
                             [*above, *([match["note"]] if match["note"] else [])]))
        above = []
        note_column = line.index("#") if match["note"] else None
        if not match["value"].strip():
            stack.append((indent, key))
    return found


def describe(path: Path, prefix: str) -> list[str]:
    lines = path.read_text().splitlines()
    out = [f"`{path.relative_to(CONF_DIR.parent)}`", ""]
    opening = header(lines)
    if opening:  # as written: its lines are often commands
        out += ["```text", *opening, "```", ""]
    rows = settings(lines, prefix)
    if rows:
        out += ["| setting | default | what it is |", "|---|---|---|"]
        for s in rows:
            value = _cell(f"`{s.value}`") if s.value else ""
            out.append(f"| `{s.key}` | {value} | {_cell(' '.join(s.notes))} |")
        out.append("")
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a table cell: a bar would end it


def build() -> str:
    out = ["# Configuration reference", "",
           "Written by `make config-reference` from `conf/` (src/config/reference.py); do not edit "
           "by hand. Each setting is overridden on the command line as `key=value` (e.g. "
           "`trainer.epochs=60`), each group chosen as `group=option` (e.g. `model=nn`). How "
           "the groups fit together: [configuration.md](configuration.md).", ""]
    groups = sorted(p for p in CONF_DIR.rglob("*") if p.is_dir() and any(p.glob("*.yaml")))
    for group in groups:
        name = str(group.relative_to(CONF_DIR))
        out += [f"## `{name}`", ""]
        for option in sorted(group.glob("*.yaml")):
            is_global = "# @package _global_" in option.read_text()
            prefix = "" if is_global else name.replace("/", ".")
            out += [f"### `{name}={option.stem}`", "", *describe(option, prefix)]
    out += ["## The commands' own configs", ""]
    for primary in sorted(CONF_DIR.glob("*.yaml")):
        out += [f"### `{primary.name}`", "", *describe(primary, "")]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> None:
    page = Path(argv[0]) if argv else PAGE
    write_text(page, build())
    print(f"wrote {page}")


if __name__ == "__main__":
    main(sys.argv[1:])
