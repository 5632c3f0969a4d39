import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# keep torch from spinning both cores while another test process (a worker) runs
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

# one built-in corpus build per test session (and per CI run), shared by every test that trains
os.environ.setdefault("CRAM_CACHE_DIR", str(Path(os.environ.get("PYTEST_CACHE_ROOT", "/tmp")) / "cramgui-test-cache"))


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip: a user's fresh clone has no ../shared."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"../shared not present (fresh clone): {p} is missing")
    return p


@pytest.fixture(scope="session")
def stdlib_corpus() -> Path:
    """The built-in corpus (built once, cached under $CRAM_CACHE_DIR)."""
    from engine import corpus

    return corpus.ensure_builtin_corpus()


def tiny_config(**overrides):
    """The smoke preset shrunk to seconds: small caps, short budget, greedy-ish decoding."""
    from engine.contract import config as config_lib

    cfg = config_lib.preset("smoke")
    sets = {"budget.seconds": 4, "eval.every_seconds": 0, "data.max_train": 300, "data.max_valid": 30,
            "data.max_test": 30, "eval.dev_subset": 20, "eval.beam_size": 2, "eval.samples": 20,
            "model.vocab_size": 600, "hardware.threads": 1,
            "data.site_packages_train": False}   # the site-packages corpus takes minutes to build
    sets.update(overrides)
    for k, v in sets.items():
        config_lib.set_value(cfg, k, v)
    return cfg
