"""The layer rules of DESIGN.md, checked by import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(exe), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" not in proc.stdout.lower() or "0 broken" in proc.stdout.lower()


def test_no_cdt_descriptor_list_is_committed():
    # The ADA licenses CDT: only our short demo labels ship. A practice list is imported at run time.
    demo = (REPO / "odonto_desk" / "domain" / "cdt_demo.csv").read_text(encoding="utf-8").splitlines()
    assert len(demo) < 80
    assert not list(REPO.glob("**/cdt*full*.csv"))


def test_test_modules_have_unique_names():
    # The test folders are not packages: pytest imports each test file by its bare name, so two
    # files called the same in different folders break collection of the whole run.
    seen: dict[str, Path] = {}
    clashes = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        if path.name in seen:
            clashes.append(f"{seen[path.name].relative_to(REPO)} and {path.relative_to(REPO)}")
        seen.setdefault(path.name, path)
    assert not clashes, "test files share a name: " + "; ".join(clashes)
