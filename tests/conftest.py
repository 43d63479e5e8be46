import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

# Tests read full MNIST / Adult through the project's own data-dir setting; on a developer machine
# and in CI that is ../shared/data. The product itself never looks there.
if "EXPLORER_DATA_DIR" not in os.environ and SHARED.is_dir():
    os.environ["EXPLORER_DATA_DIR"] = str(SHARED)
os.environ.setdefault("EXPLORER_CACHE_DIR", str(ROOT / ".cache"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains a real model for several seconds")


@pytest.fixture(scope="session")
def data_dir():
    d = os.environ.get("EXPLORER_DATA_DIR")
    if not d or not Path(d, "mnist").exists() and not Path(d, "train-images-idx3-ubyte.gz").exists():
        pytest.fail("full MNIST/Adult are needed: set EXPLORER_DATA_DIR (CI uses ../shared/data)")
    return Path(d)
