"""The wheel ships every package and the resources (the wheel itself is built and used by scripts/wheel_check.sh)."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_for_the_wheel():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("engine", "cramgui")
             for p in (ROOT / top).rglob("__init__.py") if "__pycache__" not in p.parts}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert cfg["package-dir"]["engine.resources"] == "resources"
    data = cfg["package-data"]["engine.resources"]
    for f in (ROOT / "resources").rglob("*"):
        if f.is_file() and f.suffix in (".toml", ".csv"):
            rel = f.relative_to(ROOT / "resources").as_posix()
            assert any(Path(rel).match(pat) for pat in data), f"{rel} is not shipped"


def test_version_is_the_installed_one():
    from engine.contract import version

    assert version() == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
