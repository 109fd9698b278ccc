"""Pictures of a run, `src.show`, and the HTML report, checked in a real headless Chromium."""

import json
import re

import numpy as np
import pytest
from PIL import Image, ImageStat

from src.kaggle import ledger
from tests.helpers import (
    CHROMIUM,
    NO_CHROMIUM,
    call_main,
    chromium,
    one_line_error,
    run_module,
    train,
)

KERAS_FIGURES = {"train_gallery.png", "test_gallery.png", "misclassified.png", "confusion.png",
                 "curves.png"}


@pytest.fixture(scope="module")
def nn_run(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("nn")
    result = train(tiny_data, out, "model=nn", "trainer.epochs=2", in_process=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return out / "run"


def test_a_keras_run_writes_its_figures_and_tensorboard_logs(nn_run):
    for name in KERAS_FIGURES:
        with Image.open(nn_run / name) as image:
            image.load()  # decodes
            assert image.width > 300 and ImageStat.Stat(image.convert("L")).stddev[0] > 5
    history = json.loads((nn_run / "history.json").read_text())
    assert len(history["loss"]) == 2 and len(history["val_accuracy"]) == 2
    events = list((nn_run / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "TensorBoard event files"


@pytest.mark.heavy
def test_the_svm_draws_its_c_search(tiny_data, tmp_path):
    result = train(tiny_data, tmp_path, "model=svm", "model.estimator.n_iter=3",
                   in_process=True)
    assert result.returncode == 0, result.stderr[-2000:]
    search = json.loads((tmp_path / "run" / "search.json").read_text())
    assert len(search["C"]) == 3 and search["best_C"] in search["C"]
    assert (tmp_path / "run" / "c_search.png").stat().st_size > 5000
    assert not (tmp_path / "run" / "curves.png").exists()


def test_figures_false_writes_none(tiny_data, tmp_path):
    assert train(tiny_data, tmp_path, "model=logreg", "figures=false",
                 in_process=True).returncode == 0
    assert not list((tmp_path / "run").glob("*.png"))
    assert "has no figures" in one_line_error(run_module("src.show", f"run={tmp_path / 'run'}"))


def test_show_a_digit_and_refuse_bad_ids(tiny_data, nn_run, tmp_path):
    out = tmp_path / "d.png"
    result = run_module("src.show", "id=5", f"data.dir={tiny_data}", f"out={out}")
    label = int(tiny_data.joinpath("train.csv").read_text().splitlines()[5].split(",")[0])
    assert result.returncode == 0
    assert result.stdout.strip() == f"{out}  (train #5: label {label})"
    with Image.open(out) as image:
        assert image.size == (280, 320)
    result = run_module("src.show", "id=5", "split=test", f"run={nn_run}",
                        f"data.dir={tiny_data}", f"out={tmp_path / 't.png'}")
    assert result.returncode == 0, result.stderr
    proba = np.load(nn_run / "test_proba.npy")[4]
    assert f"test #5: {proba.argmax()} ({proba.max():.2f})" in result.stdout
    assert "out of range" in one_line_error(run_module("src.show", "id=99999",
                                                       f"data.dir={tiny_data}"))
    assert "not an image number" in one_line_error(run_module("src.show", "id=abc",
                                                              f"data.dir={tiny_data}"))
    assert "ids start at 1" in one_line_error(run_module("src.show"))


def test_report_of_a_run_names_what_is_missing(nn_run, tmp_path):
    result = run_module("src.report", f"run={nn_run}", f"ledger={tmp_path / 'none.csv'}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"report: {nn_run / 'report.html'} (one self-contained page: " \
        "open it in a browser)\n"
    page = (nn_run / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(KERAS_FIGURES)
    assert "<title>Digit Recognizer: nn: holdout accuracy" in page
    assert "No Kaggle ledger" in page
    assert "holdout_accuracy" in page and "ImageId" in page


def test_report_of_an_old_run_and_of_nothing(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "metrics.json").write_text(json.dumps({"model": "svm", "holdout_accuracy": 0.9}))
    assert run_module("src.report", f"run={old}", f"ledger={tmp_path / 'l.csv'}").returncode == 0
    assert "No figures in this run dir" in (old / "report.html").read_text()
    assert "neither a run dir nor a sweep" in one_line_error(
        run_module("src.report", f"run={tmp_path / 'old' / '..' / 'old' / '..'}"))


def test_report_of_a_sweep_with_a_failed_job_and_a_ledger(tiny_data, tmp_path):
    sweep = tmp_path / "sweep"
    result = call_main("src.run", "-m", "model=logreg", "data.holdout=0.01,0.1,0.2",
                       f"data.dir={tiny_data}", f"hydra.sweep.dir={sweep}",
                       f"submission.dir={tmp_path / 'subs'}", "figures=false")
    assert result.returncode == 1  # 0.01 of 300 rows cannot hold every class
    book = tmp_path / "ledger.csv"
    for holdout, public in (("0.95", "0.94"), ("0.97", "")):
        ledger.append(book, {c: "" for c in ledger.COLUMNS} | {
            "time": "2026-11-25T10:00:00", "file": "a.csv", "model": "logreg",
            "holdout_accuracy": holdout, "public_score": public, "status": "complete"})
    result = run_module("src.report", f"run={sweep}", f"ledger={book}")
    assert result.returncode == 0, result.stderr
    page = (sweep / "report.html").read_text()
    assert page.count('<tr class="failed">') == 1 and "cannot split" in page
    assert "against each swept setting" in page and "public score" in page
    assert page.count("data:image/png;base64,") == 2  # the sweep plot and the Kaggle plot


@pytest.mark.integration
@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_the_report_renders_in_a_real_browser(nn_run, tmp_path):
    assert run_module("src.report", f"run={nn_run}",
                      f"ledger={tmp_path / 'l.csv'}").returncode == 0
    page = (nn_run / "report.html").resolve()
    dom = chromium(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    assert re.search(r"<title>Digit Recognizer: nn: holdout accuracy", dom)
    assert "<table>" in dom and 'data-images="ok"' in dom  # every image decoded
    shot = tmp_path / "shot.png"
    chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,1600",
             page.as_uri())
    with Image.open(shot) as image:
        stats = ImageStat.Stat(image.convert("L"))
        assert image.size == (1200, 1600) and stats.stddev[0] > 10  # not a blank page
