"""A product's files, wherever they are: a folder, a ``.zip`` or a ``.tar`` (no rasterio).

Product readers look files up by their path inside the product (``GRANULE/.../B02.jp2``),
read the small metadata files as text, and hand GDAL a path it opens in place: the file
itself, or ``/vsizip/{archive}/member`` and ``/vsitar/{archive}/member`` (the braces keep
the archive's absolute path intact through :class:`pathlib.Path`). Archives are listed
once, with the standard library; a corrupt or truncated archive is an
:class:`~cascade.errors.InputError` that says so and what to do.
"""

from __future__ import annotations

import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cascade.errors import InputError

__all__ = ["ProductFiles", "archive_kind"]

ArchiveKind = Literal["folder", "zip", "tar"]
_REDOWNLOAD = "download the product again (or unpack it and pass the folder)"


def archive_kind(path: Path) -> ArchiveKind | None:
    """``"zip"`` or ``"tar"`` for a file named like an archive we read in place, else None."""
    suffix = path.suffix.lower()
    return "zip" if suffix == ".zip" else "tar" if suffix == ".tar" else None


@dataclass
class ProductFiles:
    """The files of one product, by their ``/``-separated path relative to the product.

    ``path``: the folder or archive given; ``kind``: ``folder``, ``zip`` or ``tar``;
    ``names``: every file in it (folders left out), in archive or sorted order.
    """

    path: Path
    kind: ArchiveKind
    names: list[str]
    _sizes: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)
    _set: set[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._set = set(self.names)

    @classmethod
    def open(cls, path: str | Path) -> ProductFiles:
        """List a product folder or archive; raise :class:`InputError` when it is unreadable."""
        p = Path(os.path.abspath(path))
        if not p.exists():
            raise InputError(f"input {path} does not exist")
        if p.is_dir():
            names = sorted(str(f.relative_to(p).as_posix()) for f in p.rglob("*") if f.is_file())
            return cls(p, "folder", names)
        kind = archive_kind(p)
        if kind == "zip":
            return cls._zip(p)
        if kind == "tar":
            return cls._tar(p)
        raise InputError(f"{path} is neither a folder nor a .zip or .tar archive")

    @classmethod
    def _zip(cls, p: Path) -> ProductFiles:
        try:
            with zipfile.ZipFile(p) as z:
                infos = [i for i in z.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputError(
                f"{p} is not a readable zip archive ({exc}): it is truncated or corrupt; "
                f"{_REDOWNLOAD}"
            ) from exc
        sizes = {i.filename: (i.header_offset, i.compress_size) for i in infos}
        return cls(p, "zip", [i.filename for i in infos], sizes)

    @classmethod
    def _tar(cls, p: Path) -> ProductFiles:
        try:
            with tarfile.open(p, "r:") as t:
                members = [m for m in t.getmembers() if m.isfile()]
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InputError(
                f"{p} is not a readable tar archive ({exc}): it is truncated, corrupt or "
                f"compressed (only plain .tar is read in place); {_REDOWNLOAD}"
            ) from exc
        if not members:
            raise InputError(f"{p} is an empty or unreadable tar archive; {_REDOWNLOAD}")
        sizes = {m.name: (m.offset_data, m.size) for m in members}
        return cls(p, "tar", [m.name for m in members], sizes)

    def find(self, pattern: str, *, under: str = "") -> list[str]:
        """Names under the folder ``under`` whose relative rest fully matches ``pattern``."""
        regex = re.compile(pattern, re.IGNORECASE)
        prefix = f"{under.rstrip('/')}/" if under else ""
        return [n for n in self.names if n.startswith(prefix) and regex.fullmatch(n[len(prefix) :])]

    def has(self, name: str) -> bool:
        return name in self._set

    def read_text(self, name: str) -> str:
        """A (small) metadata file as text; :class:`InputError` when it cannot be read."""
        try:
            if self.kind == "folder":
                data = (self.path / name).read_bytes()
            elif self.kind == "zip":
                with zipfile.ZipFile(self.path) as z:
                    data = z.read(name)
            else:
                self.check_complete([name])
                with tarfile.open(self.path, "r:") as t:
                    f = t.extractfile(name)
                    data = f.read() if f is not None else b""
            return data.decode("utf-8-sig")
        except (
            OSError,
            KeyError,
            EOFError,
            zipfile.BadZipFile,
            tarfile.TarError,
            zlib.error,
        ) as exc:
            raise InputError(f"cannot read {name} in {self.path}: {exc}; {_REDOWNLOAD}") from exc
        except UnicodeDecodeError as exc:
            raise InputError(f"{name} in {self.path} is not text ({exc}); {_REDOWNLOAD}") from exc

    def check_complete(self, names: Iterable[str]) -> None:
        """Raise :class:`InputError` when an archive ends before the data of any of ``names``."""
        if self.kind == "folder":
            return
        size = self.path.stat().st_size
        for name in names:
            start, length = self._sizes.get(name, (0, 0))
            if start + length > size:
                raise InputError(
                    f"{self.path} is truncated: it ends at byte {size}, inside {name} (which "
                    f"needs bytes {start}..{start + length}); {_REDOWNLOAD}"
                )

    def gdal_path(self, name: str) -> Path:
        """The path GDAL opens ``name`` by: the file, or ``/vsizip/{archive}/name`` etc."""
        if self.kind == "folder":
            return self.path / name
        return Path(f"/vsi{self.kind}/{{{self.path}}}/{name}")

    def describe(self, name: str) -> str:
        """``name`` as a person finds it: ``archive.zip!member`` or the file's path."""
        return str(self.path / name) if self.kind == "folder" else f"{self.path}!{name}"
