"""Plain aligned text tables for the terminal."""

from __future__ import annotations


def aligned(header: list[str], rows: list[list]) -> str:
    cells = [header] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
                     for line in cells)
