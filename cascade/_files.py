"""Atomic output files: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cascade.errors import CascadeError

__all__ = ["OutputExistsError", "atomic_output"]


class OutputExistsError(CascadeError, FileExistsError):
    """An output file exists and overwriting was not asked for."""


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else the common 022."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success rename it to ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was, so a reader
    never sees a half-written file. Raises :class:`OutputExistsError` if ``path`` exists and
    ``overwrite`` is false, and a ``CascadeError`` naming the folder if it cannot be written.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"{target} already exists; pass overwrite=True (--overwrite) to replace it"
        )
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise CascadeError(f"cannot write {target}: folder {folder} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise CascadeError(f"cannot write {target}: {exc.strerror} ({folder})") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; outputs get the usual mode (0644 under umask 022).
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
