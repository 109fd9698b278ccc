"""The bench's measuring parts: the FLOP count, the verdicts it prints, a real train-speed
measurement on tiny data, and replacing one section of the doc."""

import json
import time
from datetime import UTC, datetime

import keras
import pytest
from keras import layers

from src.benchmarks import (
    cells,
    doc,
    ensembles_section,
    models_section,
    public_section,
    runner,
    speed_section,
    train_speed,
)
from src.utils import machine as this_machine


def test_flops_are_counted_from_the_layers_shapes():
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(4, 3, padding="same")(inputs)  # 28*28*4 outputs, 3*3*1 MACs each
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(8, 5, strides=2)(x)  # (14-5)//2+1 = 5: 5*5*8 outputs, 5*5*4 MACs each
    x = layers.Flatten()(x)
    outputs = layers.Dense(10)(x)  # 200*10 MACs
    model = keras.Model(inputs, outputs)
    forward = 2 * (28 * 28 * 4 * 9 + 5 * 5 * 8 * 25 * 4 + 200 * 10)
    assert train_speed.train_flops_per_image(model) == 3 * forward


def test_verdicts_follow_the_numbers_and_the_noise():
    # the baseline's own spread, or a setting whose rounds disagree more
    runs = {"baseline": {"images_per_s": [100, 110, 90]},
            "a": {"ratios": [1.3, 1.25]}, "b": {"ratios": [1.0, 1.05]}}
    assert train_speed.noise_of(runs) == pytest.approx(0.2)
    runs["c"] = {"ratios": [1.5, 1.1]}
    assert train_speed.noise_of(runs) == pytest.approx(0.4)
    assert train_speed.verdict([1.3, 1.25], noise=0.1) == "faster"
    assert train_speed.verdict([0.5, 0.6], noise=0.1) == "slower"
    assert train_speed.verdict([1.3, 0.95], noise=0.1) == "within noise"
    assert train_speed.verdict([1.08, 1.09], noise=0.1) == "within noise"
    # one round measures no spread: nothing is judged from it
    assert train_speed.noise_of({"baseline": {"images_per_s": [100]}}) is None
    assert train_speed.verdict([2.0], noise=None).startswith("not judged")
    # a ratio with a busy side is never judged, however clear it looks
    assert train_speed.verdict([1.5, 1.6], noise=0.1, busy=[False, True]) == \
        "not judged (busy machine)"


def test_the_matmul_peak_is_a_product_of_the_size_over_the_best_time_with_its_load():
    readings = iter([0.0, 0.5, 1.0, 1.25, 2.0, 3.0])  # products of 0.5, 0.25 and 1 s
    peak = train_speed.matmul_gflops(size=64, repeats=3, clock=lambda: next(readings))
    assert peak["gflops"] == pytest.approx(2 * 64**3 / 0.25 / 1e9)  # the best of the three
    assert set(peak["load"]) == {"other_cores", "steal_cores", "busy"}


def test_a_train_speed_measurement_runs_the_configured_model(tiny_data):
    # data.cache=false: the shared tiny data dir stays as it was made
    started = time.perf_counter()
    result = train_speed.measure("nn", [f"data.dir={tiny_data}", "data.cache=false"], {},
                                 images=200, epochs=1)
    wall = time.perf_counter() - started
    assert result["flops_per_image"] == 3 * 2 * (784 * 400 + 400 * 10)
    # 200 images in one timed epoch, which is a part of the worker process's life
    assert result["images_per_s"] > 200 / wall
    assert result["load"]["busy"] in (True, False)
    with pytest.raises(RuntimeError, match="worker failed"):
        train_speed.measure("resnet9000", [f"data.dir={tiny_data}"], {}, 200, 1)


def test_a_section_is_replaced_in_place_or_added_at_the_end():
    page = "# Benchmarks\n\n## Models\n\nrows\n"
    once = doc.splice(page, "speed", "## Speed\n\nold\n")
    assert once.startswith(page.rstrip("\n")) and "old" in once
    twice = doc.splice(once + "\n## After\n", "speed", "## Speed\n\nnew\n")
    assert "old" not in twice and "new" in twice and twice.count("## Speed") == 1
    assert twice.index("new") < twice.index("## After") and "## Models" in twice


def test_the_header_says_when_each_section_was_measured_and_by_what():
    page = "# Benchmarks\n\nintro\n\n## Models\n"
    once = doc.dated(page, "all", "make bench", datetime(2026, 12, 1, tzinfo=UTC))
    assert once.startswith("# Benchmarks\n\n<!-- bench:dates -->\n- `all`: measured "
                           "2026-12-01 by `make bench`\n<!-- /bench:dates -->\n\nintro")
    later = doc.dated(once, "speed", "python -m src.bench --sections speed",
                      datetime(2026, 12, 6, tzinfo=UTC))
    again = doc.dated(later, "speed", "python -m src.bench --sections speed",
                      datetime(2026, 12, 7, tzinfo=UTC))
    block = again.split("<!-- bench:dates -->\n")[1].split("<!-- /bench:dates -->")[0]
    assert block.splitlines() == ["- `all`: measured 2026-12-01 by `make bench`",
                                  "- `speed`: measured 2026-12-07 by `python -m src.bench "
                                  "--sections speed`"]
    assert again.count("intro") == 1 and again.endswith("## Models\n")


def test_a_section_written_before_markers_is_replaced_by_its_old_heading():
    page = ("# Benchmarks\n\n## XLA (`trainer.jit_compile`) on this CPU\n\nfixed sentence\n\n"
            "## An ensemble of default CNNs\n\nmembers\n")
    text = doc.splice(page, "speed", "## The train step\n\nmeasured\n")
    assert "fixed sentence" not in text and "measured" in text
    assert text.index("measured") < text.index("## An ensemble") and "members" in text


QUIET = {"other_cores": 0.02, "steal_cores": 0.0, "busy": False}
BUSY = {"other_cores": 0.9, "steal_cores": 0.0, "busy": True}


def _speed_record(tmp_path, baseline, variants, xla, busy=()):
    """A speed.json as `Bench.speed` writes it; `busy` names the settings measured busy."""
    def entry(name, ips, ratios, **setting):
        load = BUSY if name in busy else QUIET
        return {"setting": {"model": "cnn", **setting}, "images_per_s": ips, "ratios": ratios,
                "flops_per_image": 112e6, "threads": 2, "loads": [load] * len(ips),
                "busy": [load["busy"] or "baseline" in busy] * len(ips)}
    compared = {"baseline": entry("baseline", baseline, [1.0] * len(baseline))}
    variants = {"model=cnn_public": ([1.0] * len(baseline), {"model": "cnn_public"}),
                **variants}  # Bench.speed always times the public recipe
    for name, (ratios, setting) in variants.items():
        scaled = [b * r for b, r in zip(baseline, ratios, strict=True)]
        compared[name] = entry(name, scaled, ratios, **setting)
    record = {"peak_gflops": [{"gflops": 150.0, "load": QUIET},
                              {"gflops": 140.0, "load": QUIET}],
              "images": 3072, "epochs": 2, "rounds": len(baseline), "compared": compared,
              "xla_ratios": {"ratios": xla, "busy": [False] * len(xla)},
              "platform": "2 cores, test CPU; Python 3", "measured_at": "2026-12-06T20:00:00",
              "machine": {"cores": 2, "cpu": "test CPU", "system": "Linux"}}
    (tmp_path / "bench").mkdir(exist_ok=True)
    (tmp_path / "bench" / "speed.json").write_text(json.dumps(record))
    return runner.Bench(tmp_path, tmp_path, tmp_path), {"speed": {}}


def test_the_speed_section_concludes_from_its_own_numbers(tmp_path):
    b, plan = _speed_record(tmp_path, [300, 310], {
        "float32 input": ([1.5, 1.45], {"overrides": ["trainer.pipeline.input_dtype=float32"]}),
        "batch 256": ([2.0, 2.1], {"overrides": ["trainer.batch_size=256"], "same_math": False}),
        "oneDNN off": ([0.7, 0.72], {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}}),
    }, xla=[0.5, 0.55, 0.52])
    text = speed_section.section_speed(b, plan)
    # the record's own date and machine, not the file's (a clone's files are all new)
    assert "Measured 2026-12-06 on 2 cores, test CPU; Python 3." in text
    # 305 images/s x 112 MFLOP = 34 GFLOP/s, 23% of the best peak (150)
    assert "**34 GFLOP/s, 23% of the matmul peak**" in text
    # batch 256 is faster still but changes the math: the pick is float32 input
    assert "with the same math: float32 input (1.48x)" in text
    assert "| oneDNN off (`TF_ENABLE_ONEDNN_OPTS=0`) | 217 | 0.70, 0.72 | quiet | slower |" \
        in text
    assert "**slower in every pair (0.52x)**" in text


def test_the_speed_section_says_nothing_beats_the_noise_when_nothing_does(tmp_path):
    b, plan = _speed_record(tmp_path, [300, 330], {
        "float32 input": ([1.3, 0.95], {"overrides": ["trainer.pipeline.input_dtype=float32"]}),
    }, xla=[1.2, 0.9, 1.0])
    text = speed_section.section_speed(b, plan)
    assert "noise was 35%" in text and "No setting with the same math beat" in text
    assert "**no difference beyond the noise**" in text and "| within noise |" in text


def test_a_busy_timing_is_shown_as_such_and_decides_nothing(tmp_path):
    b, plan = _speed_record(tmp_path, [300, 310], {
        "float32 input": ([1.5, 1.45], {"overrides": ["trainer.pipeline.input_dtype=float32"]}),
        "oneDNN off": ([1.02, 1.01], {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}}),
    }, xla=[0.5, 0.55], busy={"float32 input"})
    text = speed_section.section_speed(b, plan)
    # the clear 1.5x was measured beside 0.9 cores of other work: shown, marked, not judged
    assert "| 1.50, 1.45 | busy (0.90 cores of other load) | not judged (busy machine) |" in text
    assert "float32 input (1.48x)" not in text and "Not judged, measured busy: float32 input" \
        in text
    assert "No setting with the same math beat the default" in text


def test_a_busy_baseline_is_not_set_against_the_peak(tmp_path):
    b, plan = _speed_record(tmp_path, [300, 310], {
        "oneDNN off": ([0.7, 0.72], {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}}),
    }, xla=[0.5, 0.55], busy={"baseline"})
    text = speed_section.section_speed(b, plan)
    assert "34 GFLOP/s (a busy timing: not set against the peak)" in text
    assert "of the matmul peak**" not in text and "Every setting had a busy round" in text


def test_timings_carry_their_load_into_the_tables():
    assert cells.timed_cell(812.4, QUIET) == "812"
    assert cells.timed_cell(812.4, BUSY) == "812 (busy: 0.90 cores of other load)"
    # a record from before loads were kept is no ground for a conclusion either
    assert cells.timed_cell(812.4, None) == "812 (load unknown)"
    assert cells.any_busy(None) and cells.any_busy(BUSY) and not cells.any_busy(QUIET, QUIET)


def test_the_public_section_dates_the_speed_rounds_it_quotes(tiny_data, tmp_path, monkeypatch):
    """The section may be rendered long after the speed section was rerun: it names the rounds'
    own date rather than pointing at whatever rounds sit above it."""
    from tests.test_results_archive import fake_run

    bench, scope = _speed_record(tmp_path, [300.0, 310.0], {}, [1.0])
    run_dir = fake_run(tmp_path / "run", tiny_data)[0]
    runs = {"cnn": 0.99310, "cnn_public": 0.99333}
    monkeypatch.setattr(bench, "run", lambda name, overrides: {
        "dir": str(run_dir), "holdout_accuracy": runs[overrides[0].removeprefix("model=")],
        "fit_seconds": 1125.0, "fit_load": QUIET, "command": " ".join(overrides),
        "history": {"seconds": [1.0] * 9}, "rows": {"holdout": 4200}})
    text = public_section.section_public(bench, {**scope, "equal_time": 1200})
    assert "Epoch times measured 2026-12-06" in text
    assert "the train step section's rounds of 2026-12-06, **its epoch takes 1.00x" in text
    assert "rounds above" not in text and "the public recipe 1 holdout image(s) ahead" in text


def test_every_section_renders_from_records_and_names_their_machine(tiny_data, tmp_path):
    """The doc's tables from run records as the archive keeps them (no training here)."""
    from tests.test_results_archive import fake_run

    here = {"cores": 2, "cpu": "test CPU", "system": "Linux"}
    history = {"val_accuracy": [0.97, 0.985, 0.99], "seconds": [10.0, 20.0, 30.0]}

    def record(name, model, holdout=0.99, fit=30.0, load=QUIET, machine=here):
        run = fake_run(tmp_path / name, tiny_data)[0]
        return {**run.metrics(), "model": model, "dir": str(run), "command": f"python -m "
                f"src.run model={model}", "holdout_accuracy": holdout, "train_accuracy": 1.0,
                "predict_seconds": 1.0, "peak_memory_mb": 900.0, "fit_seconds": fit,
                "fit_load": load, "machine": machine, "history": history, "threads": 2,
                "rows": {"fit": 270, "holdout": 30, "test": 120}}
    cnn, lenet = record("cnn", "cnn"), record("lenet", "lenet", load=BUSY)
    seed = {"epochs": 3, "seconds_per_epoch": 50.0, "epoch_seconds": [60.0, 50.0, 50.0],
            "holdout_accuracy": [0.95, 0.97, 0.98], "peak_memory_mb": 1800.0,
            "fit_seconds_50": 2500.0, "load": QUIET, "machine": here}
    models = models_section.render_models([{"split": "holdout", **cnn},
                                           {"split": "holdout", **lenet}])
    assert "| 30.0 |" in models and "30.0 (busy: 0.90 cores of other load)" in models
    assert "on 2 cores, test CPU" in models
    timed = models_section.render_time_to_accuracy(lenet, cnn, seed)
    # the first epoch at 0.984 or better ended 20 s in: 2500 s / 20 s
    assert "| 20.0 | 125x |" in timed and "— (a busy timing)" in timed
    elsewhere = models_section.render_time_to_accuracy(cnn, cnn, {**seed, "machine": None})
    assert "— (another machine)" in elsewhere and "125x" not in elsewhere
    svm = models_section.render_svm(record("svm", "svm", fit=10.0),
                           {"rows": 100, "seconds": 2.0, "load": QUIET, "machine": here})
    assert "| 10 | 10x |" in svm  # 2 s x 51.25 fits over 10 s
    assert "(a busy timing: no ratio drawn)" in models_section.render_predict(
        {"seconds": 3.0, "load": BUSY, "machine": here}, cnn)
    assert "(10x longer)" in models_section.render_predict({"seconds": 3.0, "load": QUIET,
                                                   "machine": here}, cnn)
    assert "(measured busy" in models_section.render_loading({"read_csv": 1.0, "cached": 0.01,
                                                     "mb": 76.7, "load": BUSY})
    assert "ratio seed / ours 2.00" in models_section.render_memory(cnn, None, seed)


def test_each_recipe_in_an_ensemble_gets_its_mean_over_its_seeds(tiny_data, tmp_path):
    """A recipe's figure is the mean over the members that differ from it only in `seed=` (or
    `threads=`); a recipe trained once has no such row."""
    from tests.test_results_archive import fake_run

    def member(command, accuracy):
        run = fake_run(tmp_path / f"m{accuracy}", tiny_data)[0]
        return {**run.metrics(), "command": command, "dir": str(run), "model": "cnn",
                "test_accuracy": accuracy, "fit_seconds": 60.0, "fit_load": QUIET,
                "threads": 2, "machine": {"cores": 2, "cpu": "test CPU", "system": "Linux"}}
    cnn, public = "python -m src.run data.holdout=0", "python -m src.run model=cnn_public"
    members = [member(cnn, 0.990), member(f"{public} seed=1", 0.996), member(f"{cnn} seed=1",
               0.994), member(f"{public} seed=2 threads=1", 0.998), member("python -m src.run "
               "model=lenet", 0.980)]
    assert ensembles_section.seed_means(members) == {
        cnn: [0.990, 0.994], public: [0.996, 0.998], "python -m src.run model=lenet": [0.980]}

    class Bench:
        def ensemble(self, _members):
            return {"members": members, "record": members[0]["dir"], "test_accuracy": 0.999,
                    "test_rows": 1000, "command": "python -m src.ensemble runs=..."}

        def record(self, name):
            return tmp_path / "no-such-record" / name
    text = ensembles_section.section_ensembles(Bench(), {"ensemble": {}, "folds": 0})
    assert f"| mean of `{cnn}` over its 2 seeds | | 0.99200 |" in text
    assert f"| mean of `{public}` over its 2 seeds | | 0.99700 |" in text
    assert "model=lenet` over" not in text and "| mean of all 5 single models | | 0.99160 |" \
        in text


def test_the_speed_section_times_every_net_the_ensemble_trains(tmp_path, monkeypatch):
    """So that each member's quiet minutes can be told: `model=X` of every member with its
    `model.` overrides, once."""
    valid = "model.estimator.net.padding=valid"
    members = {"a": ["model=cnn", "seed=1"], "b": ["model=cnn_deep", "trainer.epochs=22"],
               "c": ["model=cnn_public"], "d": ["model=cnn_deep", "seed=2"],
               "e": ["model=cnn", "trainer.epochs=54", valid], "f": [valid, "model=cnn"]}
    assert [runner.net_name(n) for n in runner.member_nets(members)] == [
        "model=cnn", "model=cnn_deep", "model=cnn_public", f"model=cnn {valid}"]
    timed = {}

    def compare(baseline, variants, rounds, **_n):
        timed.update(variants)
        return {}
    monkeypatch.setattr(runner.train_speed, "compare", compare)
    monkeypatch.setattr(runner.train_speed, "alternate_pairs", lambda *a, **k: {})
    monkeypatch.setattr(runner.train_speed, "matmul_gflops", lambda: {})
    monkeypatch.setattr(runner, "machine", lambda: "test machine")
    runner.Bench(tmp_path, tmp_path, tmp_path).speed(
        {"rounds": 1, "pairs": 1, "images": 8, "epochs": 1,
         "nets": runner.member_nets(members)})
    assert timed["model=cnn_public"] == {"model": "cnn_public"}
    assert timed["model=cnn_deep"] == {"model": "cnn_deep"}
    assert timed[f"model=cnn {valid}"] == {"model": "cnn", "overrides": [valid]}
    assert "model=cnn" not in timed  # the baseline is the default's net already
    # a record that times them all is kept; one from before a cnn_deep member joined is redone
    timed.clear()
    record = {"compared": {"baseline": {}, "model=cnn_public": {}, "model=cnn_deep": {}}}
    (tmp_path / "bench" / "speed.json").write_text(json.dumps(record))
    bench = runner.Bench(tmp_path, tmp_path, tmp_path)
    settings = {"rounds": 1, "pairs": 1, "images": 8, "epochs": 1,
                "nets": [{"model": "cnn_deep", "overrides": []}]}
    assert bench.speed(settings) == record and not timed
    del record["compared"]["model=cnn_deep"]
    (tmp_path / "bench" / "speed.json").write_text(json.dumps(record))
    bench.speed(settings)
    assert "model=cnn_deep" in timed
    assert "batch 64" in timed  # a record of no known machine: everything again


def test_a_net_that_joins_later_is_timed_alone_against_the_default(tmp_path, monkeypatch,
                                                                  capsys):
    """On the same kind of machine only the new net runs, in turn with the default, and joins
    the record with its own rounds' default; a default that now runs beyond the record's noise,
    or a record of another machine, has the whole section measured again."""
    timed, calls, now = {}, [], {"default": [300.0, 320.0], "busy": False}

    def compare(baseline, variants, rounds, images, epochs):
        timed.update(variants)
        calls.append((rounds, images, epochs))
        load = BUSY if now["busy"] else QUIET
        return {"baseline": {"images_per_s": now["default"][:rounds], "loads": [load] * rounds,
                             "busy": [now["busy"]] * rounds},
                **{name: {"setting": v, "images_per_s": [200.0] * rounds,
                          "ratios": [0.5, 0.7][:rounds], "busy": [now["busy"]] * rounds,
                          "loads": [load] * rounds}
                   for name, v in variants.items()}}
    monkeypatch.setattr(runner.train_speed, "compare", compare)
    monkeypatch.setattr(runner.train_speed, "alternate_pairs", lambda *a, **k: {})
    monkeypatch.setattr(runner.train_speed, "matmul_gflops", lambda: {})
    bench, _ = _speed_record(tmp_path, [300, 310], {  # noise 3%: the default's own spread
        "float32 input": ([1.0, 1.01], {"overrides": ["trainer.pipeline.input_dtype=float32"]})},
        xla=[1.0])
    path = tmp_path / "bench" / "speed.json"
    record = {**json.loads(path.read_text()), "machine": this_machine.describe(),
              "platform": cells.machine()}
    path.write_text(json.dumps(record))
    deep = {"model": "cnn_deep", "overrides": []}
    settings = {"rounds": 5, "pairs": 1, "images": 8, "epochs": 1, "nets": [deep]}
    saved = bench.speed(settings)
    assert list(timed) == ["model=cnn_deep"]  # not the settings, nor the public net again
    assert calls == [(2, 3072, 2)]  # the record's rounds, images and epochs, not the settings'
    entry = saved["compared"]["model=cnn_deep"]
    assert entry["ratios"] == [0.5, 0.7]
    assert entry["timed_later"]["baseline_images_per_s"] == [300.0, 320.0]
    assert saved["compared"]["baseline"] == record["compared"]["baseline"]
    assert json.loads(path.read_text()) == saved
    # the quiet minutes scale its ratio to the record's default (305 images/s), not its 200
    assert ensembles_section._quiet_images_per_s(bench)["model=cnn_deep"] == \
        pytest.approx(0.6 * 305)
    text = speed_section.section_speed(bench, {"speed": {}})
    assert "model=cnn_deep, *timed " in text and "at 310 images/s (quiet)" in text
    assert "A row marked *timed* came later" in text
    assert "The noise was 20%" in text  # its two ratios 0.5 and 0.7 disagree by 0.2
    assert train_speed.noise_of({"baseline": {"images_per_s": [300, 310]}, "x": {
        "ratios": [1, 1], "timed_later": {"baseline_images_per_s": [300, 360]}}}) == \
        pytest.approx(60 / 330)  # the later default's spread is noise too
    # a net measured busy in every round stays out of the record, to be timed next time
    timed.clear(), calls.clear()
    now["busy"] = True
    valid = {"model": "cnn", "overrides": ["model.estimator.net.padding=valid"]}
    again = bench.speed({**settings, "nets": [deep, valid]})
    assert list(timed) == ["model=cnn model.estimator.net.padding=valid"]
    assert "model=cnn model.estimator.net.padding=valid" not in again["compared"]
    assert "busy machine in every round" in capsys.readouterr().out
    # the default twice as fast as the record says: another machine under the same name
    timed.clear()
    now.update(default=[610.0, 620.0], busy=False)
    bench.speed({**settings, "nets": [deep, valid]})
    assert "batch 64" in timed and "model=cnn_public" in timed
    assert "2.02x the record's speed" in capsys.readouterr().out
    # a record whose default was timed busy in every round is no speed to set this one against
    timed.clear()
    busy_default = {**saved["compared"]["baseline"], "busy": [True, True]}
    path.write_text(json.dumps({**saved, "compared": {**saved["compared"],
                                                      "baseline": busy_default}}))
    now.update(default=[300.0, 320.0])
    calls.clear()
    bench.speed({**settings, "nets": [deep, valid]})
    assert "batch 64" in timed and "no quiet timing of the default" in capsys.readouterr().out
    assert len(calls) == 1  # the whole section at once, no try of the new nets alone first
    # a record of another kind of machine is measured again without a try
    timed.clear(), calls.clear()
    path.write_text(json.dumps({**saved, "machine": {**saved["machine"], "cpu": "another"}}))
    bench.speed({**settings, "nets": [deep, valid]})
    assert "batch 64" in timed and len(calls) == 1


def test_quiet_minutes_need_the_speed_of_the_net_the_member_trained():
    run = {"model": "cnn", "history": {"seconds": [1.0] * 36}, "rows": {"fit": 42000},
           "command": "python -m src.run model=cnn data.holdout=0"}
    quiet = {"model=cnn": 1000.0}
    assert ensembles_section._quiet_minutes(run, quiet) == "25"  # 36 x 42,000 / 1,000 / 60
    valid = {**run, "command": run["command"] + " model.estimator.net.padding=valid"}
    assert ensembles_section._quiet_minutes(valid, quiet) == "—"  # not the default's speed
    quiet["model=cnn model.estimator.net.padding=valid"] = 2000.0
    assert ensembles_section._quiet_minutes(valid, quiet) == "13"  # its own: 12.6
    added = {**run, "command": run["command"] + " +model.estimator.net.extra=1"}
    assert ensembles_section._quiet_minutes(added, quiet) == "—"
    assert ensembles_section._quiet_minutes({**run, "model": "cnn_deep"}, quiet) == "—"
