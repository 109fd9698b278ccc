"""The layout keeps its promises: docs/layout.md lists exactly the tree, and the run dir's
file names appear in the code only in the module that owns them."""

import re

from src.runs import run_dir
from tests.helpers import ROOT

CODE_DIRS = ("src", "scripts", "hydra_plugins")


def documented_layout() -> list[str]:
    """The paths docs/layout.md's block names, rebuilt from its indentation."""
    text = (ROOT / "docs" / "layout.md").read_text()
    block = text.split("## The tree", 1)[1].split("```", 2)[1]
    paths, stack = [], []
    for line in block.splitlines():
        match = re.match(r"^( *)(\S+)", line)
        if not match or len(match[1]) >= 20 or not match[2].endswith(("/", ".py")):
            continue  # a description's second line
        depth = len(match[1]) // 2
        stack[depth:] = [match[2].rstrip("/")]
        paths.append("/".join(stack) + ("/" if match[2].endswith("/") else ""))
    return paths


def test_the_documented_layout_lists_every_module_and_package_of_src_and_nothing_else():
    listed = {p for p in documented_layout() if p.startswith("src/")} - {"src/"}
    tree = {str(p.relative_to(ROOT)) for p in (ROOT / "src").rglob("*.py")
            if p.name != "__init__.py" and "__pycache__" not in p.parts}
    tree |= {f"{p.relative_to(ROOT)}/" for p in (ROOT / "src").rglob("*")
             if p.is_dir() and p.name != "__pycache__"}
    assert sorted(tree - listed) == [], "in src/ but not in docs/layout.md"
    assert sorted(listed - tree) == [], "in docs/layout.md but not in src/"


def test_every_top_level_folder_the_layout_lists_exists():
    top = [p for p in documented_layout() if p.count("/") == 1 and p.endswith("/")]
    assert {"conf/", "src/", "scripts/", "tests/", "submissions/"} <= set(top)
    missing = [p for p in top if p != "submissions/" and not (ROOT / p).is_dir()]
    assert missing == []  # submissions/ is made by the first run


def test_the_commands_users_run_are_at_the_top_of_src():
    for command in ("run", "predict", "ensemble", "show", "report", "score", "summarize",
                    "bench", "submit", "public_scores", "leaderboard", "kaggle_run"):
        source = (ROOT / "src" / f"{command}.py").read_text()
        assert "def main(" in source and source.count('__name__ == "__main__"') == 1, command


def run_dir_names() -> set[str]:
    names = {run_dir.METRICS, run_dir.FAILED, run_dir.CONFIG, run_dir.TEST_PROBA,
             run_dir.HOLDOUT, run_dir.OOF_PROBA, run_dir.REPORT, run_dir.HYDRA,
             run_dir.OVERRIDES, *run_dir.FIGURES}
    names |= {f"{kind}.json" for kind in run_dir.RECORDS}
    names |= {f"{run_dir.MODEL}{suffix}" for suffix in (".keras", ".joblib")}
    return names


def test_no_run_dir_file_name_is_written_out_of_its_owner():
    owner = ROOT / "src" / "runs" / "run_dir.py"
    found = []
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            if path == owner:
                continue
            text = path.read_text()
            found += [f"{path.relative_to(ROOT)}: {name}" for name in sorted(run_dir_names())
                      if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text)]
    assert found == []


def test_the_grep_would_see_a_literal(tmp_path):
    # the search above is only as good as its pattern: it must match the forms code uses
    for line in ['path / "metrics.json"', "f'{run}/test_proba.npy'", 'glob("*/.hydra/x")']:
        assert any(re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", line) for n in run_dir_names())


def test_the_readme_is_short_names_every_make_target_and_links_pages_that_exist():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250  # the start, then links (docs/)
    targets = re.findall(r"^([a-z][\w-]*):.*## ", (ROOT / "Makefile").read_text(), re.M)
    assert len(targets) > 10 and [t for t in targets if f"`make {t}`" not in readme] == []
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert len(links) > 5 and [p for p in links if not (ROOT / p).is_file()] == []


def test_the_suite_time_the_readme_and_make_help_quote_is_the_measured_one():
    # one owner: docs/benchmarks.md's test-suite section, where the measurement is described
    section = (ROOT / "docs" / "benchmarks.md").read_text().split("## The test suite")[1]
    measured = re.search(r"\*\*(\d+ min \d+ s)\*\* wall", section).group(1)
    readme = (ROOT / "README.md").read_text()
    make_help = next(line for line in (ROOT / "Makefile").read_text().splitlines()
                     if line.startswith("test:"))
    assert re.findall(r"\d+ min \d+ s", readme) == [measured]
    assert re.findall(r"\d+ min(?: \d+ s)?", make_help) == [measured]


def test_the_configuration_reference_is_current():
    from src.config import reference

    page = reference.build()
    assert (ROOT / "docs" / "configuration_reference.md").read_text() == page, \
        "docs/configuration_reference.md is behind conf/: run `make config-reference`"
    for setting in ("`trainer.epochs`", "`kaggle.poll_interval`", "`kaggle.leaderboard.top`",
                    "`kaggle.kernel.poll`", "### `model=cnn_public`", "`hydra.launcher."):
        assert setting in page, setting


def test_the_reference_reads_keys_comments_and_their_continuations():
    from src.config.reference import settings

    lines = ["# the file's header", "", "defaults:", "  - data: default", "top: 1      # first",
             "            # goes on", "# about the next", "group:", "  inner: x  # in it", "",
             "# a section's title, not a key's", "", "after: 2"]
    found = {s.key: (s.value, s.notes) for s in settings(lines, "p")}
    assert found == {"p.top": ("1", ["first", "goes on"]), "p.group": ("", ["about the next"]),
                     "p.group.inner": ("x", ["in it"]), "p.after": ("2", [])}
