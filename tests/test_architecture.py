"""The house rules that a test can check: the core never imports Qt."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def core_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "ide").rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        parts = relative.parts
        if parts[1:2] == ("ui",) or "virtual_shims" in parts or parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_core_module_imports_without_qt():
    modules = core_modules()
    assert "ide.board.board" in modules and "ide.errors" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'PySide6', 'PyQt5', 'sip'))\n"
        "print(repr(qt))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"Qt imported by the core: {result.stdout}"


def test_all_errors_derive_from_one_root():
    from ide import errors
    classes = [value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, Exception)]
    assert len(classes) > 10
    assert all(issubclass(cls, errors.MipyError) for cls in classes)
