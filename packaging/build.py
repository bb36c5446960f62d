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
    # --clean only when an earlier build left its work files: a fresh work folder has nothing stale,
    # and PyInstaller's cache of analysed libraries (keyed by the files' contents) then saves time.
    clean = ["--clean"] if work.exists() and any(work.iterdir()) else []
    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", *clean, "--log-level", "WARN",
           "--distpath", str(dist), "--workpath", str(work)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"PyInstaller failed ({done.returncode}):\n{done.stderr[-4000:]}")


# Debian packages that provide libraries the Qt plugins link and PyInstaller ships, when the build
# machine lacks them (./dev installs these before the tests build).
DEBIAN_PACKAGES = {"libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-keysyms.so.1": "libxcb-keysyms1",
                   "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-image.so.0": "libxcb-image0",
                   "libxcb-render-util.so.0": "libxcb-render-util0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0"}


def unshipped_libraries(app: Path) -> dict[str, list[str]]:
    """Libraries that something in the build links but the build does not ship: {library: [users]}.

    PyInstaller leaves a few to the system on purpose (libc, libGL, libxcb, libwayland…: they must
    match the machine's own, and a desktop has them), whether or not the build machine has them;
    any other library a shipped file needs must be in ``_internal``, or the workstation may lack it. A library missing from the build machine is silently left
    out by PyInstaller (it only warns), which would make e.g. the xcb platform plugin unloadable.
    """
    from PyInstaller.depend.dylib import include_library

    internal = app / "_internal"
    env = dict(os.environ, LD_LIBRARY_PATH=str(internal))  # where the bootloader points the loader
    missing: dict[str, list[str]] = {}
    for path in sorted(internal.rglob("*.so*")):
        if path.is_symlink() or not path.is_file():
            continue
        out = subprocess.run(["ldd", str(path)], env=env, capture_output=True, text=True).stdout
        for line in out.splitlines():
            name, arrow, where = line.strip().partition(" => ")
            if not arrow:
                continue
            if include_library(name) and not where.startswith(str(internal)):  # elsewhere, or "not found"
                users = missing.setdefault(name, [])
                if str(path.relative_to(internal)) not in users:
                    users.append(str(path.relative_to(internal)))
    return missing


def check_libraries(app: Path) -> None:
    missing = unshipped_libraries(app)
    if missing:
        lines = [f"  {lib} (needed by {', '.join(users[:3])}{'…' if len(users) > 3 else ''})"
                 for lib, users in sorted(missing.items())]
        debs = sorted({DEBIAN_PACKAGES[lib] for lib in missing if lib in DEBIAN_PACKAGES})
        hint = f"\non Debian: apt-get install {' '.join(debs)}" if debs else ""
        raise BuildError("the build does not ship these libraries that its files link (PyInstaller did not "
                         "find them on the build machine when it built):\n"
                         + "\n".join(lines) + hint)


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
    check_libraries(app)
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
