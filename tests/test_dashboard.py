"""`make dashboard STUDY=...`: optuna-dashboard served on a search's study, found where the
search keeps it, read back from its API and looked at in a real headless Chromium."""

import json
import subprocess
import sys

import optuna
import pytest

from tests.helpers import (
    CHROMIUM,
    NO_CHROMIUM,
    ROOT,
    chromium,
    free_port,
    one_line_error,
    run_module,
    wait_for_http,
)

STUDY = "my_search"  # not a preset's name: the searches' own place applies


@pytest.fixture
def study_dir(tmp_path):
    """A study where `python -m src.run hparams_search=... hydra.sweeper.study_name=my_search`
    run in tmp_path keeps it: two finished trials with their epochs, one pruned."""
    home = tmp_path / "multirun" / "search" / STUDY
    home.mkdir(parents=True)
    study = optuna.create_study(study_name=STUDY, storage=f"sqlite:///{home / 'optuna.db'}",
                                direction="maximize")
    space = {"trainer.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}
    for accuracy, state in ((0.97, "COMPLETE"), (0.98, "COMPLETE"), (0.5, "PRUNED")):
        trial = study.ask(space)
        for epoch in (1, 2):
            trial.report(accuracy * epoch / 2, epoch)
        if state == "COMPLETE":
            study.tell(trial, accuracy)
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return tmp_path


@pytest.fixture
def dashboard(study_dir):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "src.dashboard", f"study={STUDY}",
                               f"port={port}"], cwd=study_dir, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/meta", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.integration
def test_the_dashboard_serves_the_study_s_trials(dashboard):
    import urllib.request

    with urllib.request.urlopen(f"{dashboard}/api/studies") as response:
        studies = json.load(response)["study_summaries"]
    assert [s["study_name"] for s in studies] == [STUDY]
    with urllib.request.urlopen(f"{dashboard}/api/studies/{studies[0]['study_id']}") as response:
        detail = json.load(response)
    trials = [(t["number"], t["state"], t["values"], len(t["intermediate_values"]))
              for t in detail["trials"]]
    assert trials == [(0, "Complete", [0.97], 2), (1, "Complete", [0.98], 2),
                      (2, "Pruned", [0.5], 2)]
    assert [t["number"] for t in detail["best_trials"]] == [1]


@pytest.mark.integration
@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_the_dashboard_page_shows_the_study_in_a_real_browser(dashboard, tmp_path):
    dom = chromium(tmp_path / "profile", "--dump-dom", f"{dashboard}/dashboard").stdout
    assert STUDY in dom, dom[-2000:]  # the study list, rendered by the dashboard's own script


def test_a_missing_study_or_database_is_one_line(study_dir, tmp_path):
    line = one_line_error(run_module("src.dashboard", "study=nonesuch", cwd=study_dir))
    assert "no study database at" in line and "hparams_search=" in line
    db = study_dir / "multirun" / "search" / STUDY / "optuna.db"
    line = one_line_error(run_module("src.dashboard", "study=other", f"storage=sqlite:///{db}",
                                     cwd=study_dir))
    assert "has no study 'other'" in line and STUDY in line
    assert "which study?" in one_line_error(run_module("src.dashboard", cwd=ROOT))


@pytest.mark.integration
def test_a_taken_port_is_one_line(dashboard, study_dir):
    port = dashboard.rsplit(":", 1)[1]
    line = one_line_error(run_module("src.dashboard", f"study={STUDY}", f"port={port}",
                                     cwd=study_dir, timeout=120))
    assert f"cannot serve on 127.0.0.1:{port}" in line
