"""Check the size limits of the code: no module over 500 lines, no function over 80.

    python tests/check_sizes.py [FOLDER ...]     (default: cascade training benchmarks)

A module is counted in lines of its file; a function (or method) from its ``def`` line to its
last line, decorators excluded. Exits 1 naming every offender, 0 when there is none.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
DEFAULT_FOLDERS = ("cascade", "training", "benchmarks")
ROOT = Path(__file__).resolve().parents[1]


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def offenders(path: Path) -> list[str]:
    """What in ``path`` breaks a limit, one line each."""
    text = path.read_text()
    out = []
    n_lines = len(text.splitlines())
    if n_lines > MAX_MODULE_LINES:
        out.append(f"{path}: module has {n_lines} lines (limit {MAX_MODULE_LINES})")
    for fn in _functions(ast.parse(text, filename=str(path))):
        length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
        if length > MAX_FUNCTION_LINES:
            out.append(
                f"{path}:{fn.lineno}: function {fn.name} has {length} lines "
                f"(limit {MAX_FUNCTION_LINES})"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    folders = (sys.argv[1:] if argv is None else argv) or list(DEFAULT_FOLDERS)
    found = []
    for folder in folders:
        base = Path(folder) if Path(folder).is_absolute() else ROOT / folder
        for path in sorted(base.rglob("*.py")):
            found += offenders(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} size limit(s) broken", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
