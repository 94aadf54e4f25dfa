"""Build the installable Blender extension zip.

    python -m eggesture_blender.build [--out dist/]

Layout of the zip (the extension's package is its root)::

    blender_manifest.toml          copied from the repository root
    __init__.py, operators.py, ... the add-on (eggesture_blender/*.py, minus this file)
    vendor/__init__.py
    vendor/egg_core/...            a copy of egg_core, incl. egg_core/assets (default model)

Why vendored and rewritten: Blender's extension rules forbid ``sys.path`` edits, and a
second top-level ``egg_core`` from another extension or the user's site-packages could
shadow ours. So the copy lives inside the add-on's package and every absolute
``egg_core`` import in it is rewritten to a relative one (``from egg_core.errors import
X`` in ``egg_core/formats/audio.py`` becomes ``from ..errors import X``); the add-on
reaches it through ``_core.core()``. The external worker runs the same copy by putting
``vendor/`` first on its own (separate process) ``sys.path`` -- relative imports work
under any package name.

The zip is built and validated with ``blender_ext.py`` from the installed bpy wheel
(or the one named by ``--blender-ext``); the build fails if it is not found.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ADDON_DIR = Path(__file__).resolve().parent
REPO = ADDON_DIR.parent
MANIFEST = REPO / "blender_manifest.toml"
CORE_NAME = "egg_core"
_SKIP_DIRS = {"__pycache__", ".pytest_cache", "vendor"}


class BuildError(Exception):
    """The extension cannot be built; the message says why."""


# --------------------------------------------------------------------------- import rewriting


def _relative(module: str, package_depth: int) -> str:
    """``egg_core.a.b`` seen from a module ``package_depth`` packages below egg_core -> ``..a.b``."""
    rest = module[len(CORE_NAME):].lstrip(".")
    return "." * (package_depth + 1) + rest


def rewrite_imports(source: str, package_depth: int, filename: str = "<source>") -> str:
    """Turn absolute ``egg_core`` imports into relative ones (see the module docstring).

    ``package_depth`` is 0 for modules directly in egg_core, 1 for egg_core/formats/x.py...
    Raises :class:`BuildError` on a form it cannot rewrite safely (``import egg_core``
    without ``as``, or ``importlib.import_module("egg_core...")``).
    """
    tree = ast.parse(source, filename)
    lines = source.splitlines(keepends=True)
    edits: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
            node.module == CORE_NAME or node.module.startswith(CORE_NAME + ".")
        ):
            line = edits.get(node.lineno - 1, lines[node.lineno - 1])
            old = f"from {node.module} "
            if old not in line:
                raise BuildError(f"{filename}:{node.lineno}: cannot rewrite import of {node.module}")
            edits[node.lineno - 1] = line.replace(old, f"from {_relative(node.module, package_depth)} ", 1)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == CORE_NAME or alias.name.startswith(CORE_NAME + "."):
                    if len(node.names) != 1 or alias.asname is None or "." not in alias.name:
                        raise BuildError(f"{filename}:{node.lineno}: write 'from egg_core... import x' "
                                         f"instead of 'import {alias.name}' so it can be vendored")
                    parent, _, leaf = alias.name.rpartition(".")
                    line = lines[node.lineno - 1]
                    indent = line[: len(line) - len(line.lstrip())]
                    edits[node.lineno - 1] = (f"{indent}from {_relative(parent, package_depth)} "
                                              f"import {leaf} as {alias.asname}\n")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module", "__import__"
        ):
            for arg in node.args[:1]:
                if isinstance(arg, ast.Constant) and str(arg.value).startswith(CORE_NAME):
                    raise BuildError(f"{filename}:{node.lineno}: dynamic import of {arg.value!r} "
                                     "cannot be vendored; use a relative import")
    for index, text in edits.items():
        lines[index] = text
    return "".join(lines)


def vendor_core(core_dir: Path, dest: Path) -> int:
    """Copy egg_core (code + assets) to ``dest`` with imports rewritten; returns files copied."""
    count = 0
    for path in sorted(core_dir.rglob("*")):
        rel = path.relative_to(core_dir)
        if any(part in _SKIP_DIRS for part in rel.parts) or path.is_dir() or path.suffix == ".pyc":
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py":
            depth = len(rel.parts) - 1
            target.write_text(rewrite_imports(path.read_text(encoding="utf-8"), depth, str(rel)),
                              encoding="utf-8")
        else:
            shutil.copy2(path, target)
        count += 1
    return count


# --------------------------------------------------------------------------- staging + building


def find_blender_ext() -> Path | None:
    """blender_ext.py inside the installed bpy wheel (found without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    for root in (spec.submodule_search_locations or []) if spec else []:
        for candidate in sorted(Path(root).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py")):
            return candidate
    return None


def stage(dest: Path, core_dir: Path | None = None) -> Path:
    """Assemble the extension's source tree in ``dest`` (which must not exist or be empty)."""
    core_dir = core_dir or REPO / CORE_NAME
    if not MANIFEST.is_file():
        raise BuildError(f"{MANIFEST} is missing")
    if not (core_dir / "__init__.py").is_file():
        raise BuildError(f"egg_core not found at {core_dir}")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(MANIFEST, dest / MANIFEST.name)
    for path in sorted(ADDON_DIR.glob("*.py")):
        if path.name != "build.py":
            shutil.copy2(path, dest / path.name)
    (dest / "vendor").mkdir()
    (dest / "vendor" / "__init__.py").write_text(
        '"""Third-party code bundled with the extension: the egg_core package (see build.py)."""\n',
        encoding="utf-8")
    vendor_core(core_dir, dest / "vendor" / CORE_NAME)
    return dest


def _run_blender_ext(blender_ext: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(blender_ext), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"blender_ext.py {args[0]} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def build(out_dir: Path, blender_ext: Path | None = None) -> Path:
    """Stage, validate and zip the extension into ``out_dir``; returns the zip path."""
    blender_ext = blender_ext or find_blender_ext()
    if blender_ext is None or not blender_ext.is_file():
        raise BuildError("blender_ext.py not found: install the bpy wheel (pip install bpy==5.0.1) "
                         "or pass --blender-ext PATH")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="eggesture_build_") as tmp:
        source = stage(Path(tmp) / "eggesture")
        _run_blender_ext(blender_ext, "validate", str(source))
        _run_blender_ext(blender_ext, "build", "--source-dir", str(source), "--output-dir", str(out_dir))
    zips = sorted(out_dir.glob("eggesture-*.zip"), key=lambda p: p.stat().st_mtime)
    if not zips:
        raise BuildError(f"blender_ext.py reported success but wrote no zip into {out_dir}")
    _run_blender_ext(blender_ext, "validate", str(zips[-1]))
    return zips[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eggesture_blender.build",
                                     description="Build the EGGesture Blender extension zip.")
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder (default: dist/)")
    parser.add_argument("--blender-ext", type=Path, default=None, help="path to Blender's blender_ext.py")
    args = parser.parse_args(argv)

    def work() -> None:
        path = build(args.out, args.blender_ext)
        print(f"built {path} ({path.stat().st_size / 1e6:.1f} MB)")

    # a development tool run from the checkout (never shipped), so the project's CLI helper is there
    from egg_core.cli import run_cli

    return run_cli(work, user_errors=(BuildError,))


if __name__ == "__main__":
    sys.exit(main())
