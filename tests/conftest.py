import pytest

from tests.helpers import make_data_dir


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """One shared tiny data dir; tests that change files make their own."""
    return make_data_dir(tmp_path_factory.mktemp("data"))
