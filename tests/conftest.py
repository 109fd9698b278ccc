import pytest

from tests.helpers import make_data_dir

# The modules that take longest, first (make test's durations on a quiet 2-core machine,
# 2026-12-07): pytest-xdist hands whole modules (--dist=loadscope) to its workers in
# collection order, and a long module handed out last keeps one worker busy while the other
# idles. Modules not listed keep their order after these.
LONGEST_FIRST = ("test_search", "test_tracking", "test_end_to_end", "test_gpu_paths",
                 "test_kaggle_run", "test_keras_training", "test_sweeps", "test_kaggle",
                 "test_report", "test_dashboard", "test_saved_runs", "test_kaggle_submit")


@pytest.fixture(autouse=True)
def _no_stand_in_state(monkeypatch):
    """A shell that ran the stand-in by hand exports DIGIT_HARNESS_KAGGLE_STATE: the tests'
    ledgers and kernel records stay in their own dirs all the same."""
    monkeypatch.delenv("DIGIT_HARNESS_KAGGLE_STATE", raising=False)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.module.__name__.rsplit(".", 1)[-1], len(rank)))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """One shared tiny data dir; tests that change files make their own."""
    return make_data_dir(tmp_path_factory.mktemp("data"))
