"""The installed distribution claims one import name, `photoshare`, and no `tests`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import importlib.util, json, events
print(json.dumps({"events": events.__file__,
                  "tests": importlib.util.find_spec("tests") is not None,
                  "infra": importlib.util.find_spec("infra") is not None,
                  "photoshare.events": importlib.util.find_spec("photoshare.events").origin}))
"""


def test_only_the_photoshare_namespace_is_installed(tmp_path: Path) -> None:
    import json

    # A fresh interpreter outside the repository sees only what is installed.
    found = json.loads(subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path,
                                      capture_output=True, text=True, check=True).stdout)
    assert "site-packages" in found["events"]  # the `Events` distribution's own module
    assert found["tests"] is False and found["infra"] is False
    assert found["photoshare.events"].endswith("events/__init__.py")


def test_in_the_test_process_events_is_the_dependencys_module() -> None:
    import events

    assert "site-packages" in events.__file__


def test_every_package_data_folder_that_python_could_import_is_a_listed_package() -> None:
    """setuptools warns (a banner on every `make run` install) about package data in a
    folder whose name Python could import but `packages` does not list."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages, package_dir = set(config["packages"]), config["package-dir"]

    def folder(package: str) -> Path:
        for prefix, path in package_dir.items():
            if package == prefix or package.startswith(prefix + "."):
                return root / path / Path(*package[len(prefix):].split(".")[1:])
        raise AssertionError(f"{package} has no package-dir")

    unlisted = set()
    for package, patterns in config["package-data"].items():
        base = folder(package)
        for pattern in patterns:
            for file in base.glob(pattern):
                parts = file.parent.relative_to(base).parts
                if parts and all(part.isidentifier() for part in parts):
                    unlisted.add(".".join((package, *parts)))
    assert unlisted <= packages, sorted(unlisted - packages)
