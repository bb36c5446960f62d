"""The build's include and exclude lists (packaging/contents.py) make sense, checked without building.

- Nothing the app's own requirements need is excluded (pluggy and colorama once were: the frozen
  app's first sync failed on ``No module named 'pluggy'``).
- The app runs from source with every excluded package, every excluded Qt module and fhir.resources'
  R5 models made unimportable, the embedded server included: ``--smoke-test`` reaches a demo
  patient's chart. An exclusion the app needs fails here in seconds instead of in the build test.
- The app imports only the Qt modules the build ships, and the plugins it needs are kept.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def load_contents() -> ModuleType:
    spec = importlib.util.spec_from_file_location("packaging_contents", ROOT / "packaging" / "contents.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


contents = load_contents()


def required_distributions(name: str = "odonto-desk") -> set[str]:
    """The distributions the app needs at run time: its requirements and theirs, no extras."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        dist_name = todo.pop()
        key = re.sub(r"[-_.]+", "-", dist_name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = distribution(dist_name).requires or []
        except PackageNotFoundError:  # a platform-specific requirement not installed here
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_no_package_the_app_requires_is_left_out():
    needed = required_distributions()
    owners = packages_distributions()
    wrongly_left_out = {}
    for name in contents.NOT_SHIPPED_PACKAGES:
        if "." in name:
            continue  # a part of a package (fhir.resources.STU3, httpx._main): its parent ships
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in owners.get(name, [])}
        if dists & needed and name not in contents.LEFT_OUT_THOUGH_REQUIRED:
            wrongly_left_out[name] = sorted(dists & needed)
    assert not wrongly_left_out, f"excluded from the build but required by the app: {wrongly_left_out}"
    assert {"pluggy", "colorama", "click", "numpy", "fhir", "PySide6"}.isdisjoint(contents.NOT_SHIPPED_PACKAGES)


def qt_modules_imported_by_the_app() -> set[str]:
    found = set()
    for path in (ROOT / "odonto_desk").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("PySide6."):
                found.add(".".join(node.module.split(".")[:2]))
            elif isinstance(node, ast.ImportFrom) and node.module == "PySide6":
                found.update(f"PySide6.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(".".join(a.name.split(".")[:2]) for a in node.names if a.name.startswith("PySide6."))
    return found


def test_the_app_imports_only_the_qt_modules_the_build_ships():
    used = qt_modules_imported_by_the_app()
    assert used == set(contents.SHIPPED_QT), f"imported: {sorted(used)}; shipped: {contents.SHIPPED_QT}"
    assert not set(contents.SHIPPED_QT) & set(contents.NOT_SHIPPED_QT)


def test_the_plugins_the_app_needs_are_kept_and_installed():
    import PySide6

    plugins = Path(PySide6.__file__).parent / "Qt" / "plugins"
    for plugin in contents.NEEDED_QT_PLUGINS:
        assert contents.shipped_plugin(contents.QT_PLUGINS + plugin), plugin
        assert (plugins / plugin).is_file(), f"{plugin} is not in this PySide6, so no build can ship it"
    assert not contents.shipped_plugin(contents.QT_PLUGINS + "platforms/libqeglfs.so")


def test_only_the_r4b_models_of_fhir_resources_ship():
    assert contents.shipped_module("fhir.resources")
    assert contents.shipped_module("fhir.resources.R4B")
    assert contents.shipped_module("fhir.resources.R4B.patient")
    assert contents.shipped_module("fhir_core.fhirabstractmodel")
    assert not contents.shipped_module("fhir.resources.patient")  # R5
    assert not contents.shipped_module("fhir.resources.fhirtypes")


# Installed as sitecustomize in the app's processes (the app and the embedded server it starts):
# importing anything the build leaves out raises ModuleNotFoundError, as in the frozen app.
BLOCKER = '''
import importlib.abc, importlib.util, os, sys

_spec = importlib.util.spec_from_file_location("_contents", os.environ["ODONTO_TEST_CONTENTS"])
_contents = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_contents)
_BLOCKED = tuple(_contents.NOT_SHIPPED_PACKAGES + _contents.NOT_SHIPPED_QT)


class _LeftOut(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        left_out = any(name == b or name.startswith(b + ".") for b in _BLOCKED)
        if left_out or not _contents.shipped_module(name):
            with open(os.environ["ODONTO_TEST_BLOCKED_LOG"], "a") as log:
                log.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r} (left out of the build)", name=name)
        return None


sys.meta_path.insert(0, _LeftOut())
'''


def test_the_app_charts_without_what_the_build_leaves_out(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    log = tmp_path / "blocked.txt"
    png = tmp_path / "chart.png"
    env = {
        "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"), "QT_QPA_PLATFORM": "offscreen", "PATH": os.environ["PATH"],
        "PYTHONPATH": str(site), "ODONTO_TEST_CONTENTS": str(ROOT / "packaging" / "contents.py"),
        "ODONTO_TEST_BLOCKED_LOG": str(log),
    }
    proc = subprocess.run([sys.executable, "-m", "odonto_desk", "--smoke-test", str(png), "--smoke-timeout", "90"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
    blocked = sorted(set(log.read_text().split())) if log.exists() else []
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\nimports refused: {blocked}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["smoke"] == "ok" and result["marks"] > 0
    assert png.stat().st_size > 10_000
    assert blocked, "the blocker refused nothing: it was not installed (no sitecustomize?)"
    # httpx tries its command line and pydicom tries requests: refused, and both do without.
    assert "httpx._main" in blocked
