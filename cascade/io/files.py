"""Output files: the one check that outputs may be written, and atomic writing.

Every output of cloud-cascade (masks, reports, quicklooks, model sidecars, benchmark records)
goes through :func:`check_outputs` before any work starts and :func:`atomic_output` when it
is written: a temporary file beside the target, renamed over it when complete, so a reader
never sees a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from cascade.errors import OutputError, OutputExistsError

__all__ = ["atomic_output", "check_outputs"]

# How the option that allows replacing outputs is named in messages, by default.
OVERWRITE_HINT = "overwrite=True (--overwrite)"


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else the common 022."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_outputs(
    paths: Sequence[str | os.PathLike[str]],
    *,
    overwrite: bool = False,
    hint: str = OVERWRITE_HINT,
    writable: bool = True,
) -> list[Path]:
    """Fail before any work when outputs clash, exist, or their folder cannot be written.

    Raises :class:`OutputError` for two outputs that are one file or a folder that is
    missing (or, with ``writable``, not writable), :class:`OutputExistsError` for an output
    that exists while ``overwrite`` is false; ``hint`` names the option that allows it.
    """
    outputs = [Path(p) for p in paths]
    if len({p.resolve() for p in outputs}) != len(outputs):
        raise OutputError(f"outputs must be different files, got {[str(p) for p in outputs]}")
    for p in outputs:
        if p.exists() and not overwrite:
            raise OutputExistsError(f"{p} already exists; pass {hint} to replace it")
        folder = _folder(p)
        if not folder.is_dir():
            raise OutputError(f"cannot write {p}: folder {folder} does not exist")
        if writable and not os.access(folder, os.W_OK):
            raise OutputError(f"cannot write {p}: folder {folder} is not writable")
    return outputs


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success rename it to ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was. Raises
    what :func:`check_outputs` raises, and an :class:`OutputError` naming the folder if the
    temporary file cannot be created.
    """
    (target,) = check_outputs([path], overwrite=overwrite, writable=False)
    folder = _folder(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror} ({folder})") from exc
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
