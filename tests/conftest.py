import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session")
def small_config():
    from defragsim import Config
    return Config(mem="256M", seed=1)
