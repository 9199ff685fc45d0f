"""The README is kept honest by the code: settings, CLI help and the access table are generated."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_is_generated_from_code():
    r = subprocess.run(
        [sys.executable, "scripts/gen_readme.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "rankroom serve --demo" in head
    assert "bash scripts/test" in head
