"""Every model config composes and builds; bad values are refused before any training."""

import pytest
from hydra.utils import instantiate

from src.config import command_config
from src.config.validate import check
from src.models import factory
from src.utils.errors import ConfigError, HarnessError
from tests.helpers import KERAS, call_main, compose_with, one_line_error, run_module, train

MODELS = sorted(p.stem for p in (command_config.CONF_DIR / "model").glob("*.yaml"))


def test_the_seed_models_and_the_default_are_all_there():
    assert {"logreg", "svm", "nn", "lenet", "cnn"} <= set(MODELS)
    assert compose_with().model.name == "cnn"


@pytest.mark.parametrize("model", MODELS)
def test_model_config_composes_and_instantiates(model):
    cfg = compose_with(f"model={model}")
    check(cfg)
    assert cfg.model.name == model
    estimator = instantiate(cfg.model.estimator, _convert_="all")
    assert hasattr(estimator, "fit") and hasattr(estimator, "predict_proba")
    if model in KERAS:
        net = estimator.net((28, 28, 1), 10)
        assert net.output_shape == (None, 10)
        assert estimator.trainer["epochs"] == cfg.trainer.epochs


def test_lenet_is_the_seed_architecture():
    cfg = compose_with("model=lenet")
    net = instantiate(cfg.model.estimator, _convert_="all").net((28, 28, 1), 10)
    convs = [(lay.filters, lay.kernel_size) for lay in net.layers if hasattr(lay, "filters")]
    dense = [layer.units for layer in net.layers if hasattr(layer, "units")]
    assert convs == [(6, (5, 5)), (16, (5, 5))] and dense == [120, 84, 10]


def test_cnn_public_is_the_published_recipe():
    cfg = compose_with("model=cnn_public")
    net = instantiate(cfg.model.estimator, _convert_="all").net((28, 28, 1), 10)
    convs = [(lay.filters, lay.kernel_size[0], lay.strides[0]) for lay in net.layers
             if hasattr(lay, "filters")]
    assert convs == [(32, 3, 1), (32, 3, 1), (32, 5, 2), (64, 3, 1), (64, 3, 1), (64, 5, 2),
                     (128, 4, 1)]
    assert sum(type(lay).__name__ == "BatchNormalization" for lay in net.layers) == 7
    assert {lay.rate for lay in net.layers if hasattr(lay, "rate")} == {0.4}
    t = cfg.trainer
    assert (t.epochs, t.batch_size, t.lr, t.schedule, t.decay) == (45, 64, 1e-3,
                                                                   "exponential", 0.95)


def test_valid_padding_trims_the_feature_maps_and_too_many_blocks_are_refused():
    from src.models import nets
    same = nets.cnn((28, 28, 1), 10, padding="same")
    valid = nets.cnn((28, 28, 1), 10, padding="valid")
    flat = [m.get_layer(index=[type(lay).__name__ for lay in m.layers].index("Flatten"))
            for m in (same, valid)]
    assert [f.output.shape[-1] for f in flat] == [7 * 7 * 64, 4 * 4 * 64]
    with pytest.raises(ConfigError, match="padding=valid"):
        nets.cnn((28, 28, 1), 10, filters=(32, 64, 128), padding="valid")


def test_model_picks_its_trainer_but_the_command_line_wins():
    assert compose_with("model=cnn").trainer.schedule == "cosine"
    assert compose_with("model=nn").trainer.lr == 1e-3
    assert compose_with("model=nn").trainer.epochs == 20
    assert compose_with("model=cnn", "trainer.epochs=60").trainer.epochs == 60
    # trainer.epochs is the recipe: no model cuts it to a wall-clock budget unless asked
    for model in sorted(KERAS):
        assert compose_with(f"model={model}").trainer.time_budget is None
    assert compose_with("model=cnn", "trainer.time_budget=60").trainer.time_budget == 60


@pytest.mark.parametrize("override, key", [
    ("data.holdout=1.5", "data.holdout"),
    ("data.holdout=-0.1", "data.holdout"),
    ("trainer.epochs=0", "trainer.epochs"),
    ("trainer.batch_size=0", "trainer.batch_size"),
    ("trainer.lr=0", "trainer.lr"),
    ("trainer.schedule=linear", "trainer.schedule"),
    ("trainer.warmup_epochs=99", "trainer.warmup_epochs"),
    ("trainer.label_smoothing=1", "trainer.label_smoothing"),
    ("seed=-1", "seed"),
    ("threads=0", "threads=0"),
    ("threads=true", "threads=True"),
    ("model.estimator.net.padding=full", "model.estimator.net.padding"),
    ("model.estimator.net.filters=[8,8,8,8,8]", "model.estimator.net.filters"),
    ("trainer.ema=1", "trainer.ema"),
    ("deskew=yes", "deskew=yes"),
    ("deskew=true ~model.estimator.deskew", "takes no deskew"),
    ("trainer.ema=0.999 trainer.early_stopping=3", "trainer.ema"),
    ("model=cnn_public model.estimator.net.dropout=1.5", "model.estimator.net.dropout"),
    ("trainer.decay=0", "trainer.decay"),
    ("trainer.pipeline.augment_in=gpu", "trainer.pipeline.augment_in"),
    ("trainer.pipeline.parallel_calls=0", "trainer.pipeline.parallel_calls"),
    ("trainer.pipeline.inter_op_threads=0", "trainer.pipeline.inter_op_threads"),
    ("trainer.pipeline.input_dtype=float16", "trainer.pipeline.input_dtype"),
    ("trainer.augment.elastic=-1", "trainer.augment.elastic"),
    ("trainer.augment.elastic_sigma=0", "trainer.augment.elastic_sigma"),
    ("trainer.augment.elastic_share=0", "trainer.augment.elastic_share"),
    ("trainer.augment.elastic_share=1.5", "trainer.augment.elastic_share"),
    ("model.estimator.net.bn_momentum=1", "model.estimator.net.bn_momentum"),
    ("trainer.bn_recalibration=-5", "trainer.bn_recalibration"),
])
def test_out_of_range_values_are_refused(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check(compose_with(*override.split()))


def test_valid_padding_with_three_blocks_is_refused_before_training():
    check(compose_with("model=cnn_deep"))  # three blocks with same padding: fine
    with pytest.raises(ConfigError, match="padding=valid leaves no pixels.*or padding=same"):
        check(compose_with("model=cnn_deep", "model.estimator.net.padding=valid"))


def refusal(*overrides: str) -> str:
    """The message `make run` would stop with before loading data: its command-line check,
    then the estimator built from the composed config (src/run.py's order)."""
    with pytest.raises(HarnessError) as refused:
        command_config.check_overrides(list(overrides))
        factory.build(command_config.load(list(overrides)).model.estimator)
    message = str(refused.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("override, words", [
    ("data.holdout=1.5", ["data.holdout=1.5"]),
    ("trainer.epochs=0", ["trainer.epochs=0"]),
    ("model=resnet9000", ["resnet9000", "cnn"]),
    ("trainer.epoch=3", ["trainer.epoch is not a setting", "did you mean trainer.epochs?"]),
    ("data.holdot=0", ["did you mean data.holdout?"]),
    ("modle=cnn", ["did you mean model?"]),
    ("trainer.zzzzz=1", ["trainer.zzzzz is not a setting"]),
    # Hydra's own hint for a missing key: it would train with the key silently ignored
    ("+trainer.epoch=3", ["nothing in the harness reads trainer.epoch",
                          "did you mean trainer.epochs?"]),
    ("+data.holdot=0", ["nothing in the harness reads data.holdot"]),
    ("trainer.epochs=many", ["trainer.epochs"]),
    ("model.estimator.C=-1", ["'C' parameter", "-1"]),
    ("+model.estimator.colour=red", ["colour"]),
])
def test_bad_override_is_refused_in_one_line(override, words):
    message = refusal("model=logreg", override)
    for word in words:
        assert word in message, message
    assert "To append" not in message  # Hydra's hint to add a key nothing would read


@pytest.mark.parametrize("override, words", [
    ("model.estimator.cv=1", ["'cv' parameter", "Got 1"]),
    ("model.estimator.C_low=100", ["C_low=100", "C_high"]),
    ("model.estimator.search_rows=1", ["'search_rows' parameter"]),
])
def test_bad_svm_settings_are_refused(override, words):
    message = refusal("model=svm", override)
    for word in words:
        assert word in message, message


def test_the_run_command_refuses_a_bad_override_in_one_line_before_loading_data(tmp_path):
    # no data dir: the refusal comes first, and nothing is written
    result = train(tmp_path / "no-data-here", tmp_path, "model=svm", "model.estimator.cv=1",
                   in_process=True)
    assert "'cv' parameter" in one_line_error(result)
    assert not (tmp_path / "submissions").exists()
    result = train(tmp_path / "no-data-here", tmp_path, "trainer.epoch=3")
    assert "trainer.epoch" in one_line_error(result)


def test_a_sweep_with_one_bad_value_fails_before_any_job(tiny_data, tmp_path):
    result = call_main("src.run", "-m", f"data.dir={tiny_data}", "model=logreg",
                       "data.holdout=0.1,1.5", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert "data.holdout=1.5" in one_line_error(result)
    assert not (tmp_path / "sweep").exists()


def test_hydra_flags_pass_through_the_check(tiny_data, tmp_path):
    result = run_module("src.run", "--cfg", "job", "model=lenet", "trainer.epochs=2")
    assert result.returncode == 0, result.stderr
    assert "epochs: 2" in result.stdout and "lenet" in result.stdout


def test_an_added_or_forced_key_that_exists_or_that_the_estimator_judges_passes_the_check():
    # ++ sets a key that is there; + adds an estimator parameter (its class judges it later)
    command_config.check_overrides(["++trainer.epochs=3", "+model.estimator.tol=0.01",
                                    "model=logreg"])
    assert compose_with("++trainer.epochs=3").trainer.epochs == 3


def test_the_stand_in_keeps_its_own_ledger_and_kernel_record(monkeypatch):
    # tests/kaggle_stub.py run by hand exports the variable: what is sent to it stays apart
    monkeypatch.delenv("DIGIT_HARNESS_KAGGLE_STATE", raising=False)
    cfg = compose_with()
    assert (cfg.kaggle.ledger, cfg.kaggle.kernel.record) == (
        f"{cfg.submission.dir}/ledger.csv", f"{cfg.submission.dir}/kaggle/kernels.csv")
    monkeypatch.setenv("DIGIT_HARNESS_KAGGLE_STATE", "/tmp/stand-in")
    cfg = compose_with()
    assert (cfg.kaggle.ledger, cfg.kaggle.kernel.record) == (
        "/tmp/stand-in/ledger.csv", "/tmp/stand-in/kernels.csv")
