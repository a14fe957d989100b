"""Planning a batch: inputs (files, globs, folders, lists) to scenes and their outputs.

Runs on the client before any work: the inputs are expanded to scenes, each scene gets
``<out-dir>/<name>_mask.tif`` and its report ``<name>_mask.json`` (and, when asked for, its
usable-ground mask ``<name>_valid.tif``), and two scenes with one output name are an error.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cascade.errors import BatchError
from cascade.io.names import band_files_in, has_band_token, is_raster_name
from cascade.io.products import is_product, product_name

__all__ = [
    "MASK_SUFFIX",
    "REPORT_SUFFIX",
    "VALID_SUFFIX",
    "SceneJob",
    "expand_inputs",
    "plan_scenes",
    "scene_name",
]

MASK_SUFFIX = "_mask.tif"
REPORT_SUFFIX = "_mask.json"
VALID_SUFFIX = "_valid.tif"
_GLOB_CHARS = frozenset("*?[")


def _has_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


def _is_list_file(text: str) -> bool:
    if text.upper().endswith("_MTL.TXT"):  # a Landsat scene's metadata names the scene
        return False
    return text.startswith("@") or (text.lower().endswith(".txt") and not _has_glob(text))


def _scene_path(path: Path, given: str) -> Path:
    """Check that ``path`` can be one scene; return it absolute (not resolving symlinks)."""
    path = Path(os.path.abspath(path))
    if not path.exists():
        raise BatchError(
            f"input {given} does not exist; expected a product (.SAFE, .zip, .tar, Landsat "
            "folder), a raster file, a folder of band files, a glob or @list.txt"
        )
    if is_product(path):
        return path
    if path.is_dir():
        files = band_files_in(path)
        if not files:
            raise BatchError(
                f"folder {given} holds no raster files (.tif, .jp2, ...); a folder input is one "
                "scene of single-band files named like B01.tif"
            )
        if not any(has_band_token(p) for p in files):
            shown = ", ".join(p.name for p in files[:3]) + (", ..." if len(files) > 3 else "")
            raise BatchError(
                f"folder {given} holds raster files that are not named as band files ({shown}); "
                "a folder input is one scene of single-band files named like B01.tif or "
                f"T33UUP_20200101_B8A.jp2. For a folder of scenes pass a glob: "
                f"'{Path(given) / '*.tif'}'"
            )
    return path


def _expand_one(text: str, where: str) -> list[Path]:
    if _has_glob(text):
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            raise BatchError(
                f"no files match {text!r}{where}; expected raster files, folders of band files, "
                "globs or @list.txt (quote globs so that the shell passes them on)"
            )
        scenes = [
            Path(m) for m in matches if Path(m).is_dir() or is_raster_name(m) or is_product(m)
        ]
        if not scenes:
            raise BatchError(
                f"{text!r}{where} matches {len(matches)} path(s) but no product, raster file "
                f"(.tif, .jp2, ...) or folder, e.g. {matches[0]}"
            )
        return [_scene_path(p, str(p)) for p in scenes]
    return [_scene_path(Path(text), text)]


def expand_inputs(inputs: str | Path | Sequence[str | Path]) -> list[Path]:
    """The scenes named by ``inputs``, absolute, in order, each once.

    Each input is a product (a Sentinel-2 SAFE folder or ``.zip``, a Landsat Collection 2
    folder or ``.tar``: one scene), a raster file (one scene), a folder of single-band files
    (one scene, as :func:`cascade.io.raster.open_source` reads it), a glob (``"scenes/*"``,
    ``**`` recurses; matches that are neither products, folders nor raster files are left
    out), or a text file listing
    inputs one per line, given as ``@list.txt`` or any ``.txt`` file (blank lines and lines
    starting with ``#`` are ignored; relative paths are relative to the list's folder;
    lists do not nest). Raises :class:`BatchError` naming the input that matched nothing.
    """
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    if not items:
        raise BatchError("no inputs given; expected raster files, folders, globs or @list.txt")
    scenes: list[Path] = []
    for item in items:
        text = str(item)
        if not _is_list_file(text):
            scenes += _expand_one(text, "")
            continue
        list_path = Path(text[1:] if text.startswith("@") else text)
        if not list_path.is_file():
            raise BatchError(
                f"input list {list_path} does not exist (from {text!r}); a list is a text file "
                "with one raster file, folder or glob per line"
            )
        try:
            lines = list_path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise BatchError(f"cannot read input list {list_path}: {exc}") from exc
        entries = [(n, s.strip()) for n, s in enumerate(lines, 1)]
        entries = [(n, s) for n, s in entries if s and not s.startswith("#")]
        if not entries:
            raise BatchError(
                f"input list {list_path} lists no inputs; expected one raster file, folder or "
                "glob per line (# starts a comment)"
            )
        for n, entry in entries:
            where = f" (line {n} of {list_path})"
            if _is_list_file(entry):
                raise BatchError(
                    f"input list {list_path} names another list {entry!r}{where}; lists "
                    "do not nest, name its inputs directly"
                )
            resolved = entry if Path(entry).is_absolute() else str(list_path.parent / entry)
            scenes += _expand_one(resolved, where)
    unique: dict[Path, None] = dict.fromkeys(scenes)  # the same scene named twice runs once
    return list(unique)


def scene_name(path: Path) -> str:
    """The name a scene's outputs are called after: the file's stem, or the folder's name.

    A product is named after itself (``S2B_MSIL1C_...SAFE.zip`` -> ``S2B_MSIL1C_...``); a
    Sentinel-2 ``.../GRANULE/<granule>/IMG_DATA`` folder after its granule.
    """
    if is_product(path):
        return product_name(path)
    if path.is_dir():
        return path.parent.name if path.name.upper() == "IMG_DATA" else path.name
    return path.stem


@dataclass(frozen=True)
class SceneJob:
    """One scene of a batch: where it is read from and written to (absolute paths);
    ``valid``: its usable-ground mask, None when the batch writes none."""

    name: str
    input: str
    output: str
    report: str
    valid: str | None = None

    @property
    def outputs(self) -> list[str]:
        """Every file the scene writes."""
        return [self.output, self.report] + ([self.valid] if self.valid else [])


def plan_scenes(
    inputs: str | Path | Sequence[str | Path], out_dir: str | Path, *, valid: bool = False
) -> list[SceneJob]:
    """Expand ``inputs`` (see :func:`expand_inputs`) into jobs writing to ``out_dir`` (with
    ``valid``, each a usable-ground mask too).

    Raises :class:`BatchError` when two scenes would get the same output name (compared
    case-insensitively, as some file systems do) or a scene's output is another scene's input.
    """
    out = Path(os.path.abspath(out_dir))
    jobs: list[SceneJob] = []
    by_name: dict[str, SceneJob] = {}
    for path in expand_inputs(inputs):
        name = scene_name(path)
        job = SceneJob(
            name=name,
            input=str(path),
            output=str(out / f"{name}{MASK_SUFFIX}"),
            report=str(out / f"{name}{REPORT_SUFFIX}"),
            valid=str(out / f"{name}{VALID_SUFFIX}") if valid else None,
        )
        other = by_name.get(name.casefold())
        if other is not None:
            raise BatchError(
                f"inputs {other.input} and {job.input} would both be written to "
                f"{job.output}; rename one of them or mask them in separate batches "
                "(another --out-dir)"
            )
        by_name[name.casefold()] = job
        jobs.append(job)
    outputs = {Path(o): j for j in jobs for o in j.outputs}
    for j in jobs:
        if Path(j.input) in outputs:
            raise BatchError(
                f"input {j.input} is also the output of scene {outputs[Path(j.input)].name}; "
                "use an --out-dir that holds no inputs"
            )
    return jobs
