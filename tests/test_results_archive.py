"""The results archive (make archive), what reads it (make ensemble, make bench's resume), the
recipe hash that keys it, ensemble selection, and the load every timing is recorded with.

Run dirs are written directly, as src.run leaves them, so nothing here trains; the command
lines are run once each for their output and exit code."""

import copy
import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from omegaconf import OmegaConf

from src import archive as archive_command
from src import ensemble
from src.benchmarks import runner
from src.config import command_config
from src.data import dataset
from src.ensembles import members as ensemble_members
from src.ensembles.selection import forward_selection
from src.runs import archive
from src.runs.recipe import ADDED_LATER, recipe_hash
from src.runs.run_dir import RunDir
from src.utils import machine
from src.utils.errors import ConfigError
from tests import helpers
from tests.helpers import one_line_error, run_module

ROWS, HELD = 120, 30


def fake_run(path, data_dir, seed=0, overrides=(), holdout=True, test_fingerprint=None):
    """A finished run dir as src.run writes it: config, metrics, predictions."""
    rng = np.random.default_rng(seed)
    run = RunDir(path)
    cfg = command_config.load(["model=logreg", f"data.dir={data_dir}", f"seed={seed}",
                               *overrides])
    run.write_config(OmegaConf.to_yaml(cfg))
    proba = rng.dirichlet(np.ones(10), size=ROWS).astype(np.float32)
    run.write_test_proba(proba)
    held = labels = None
    if holdout:
        held = rng.dirichlet(np.ones(10), size=HELD).astype(np.float32)
        labels = np.arange(HELD, dtype=np.uint8) % 10
        run.write_holdout(held, labels)
    train = dataset.load_train(data_dir, cache=False)
    test = test_fingerprint or dataset.load_test(data_dir, cache=False).fingerprint()
    accuracy = float(np.mean(held.argmax(axis=1) == labels)) if holdout else None
    run.write_metrics({"model": "logreg", "holdout_accuracy": accuracy,
                       "data": {"train": train.fingerprint(), "test": test},
                       "fit_seconds": 1.0, "rows": {"test": ROWS}})
    return run, proba, held


def test_an_archived_run_reads_back_like_the_run_in_float16(tiny_data, tmp_path):
    run, proba, held = fake_run(tmp_path / "run", tiny_data)
    kept = archive.archive(run, tmp_path / "results", "logreg-a", max_bytes=1_000_000)
    assert sorted(p.name for p in kept.path.iterdir()) == [
        "config_resolved.yaml", "metrics.json", "predictions.npz"]
    np.testing.assert_allclose(kept.test_proba(), proba, atol=1e-3)  # float16's precision
    assert kept.test_proba().dtype == np.float32 and kept.is_archived()
    kept_held, kept_labels = kept.holdout()
    np.testing.assert_allclose(kept_held, held, atol=1e-3)
    assert np.array_equal(kept_labels, np.arange(HELD) % 10) and kept.oof_proba() is None
    record = kept.metrics()["archive"]
    assert record["recipe_hash"] == recipe_hash(run.config()) and record["from"] == str(run)
    assert kept.config_text() == run.config_text()
    with np.load(kept.path / "predictions.npz") as saved:
        assert saved["test_proba"].dtype == np.float16


def test_archiving_refuses_what_it_cannot_keep_and_never_overwrites(tiny_data, tmp_path):
    run, _, _ = fake_run(tmp_path / "run", tiny_data)
    results = tmp_path / "results"
    first = archive.archive(run, results, "a", max_bytes=1_000_000)
    before = {p.name: p.read_bytes() for p in first.path.iterdir()}
    with pytest.raises(ConfigError, match="exists already: an archived run is never overwrit"):
        archive.archive(run, results, "a", max_bytes=1_000_000)
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == before
    with pytest.raises(ConfigError, match="use letters, digits"):
        archive.archive(run, results, "../escape", max_bytes=1_000_000)
    with pytest.raises(ConfigError, match="not a finished run of src.run"):
        archive.archive(RunDir(tmp_path), results, "b", max_bytes=1_000_000)
    with pytest.raises(ConfigError, match=r"would take [\d,]+ bytes archived, over the limit "
                                          r"of 1,000 \(results.max_bytes\)"):
        archive.archive(run, results, "big", max_bytes=1_000)
    assert sorted(p.name for p in results.iterdir()) == ["a"]  # nothing half-written left


def test_make_archive_says_what_it_wrote_or_one_line_why_not(tiny_data, tmp_path):
    run, _, _ = fake_run(tmp_path / "run", tiny_data)
    results = f"results.dir={tmp_path / 'results'}"
    done = run_module("src.archive", f"run={run}", "name=kept", results)
    assert done.returncode == 0, done.stderr
    assert f"archived {run} as {tmp_path / 'results' / 'kept'}" in done.stdout
    again = run_module("src.archive", f"run={run}", "name=kept", results)
    assert "exists already" in one_line_error(again)


def test_a_run_that_predates_fingerprints_gets_its_data_dirs_when_they_match(tiny_data,
                                                                            tmp_path):
    run, _, held = fake_run(tmp_path / "run", tiny_data)
    metrics = run.metrics()
    del metrics["data"]
    run.write_metrics(metrics)
    # the holdout src.run would hold out of this data: the run was trained on it
    _, holdout = dataset.holdout_split(dataset.load_train(tiny_data), 0.1, 42)
    run.write_holdout(held, holdout.labels)
    kept = archive_command.main([f"run={run}", "name=old", f"results.dir={tmp_path / 'r'}"])
    data = kept.metrics()["data"]
    assert data["train"] == dataset.load_train(tiny_data, cache=False).fingerprint()
    assert data["test"] == dataset.load_test(tiny_data, cache=False).fingerprint()
    # another holdout: trained on other images (another shuffle), so no fingerprints
    run.write_holdout(held, holdout.labels[::-1].copy())
    other = archive_command.main([f"run={run}", "name=other", f"results.dir={tmp_path / 'r'}"])
    assert "data" not in other.metrics()


def test_the_recipe_hash_follows_what_is_learned_not_where_it_is_written():
    def hashed(*overrides):
        return recipe_hash(OmegaConf.to_container(command_config.load(["model=cnn",
                                                                       *overrides])))
    base = hashed()
    for same in ("submission.dir=elsewhere", "threads=1", "trainer.verbose=2", "figures=false",
                 "trainer.tensorboard=false", "data.dir=other", "data.cache=false"):
        assert hashed(same) == base, same
    changed = {hashed(other) for other in (
        "seed=1", "trainer.lr=0.001", "trainer.epochs=35", "data.holdout=0",
        "model.estimator.net.dropout=0.3", "model.estimator.net.bn_momentum=0.99")}
    assert base not in changed and len(changed) == 6


def test_every_archived_run_still_has_the_recipe_hash_it_was_archived_with():
    # make bench reuses an archived member only while today's code hashes its config as the
    # archive recorded: a change to the recipe (a new key, say) must not orphan results/
    archived = sorted(p.parent for p in (helpers.ROOT / "results").glob("*/metrics.json"))
    assert archived
    for run in archived:
        recorded = json.loads((run / "metrics.json").read_text())["archive"]["recipe_hash"]
        assert recipe_hash(RunDir(run).config()) == recorded, run.name


def test_a_trainer_key_added_later_keeps_the_hashes_of_runs_archived_before_it():
    config = OmegaConf.to_container(command_config.load(["model=cnn"]))
    before = copy.deepcopy(config)  # as a run archived before augment.elastic_share existed
    del before["trainer"]["augment"]["elastic_share"]
    assert config["trainer"]["augment"]["elastic_share"] == 1.0  # the default: every image
    assert recipe_hash(before) == recipe_hash(config)
    config["trainer"]["augment"].update(elastic=8.0, elastic_share=0.5)
    half = recipe_hash(config)
    config["trainer"]["augment"]["elastic_share"] = 1.0
    assert half != recipe_hash(config) != recipe_hash(before)  # elastic itself still counts


def test_every_key_added_later_is_neutral_at_todays_default_and_counts_otherwise():
    config = OmegaConf.to_container(command_config.load(["model=cnn"]))
    for path, neutral in ADDED_LATER.items():
        *parents, key = path
        group = config
        for name in parents:
            group = group[name]
        assert group[key] == neutral, path  # the default still does what recipes did before
        before = copy.deepcopy(config)
        target = before
        for name in parents:
            target = target[name]
        del target[key]
        assert recipe_hash(before) == recipe_hash(config), path
    config["deskew"] = True
    assert recipe_hash(config) != recipe_hash(before)


def test_ensemble_selection_adds_what_helps_and_weights_it_by_how_often():
    labels = np.arange(12) % 3
    rows = np.arange(12)
    wrong = (labels + 1) % 3

    def scores(right_rows, sure):
        """Class scores right on `right_rows` with `sure` on the label, else leaning wrong."""
        proba = np.full((12, 3), 0.3)
        proba[rows, wrong] = 0.4
        proba[right_rows] = (1 - sure) / 2
        proba[right_rows, labels[right_rows]] = sure
        return proba
    strong = scores(np.arange(10), 0.6)  # right on 10 of 12
    rescuer = scores(np.array([10, 11]), 0.95)  # right, and sure, only where strong is wrong
    weak = scores(np.arange(3), 0.6)
    weights = forward_selection([weak, strong, rescuer], labels, rounds=6)
    # the strong one first; the rescuer, poor alone, fixes its two misses; the weak one never
    assert weights[0] == 0 and weights[1] > 0 and weights[2] > 0
    assert weights.sum() == pytest.approx(1) and set(weights * 6) <= set(range(7))
    blended = np.average([weak, strong, rescuer], axis=0, weights=weights)
    assert np.mean(blended.argmax(axis=1) == labels) == 1.0
    assert forward_selection([weak, strong, rescuer], labels, rounds=1).tolist() == [0, 1, 0]
    with pytest.raises(ValueError):
        forward_selection([strong], labels, rounds=0)


def test_make_ensemble_selects_among_archived_runs_and_records_the_weights(tiny_data, tmp_path):
    results = tmp_path / "results"
    members, probas, helds = [], [], []
    for seed in range(3):
        run, proba, held = fake_run(tmp_path / f"run{seed}", tiny_data, seed=seed)
        members.append(archive.archive(run, results, f"m{seed}", max_bytes=1_000_000))
        probas.append(members[-1].test_proba())
        helds.append(members[-1].holdout()[0])
    # no data.dir: the members' own test set is checked (theirs, here the tiny data)
    ensemble.main([f"runs={','.join(map(str, members))}", "method=select", "select_rounds=7",
                   f"submission.dir={tmp_path / 'subs'}", f"out_dir={tmp_path / 'ens'}"])
    record = RunDir(tmp_path / "ens").metrics()
    weights = np.array([record["weights"][str(m)] for m in members])
    labels = np.arange(HELD) % 10
    assert np.allclose(weights, forward_selection(helds, labels, rounds=7))
    assert record["selected_on"] == f"the shared holdout ({HELD} rows)"
    (written,) = (tmp_path / "subs").glob("*_ensemble3-select_*.csv")
    chosen = np.average(probas, axis=0, weights=weights).argmax(axis=1)
    assert np.array_equal(np.loadtxt(written, delimiter=",", skiprows=1)[:, 1], chosen)


def test_select_needs_rows_no_member_trained_on(tiny_data, tmp_path):
    runs = [fake_run(tmp_path / f"r{s}", tiny_data, seed=s, holdout=False)[0] for s in (1, 2)]
    with pytest.raises(SystemExit):
        ensemble.main([f"runs={runs[0]},{runs[1]}", "method=select", f"data.dir={tiny_data}",
                       f"out_dir={tmp_path / 'e'}", f"submission.dir={tmp_path / 's'}"])
    with pytest.raises(ConfigError, match="runs fit on all rows can only be averaged"):
        ensemble.selection_rows(runs, command_config.load([f"data.dir={tiny_data}"]).data)


def test_members_of_another_test_set_are_refused(tiny_data, tmp_path):
    data = command_config.load([f"data.dir={tiny_data}"]).data
    a = fake_run(tmp_path / "a", tiny_data, seed=1)[0]
    b = fake_run(tmp_path / "b", tiny_data, seed=2, test_fingerprint="0123456789abcdef")[0]
    with pytest.raises(ConfigError, match="members predicted different test sets"):
        ensemble_members.check_test_sets([a, b], data)
    c = fake_run(tmp_path / "c", tiny_data, seed=3, test_fingerprint="0123456789abcdef")[0]
    with pytest.raises(ConfigError, match=r"another test set than .*test.csv \(fingerprint "
                                          "0123456789abcdef"):
        ensemble_members.check_test_sets([b, c], data)
    here = dataset.load_test(tiny_data, cache=False).fingerprint()
    d = fake_run(tmp_path / "d", tiny_data)[0]
    assert ensemble_members.check_test_sets([a, d], data) == here
    # by default the members' own data dir is the one checked
    theirs = OmegaConf.create({"dir": None, "cache": True})
    with pytest.raises(ConfigError, match=re.escape(f"another test set than {tiny_data}/")):
        ensemble_members.check_test_sets([b, c], theirs)


def test_the_bench_reuses_an_archived_run_of_its_recipe_and_retrains_a_changed_one(
        tiny_data, tmp_path, monkeypatch):
    results = tmp_path / "results"
    overrides = ["model=logreg", f"data.dir={tiny_data}"]
    run, _, _ = fake_run(tmp_path / "run", tiny_data, overrides=["seed=0"])
    kept = archive.archive(run, results, "anything", max_bytes=1_000_000)
    trained = []

    def fake_src_run(command, check):  # stands in for `python -m src.run`: leaves a run dir
        trained.append(command)
        out = next(a.split("=", 1)[1] for a in command if a.startswith("hydra.run.dir="))
        fake_run(out, tiny_data, seed=1, overrides=["seed=1"])
    monkeypatch.setattr(runner.subprocess, "run", fake_src_run)
    b = runner.Bench(tmp_path / "out", tiny_data, results)
    assert b.run("lr", [*overrides, "seed=0"])["dir"] == str(kept) and not trained
    changed = b.run("lr", [*overrides, "seed=1"])  # another recipe: trained and archived
    (new,) = [r for r in archive.archived_runs(results) if r.name.startswith("bench-lr-")]
    assert len(trained) == 1 and changed["dir"] == str(new)
    assert RunDir(tmp_path / "out" / "lr").is_finished()  # where it trained
    assert new.metrics()["archive"]["recipe_hash"] != kept.metrics()["archive"]["recipe_hash"]
    assert b.run("lr", [*overrides, "seed=1"])["dir"] == str(new) and len(trained) == 1


def test_load_is_other_processes_cpu_over_the_wall_time():
    start = machine.CpuSample(wall=0.0, own=1.0, machine=10.0, steal=0.0)
    end = machine.CpuSample(wall=10.0, own=21.0, machine=35.0, steal=1.0)
    # 25 CPU-seconds in all, 20 of them this process's: 5 others' over 10 s
    assert machine.load_between(start, end) == {"other_cores": 0.5, "steal_cores": 0.1,
                                                "busy": True}
    quiet = machine.CpuSample(wall=10.0, own=21.0, machine=31.0, steal=0.0)
    assert machine.load_between(start, quiet)["busy"] is False
    unknown = machine.CpuSample(wall=10.0, own=21.0, machine=None, steal=None)
    assert machine.load_between(start, unknown)["other_cores"] is None
    assert machine.label(machine.load_between(start, unknown)) == "load unknown"
    both = machine.combine([({"other_cores": 1.0, "steal_cores": 0.0}, 1.0),
                            ({"other_cores": 0.0, "steal_cores": 0.0}, 3.0)])
    assert both == {"other_cores": 0.25, "steal_cores": 0.0, "busy": False}


def test_a_spinning_process_beside_a_timing_makes_it_busy():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        with machine.LoadMeter() as meter:
            time.sleep(1.0)
        load = meter.record()
    finally:
        spinner.kill()
        spinner.wait()
    # one process spinning for the whole second is about a core of other load
    assert load["other_cores"] > 0.5 and load["busy"] is True



def test_out_of_fold_scores_are_kept_coarser_but_within_their_stated_precision():
    proba = np.random.default_rng(0).dirichlet(np.ones(10) * 0.3, size=500).astype(np.float32)
    coarse = archive.coarse_float16(proba)
    assert coarse.dtype == np.float16
    exact = proba.astype(np.float16).astype(np.float32)
    # 6 mantissa bits left: each value within 2^-6 of itself (below float16's normal range,
    # 16 of its smallest steps, 2^-20), never above it
    assert np.all(coarse.astype(np.float32) <= exact)
    assert np.all(exact - coarse.astype(np.float32) <= exact * 2.0**-6 + 2.0**-20)
    assert np.mean(coarse.argmax(axis=1) == proba.argmax(axis=1)) > 0.99
