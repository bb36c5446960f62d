"""Build the one-folder desktop app: ``.venv/bin/python packaging/build.py [--dist DIR] [--work DIR]``.

Runs PyInstaller on ``packaging/odonto-desk.spec`` from a clean work folder, then copies the desktop
entry and the icons beside the binary and prints one JSON line: where the build is, how long it took
and how big it is. ``dist/odonto-desk/`` (the default) can be copied to a workstation as it is; see
``packaging/README.md``. The build needs the ``build`` extra (``pip install -e '.[build]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = HERE / "odonto-desk.spec"
NAME = "odonto-desk"


class BuildError(Exception):
    """The build could not be made; the message says why and what to do."""


def folder_size(path: Path) -> int:
    """Bytes in the files under ``path`` (symlinks counted once, as links)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def run_pyinstaller(dist: Path, work: Path) -> None:
    """PyInstaller with this interpreter, so the build ships exactly the .venv's libraries."""
    try:
        import PyInstaller  # noqa: F401 - only checks that it is installed
    except ImportError:
        raise BuildError("PyInstaller is not installed; run: .venv/bin/pip install -e '.[build]'") from None
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")  # the Qt hooks start Qt to ask for its paths
    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--clean", "--log-level", "WARN",
           "--distpath", str(dist), "--workpath", str(work)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"PyInstaller failed ({done.returncode}):\n{done.stderr[-4000:]}")


def add_desktop_files(app: Path) -> None:
    """The desktop entry and the freedesktop icon tree, for an installer to copy into place."""
    share = app / "share"
    (share / "applications").mkdir(parents=True, exist_ok=True)
    shutil.copy2(HERE / "odonto-desk.desktop", share / "applications" / "odonto-desk.desktop")
    shutil.copytree(HERE / "icons" / "hicolor", share / "icons" / "hicolor", dirs_exist_ok=True)
    (share / "icons" / "hicolor" / "scalable" / "apps").mkdir(parents=True, exist_ok=True)
    shutil.copy2(HERE / "icons" / "odonto-desk.svg", share / "icons" / "hicolor" / "scalable" / "apps")


def build(dist: Path, work: Path) -> dict[str, object]:
    """Build into ``dist/odonto-desk``; return the figures printed at the end."""
    started = time.perf_counter()
    run_pyinstaller(dist, work)
    app = dist / NAME
    if not (app / NAME).is_file():
        raise BuildError(f"PyInstaller finished but {app / NAME} is missing")
    add_desktop_files(app)
    seconds = time.perf_counter() - started
    return {"app": str(app), "binary": str(app / NAME), "build_seconds": round(seconds, 1),
            "size_mb": round(folder_size(app) / 1e6, 1), "files": sum(1 for p in app.rglob("*") if p.is_file())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                        help="PyInstaller's work folder (default build/pyinstaller)")
    args = parser.parse_args(argv)
    try:
        figures = build(args.dist.resolve(), args.work.resolve())
    except BuildError as exc:
        print(f"packaging: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
