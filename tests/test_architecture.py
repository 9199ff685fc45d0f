"""The package layout ARCHITECTURE.md describes is the one the code has.

The import-linter contracts in pyproject.toml state the layering (handlers on top, the
domain below, the root modules at the bottom), that domain code imports no Flask, and
that no package's modules import each other in a cycle.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "service"
NOT_CODE = {"migrations", "static", "templates", "__pycache__"}


def _packages_on_disk() -> set[str]:
    return {
        p.name
        for p in SERVICE.iterdir()
        if p.is_dir() and p.name not in NOT_CODE and (p / "__init__.py").exists()
    }


def test_the_import_contracts_hold() -> None:
    # In a process of its own: import-linter configures logging with dictConfig, which
    # disables every logger that exists (the app's error log among them) for the tests
    # that run after it in this worker.
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, "
        "no_cache=True, no_logo=True))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert re.search(r"Contracts: 4 kept, 0 broken", report), report


def test_architecture_names_every_package_and_only_those() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"service/([a-z_]+)/", text)) - NOT_CODE
    assert named == _packages_on_disk()


def test_every_module_architecture_names_exists() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    paths = set(re.findall(r"`(?:service/)?((?:[a-z_]+/)*[a-z_]+\.py)`", text))
    missing = [p for p in paths if not (SERVICE / p).exists() and not (ROOT / p).exists()]
    assert paths and not missing, missing


def test_every_function_architecture_names_exists() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    dotted = set(re.findall(r"`((?:[a-z_]+\.)+[A-Za-z_]+)`", text)) - {"pyproject.toml"}
    dotted = {d for d in dotted if not d.endswith((".py", ".md", ".toml"))}
    unresolved = [
        d for d in dotted if not _resolves(d if d.startswith("service.") else "service." + d)
    ]
    assert dotted and not unresolved, unresolved


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_the_layers_contract_lists_every_package() -> None:
    # A new package outside the contract could import anything: it must take a layer.
    text = (ROOT / "pyproject.toml").read_text()
    layers = text[text.index('type = "layers"') :]
    layers = layers[: layers.index("]")]
    listed = set(re.findall(r"service\.([a-z_]+)", layers))
    assert listed == _packages_on_disk() - {"migrations"}
