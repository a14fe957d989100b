"""Training sets derived from (scene, full-resolution mask) pairs, streamed into HDF5.

Two files per run (schema in ``docs/training.md``):

``coarse.h5``
    Crops of ``grid x grid`` cells: the scene area-pooled to the coarse resolution exactly as
    the engine pools it (``x``: ``(grid * stride, grid * stride, bands)`` float32 reflectance,
    ``valid``: the share of each coarse pixel that is data) and the cells' classes one-hot
    (``y``: ``(grid, grid, 4)``), each crop stored in four flips (none, left-right, up-down,
    both), as the paper augments.
``fine.h5``
    ``patch x patch`` windows (``x``: reflectance, mirrored beyond the scene edge as the engine
    does; ``y``: uint8 mask 0 clear / 1 cloud / 255 no data) sampled with the paper's
    re-weighting: cells are binned by cloud ratio into ten bins, the two extreme bins (< 10 %,
    > 90 %) get 16.7 % of the samples each and the other eight 8.3 % each (weights of empty
    bins go to the others).

Splits are by scene, never by window (a scene's windows overlap and would leak), drawn with the
recipe's seed and recorded per sample and per scene. Scenes are processed one at a time and
appended to resizable, chunked, compressed datasets, so only one scene is ever in memory.
Normalisation statistics (per-band mean and standard deviation of the training split's data
pixels) are stored with the fine set for the models' sidecars.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from cascade import __version__
from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from cascade.errors import DeriveError
from cascade.geometry import SceneGeometry
from cascade.kernels import (
    AreaPooler,
    NodataPolicy,
    extract_patches,
    pool_labels,
)
from training.datasets import LabelledScene

__all__ = [
    "COARSE_SCHEMA",
    "FINE_SCHEMA",
    "SCHEMA_VERSION",
    "DeriveConfig",
    "DeriveError",
    "assign_splits",
    "derive",
    "open_set",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
COARSE_SCHEMA = "cloud-cascade-coarse-set"
FINE_SCHEMA = "cloud-cascade-fine-set"
SPLITS = ("train", "val", "test")
# Cloud-ratio bins of the fine set and the share of samples each gets (paper, Sec. III).
BIN_EDGES = np.linspace(0.0, 1.0, 11)
BIN_WEIGHTS = np.array([16.7] + [8.3] * 8 + [16.7]) / 100.0
FLIPS = ("none", "lr", "ud", "both")


@dataclass(frozen=True)
class DeriveConfig:
    """How to cut scenes into training samples."""

    patch: int = 256
    margin: int = 4
    stride: int = 32
    grid: int = 8
    fine_windows_per_scene: int = 64
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    nodata_fraction: float = 1.0
    mixed_nodata: str = "ignore"

    def __post_init__(self) -> None:
        if self.grid < 1:
            raise DeriveError(f"grid must be >= 1 cells, got {self.grid}")
        if self.fine_windows_per_scene < 1:
            raise DeriveError(
                f"fine_windows_per_scene must be >= 1, got {self.fine_windows_per_scene}"
            )
        if not (
            0 <= self.val_fraction < 1
            and 0 <= self.test_fraction < 1
            and self.val_fraction + self.test_fraction < 1
        ):
            raise DeriveError(
                f"val_fraction ({self.val_fraction}) and test_fraction ({self.test_fraction}) "
                "must be in [0, 1) and leave some scenes for training"
            )
        SceneGeometry(1, 1, patch=self.patch, margin=self.margin, stride=self.stride)

    @property
    def policy(self) -> NodataPolicy:
        return NodataPolicy(nodata_fraction=self.nodata_fraction, mixed=self.mixed_nodata)  # type: ignore[arg-type]


def assign_splits(names: list[str], config: DeriveConfig) -> dict[str, str]:
    """Scene -> split, drawn with the seed; at least one training scene, one validation
    scene when asked for and there are two or more scenes."""
    if not names:
        raise DeriveError("no scenes to derive from; check the recipe's data sources")
    if len(set(names)) != len(names):
        raise DeriveError(
            f"scene names repeat: {sorted(n for n in set(names) if names.count(n) > 1)}"
        )
    rng = np.random.default_rng(config.seed)
    order = [names[i] for i in rng.permutation(len(names))]
    n = len(order)
    n_val = round(config.val_fraction * n)
    n_test = round(config.test_fraction * n)
    if config.val_fraction > 0 and n_val == 0 and n >= 2:
        n_val = 1
    n_test = min(n_test, max(0, n - 1 - n_val))
    split = {}
    for i, name in enumerate(order):
        split[name] = "val" if i < n_val else "test" if i < n_val + n_test else "train"
    return split


def _check_scene(scene: LabelledScene) -> np.ndarray:
    """The scene's mask, checked: present and holding only mask codes (cloud shadow is
    unusable ground in the coarse classes, clear in the fine set's windows)."""
    if scene.mask is None:
        raise DeriveError(f"scene {scene.name!r} has no mask; training needs labelled scenes")
    bad = ~np.isin(scene.mask, (CLEAR, CLOUD, SHADOW, NODATA))
    if bad.any():
        raise DeriveError(
            f"scene {scene.name!r}: mask holds values {sorted(np.unique(scene.mask[bad]).tolist())}"
            f"; expected {CLEAR} clear, {CLOUD} cloud, {SHADOW} cloud shadow, {NODATA} no data"
        )
    return scene.mask


def _geometry(cfg: DeriveConfig, height: int, width: int) -> SceneGeometry:
    return SceneGeometry(height, width, patch=cfg.patch, margin=cfg.margin, stride=cfg.stride)


def _coarse_samples(scene: LabelledScene, cfg: DeriveConfig) -> Iterator[tuple[np.ndarray, ...]]:
    """(x, valid, y_onehot) crops of grid x grid cells, before flips."""
    mask = _check_scene(scene)
    g = _geometry(cfg, *mask.shape)
    nodata = mask == NODATA
    pooler = AreaPooler(g, scene.bands.shape[0])
    pooler.add(scene.bands, 0, mask=nodata)
    pooled = pooler.result()
    classes = pool_labels(mask, g, cfg.policy)
    s, n = cfg.stride, cfg.grid
    rows, cols = -(-g.rows // n) * n, -(-g.cols // n) * n  # whole crops; the rest is No Data
    x = np.zeros((pooled.values.shape[0], rows * s, cols * s), np.float32)
    v = np.zeros((rows * s, cols * s), np.float32)
    c = np.full((rows, cols), 3, np.uint8)  # NO_DATA
    x[:, : g.rows * s, : g.cols * s] = pooled.values
    v[: g.rows * s, : g.cols * s] = pooled.valid_fraction
    c[: g.rows, : g.cols] = classes
    onehot = np.eye(4, dtype=np.float32)[c]
    for i in range(0, rows, n):
        for j in range(0, cols, n):
            valid = v[i * s : (i + n) * s, j * s : (j + n) * s]
            if not valid.any():
                continue  # a crop of padding only teaches nothing
            yield (
                x[:, i * s : (i + n) * s, j * s : (j + n) * s].transpose(1, 2, 0),
                valid,
                onehot[i : i + n, j : j + n],
            )


def _flipped(arrays: tuple[np.ndarray, ...]) -> Iterator[tuple[np.ndarray, ...]]:
    for flip in FLIPS:
        out = []
        for a in arrays:
            if flip in ("lr", "both"):
                a = a[:, ::-1]
            if flip in ("ud", "both"):
                a = a[::-1]
            out.append(np.ascontiguousarray(a))
        yield tuple(out)


def _fine_cells(scene: LabelledScene, cfg: DeriveConfig, rng: np.random.Generator) -> np.ndarray:
    """Cells drawn with the paper's cloud-ratio bin weights."""
    from cascade.kernels import cell_counts

    mask = _check_scene(scene)
    g = _geometry(cfg, *mask.shape)
    counts = cell_counts(mask, g)
    valid = counts[..., 0] + counts[..., 1]
    cells = np.argwhere(valid > 0)
    if len(cells) == 0:
        return np.zeros((0, 2), np.int64)
    ratio = counts[cells[:, 0], cells[:, 1], 1] / valid[cells[:, 0], cells[:, 1]]
    bins = np.clip(np.digitize(ratio, BIN_EDGES[1:-1]), 0, 9)
    present = np.unique(bins)
    weights = np.zeros(10)
    weights[present] = BIN_WEIGHTS[present]
    weights /= weights.sum()
    # Per-cell probability: its bin's share split evenly among the bin's cells.
    per_bin = np.bincount(bins, minlength=10)
    p = weights[bins] / per_bin[bins]
    k = cfg.fine_windows_per_scene
    replace = k > len(cells)
    pick = rng.choice(len(cells), size=k, replace=replace, p=p)
    return cells[np.sort(pick)]


class _Appender:
    """Resizable, chunked, compressed datasets that grow sample by sample."""

    def __init__(self, h5: h5py.File, specs: dict[str, tuple[tuple[int, ...], str]]) -> None:
        self.ds = {}
        for name, (shape, dtype) in specs.items():
            self.ds[name] = h5.create_dataset(
                name,
                shape=(0, *shape),
                maxshape=(None, *shape),
                dtype=dtype,
                chunks=(1, *shape) if shape else (4096,),
                compression="lzf" if shape else None,
            )
        self.n = 0

    def append(self, rows: dict[str, np.ndarray]) -> None:
        k = len(next(iter(rows.values())))
        for name, ds in self.ds.items():
            ds.resize(self.n + k, axis=0)
            ds[self.n : self.n + k] = rows[name]
        self.n += k


class _SetWriter:
    """The two sets being written: their datasets, the scenes seen and the band statistics."""

    def __init__(self, hc: h5py.File, hf: h5py.File, cfg: DeriveConfig, splits: dict[str, str]):
        self.hc, self.hf, self.cfg = hc, hf, cfg
        self.splits = splits
        self.fixed_splits = bool(splits)  # drawn before reading: every scene must be listed
        self.seen: list[str] = []
        self.bands: tuple[str, ...] | None = None
        self.coarse: _Appender | None = None
        self.fine: _Appender | None = None
        self.stats = np.zeros((0, 3))  # per band: sum, sum of squares, count (train data)

    def _start(self, bands: tuple[str, ...]) -> tuple[_Appender, _Appender]:
        """Create the datasets for scenes of ``bands``."""
        cfg, nb = self.cfg, len(bands)
        cs, pw = cfg.grid * cfg.stride, cfg.patch
        self.bands = bands
        self.coarse = _Appender(
            self.hc,
            {
                "x": ((cs, cs, nb), "float32"),
                "valid": ((cs, cs), "float32"),
                "y": ((cfg.grid, cfg.grid, 4), "float32"),
                "scene": ((), "int32"),
                "flip": ((), "int8"),
            },
        )
        self.fine = _Appender(
            self.hf,
            {
                "x": ((pw, pw, nb), "float32"),
                "y": ((pw, pw), "uint8"),
                "cloud_ratio": ((), "float32"),
                "scene": ((), "int32"),
            },
        )
        self.stats = np.zeros((nb, 3))
        return self.coarse, self.fine

    def _appenders(self, scene: LabelledScene) -> tuple[_Appender, _Appender]:
        if self.coarse is None or self.fine is None or self.bands is None:
            return self._start(tuple(scene.band_names))
        if tuple(scene.band_names) != self.bands:
            raise DeriveError(
                f"scene {scene.name!r} has bands {list(scene.band_names)}, the earlier "
                f"scenes {list(self.bands)}; derive one band set per run"
            )
        return self.coarse, self.fine

    def add(self, scene: LabelledScene, rng: np.random.Generator) -> None:
        """Cut one labelled scene into coarse crops and fine windows."""
        mask = _check_scene(scene)
        if scene.name in self.seen:
            raise DeriveError(f"scene name {scene.name!r} appears twice")
        coarse, fine = self._appenders(scene)
        split = self.splits.get(scene.name)
        if split is None:
            if self.fixed_splits:
                raise DeriveError(f"scene {scene.name!r} is not among scene_names")
            split = self.splits[scene.name] = "train"
        sid = len(self.seen)
        self.seen.append(scene.name)
        for crop in _coarse_samples(scene, self.cfg):
            for f, (x, v, y) in enumerate(_flipped(crop)):
                coarse.append(
                    {
                        "x": x[None],
                        "valid": v[None],
                        "y": y[None],
                        "scene": np.array([sid]),
                        "flip": np.array([f]),
                    }
                )
        fine_rows = _fine_rows(scene, mask, self.cfg, rng, sid)
        if fine_rows is not None:
            fine.append(fine_rows)
        if split == "train":
            vals = scene.bands[:, mask != NODATA].astype(np.float64)
            self.stats[:, 0] += vals.sum(axis=1)
            self.stats[:, 1] += (vals**2).sum(axis=1)
            self.stats[:, 2] += vals.shape[1]
        log.info("derived %s (%s)", scene.name, split)

    def finish(self, provenance: dict[str, Any] | None) -> dict[str, Any]:
        """Write the splits and attributes; the summary of the run."""
        if self.bands is None or self.coarse is None or self.fine is None:
            raise DeriveError("no scenes to derive from; check the recipe's data sources")
        if self.stats[0, 2] == 0:
            raise DeriveError("the training split has no data pixels; add scenes")
        stats, seen, splits, cfg = self.stats, self.seen, self.splits, self.cfg
        mean = stats[:, 0] / stats[:, 2]
        std = np.sqrt(np.maximum(stats[:, 1] / stats[:, 2] - mean**2, 1e-12))
        split_codes = np.array([SPLITS.index(splits[n]) for n in seen], np.int8)
        for h5, schema, app in (
            (self.hc, COARSE_SCHEMA, self.coarse),
            (self.hf, FINE_SCHEMA, self.fine),
        ):
            h5.create_dataset("split", data=split_codes[app.ds["scene"][:]])
            h5.attrs.update(
                {
                    "schema": schema,
                    "schema_version": SCHEMA_VERSION,
                    "bands": json.dumps(list(self.bands)),
                    "scenes": json.dumps(seen),
                    "scene_splits": json.dumps({n: splits[n] for n in seen}),
                    "config": json.dumps(cfg.__dict__),
                    "norm_mean": mean.astype(np.float32),
                    "norm_std": std.astype(np.float32),
                    "cloud_cascade": __version__,
                    "provenance": json.dumps(provenance or {}),
                }
            )
        return {
            "bands": list(self.bands),
            "scenes": {s: sum(1 for n in seen if splits[n] == s) for s in SPLITS},
            "coarse_samples": {
                s: int((self.hc["split"][:] == i).sum()) for i, s in enumerate(SPLITS)
            },
            "fine_samples": {
                s: int((self.hf["split"][:] == i).sum()) for i, s in enumerate(SPLITS)
            },
            "norm_mean": mean.round(5).tolist(),
            "norm_std": std.round(5).tolist(),
        }


def _fine_rows(
    scene: LabelledScene, mask: np.ndarray, cfg: DeriveConfig, rng: np.random.Generator, sid: int
) -> dict[str, np.ndarray] | None:
    """The fine set's rows of one scene: windows drawn by cloud ratio, None when none (its
    targets are cloud / clear / No Data: cloud shadow is clear there)."""
    if (mask == SHADOW).any():
        mask = np.where(mask == SHADOW, CLEAR, mask).astype(np.uint8)
        scene = dataclasses.replace(scene, mask=mask)
    cells = _fine_cells(scene, cfg, rng)
    if not len(cells):
        return None
    g = _geometry(cfg, *scene.bands.shape[1:])
    xs = extract_patches(scene.bands, g, cells, mode="reflect")
    ys = extract_patches(mask[None], g, cells, mode="reflect")[..., 0]
    m = cfg.margin
    core = ys[:, m : -m or None, m : -m or None]
    n_cloud = (core == CLOUD).sum(axis=(1, 2))
    n_valid = n_cloud + (core == CLEAR).sum(axis=(1, 2))
    ratio = (n_cloud / np.maximum(n_valid, 1)).astype(np.float32)
    return {"x": xs, "y": ys, "cloud_ratio": ratio, "scene": np.full(len(cells), sid, np.int32)}


def derive(
    scenes: Iterable[LabelledScene],
    out_dir: str | Path,
    config: DeriveConfig | None = None,
    *,
    scene_names: list[str] | None = None,
    overwrite: bool = False,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``coarse.h5`` and ``fine.h5`` under ``out_dir`` from labelled scenes.

    ``scenes`` is consumed once, one scene at a time; ``scene_names`` (their names, in order)
    lets the splits be drawn before reading. Returns a summary (samples per split, bands).
    Both files are written under temporary names and renamed when complete.
    """
    import os

    cfg = config or DeriveConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final = {"coarse": out / "coarse.h5", "fine": out / "fine.h5"}
    for p in final.values():
        if p.exists() and not overwrite:
            raise DeriveError(
                f"{p} already exists; pass overwrite=True (--overwrite) to replace it"
            )
    tmp = {k: p.with_suffix(".h5.tmp") for k, p in final.items()}
    rng = np.random.default_rng([cfg.seed, 1])
    splits: dict[str, str] = assign_splits(scene_names, cfg) if scene_names else {}
    try:
        with h5py.File(tmp["coarse"], "w") as hc, h5py.File(tmp["fine"], "w") as hf:
            writer = _SetWriter(hc, hf, cfg, splits)
            for scene in scenes:
                writer.add(scene, rng)
            summary = writer.finish(provenance)
        for k in ("coarse", "fine"):
            os.replace(tmp[k], final[k])
    finally:
        for p in tmp.values():
            if p.exists():
                p.unlink()
    return summary


def open_set(path: str | Path, kind: str) -> h5py.File:
    """Open a derived set read-only, checking its schema and version."""
    schema = {"coarse": COARSE_SCHEMA, "fine": FINE_SCHEMA}[kind]
    path = Path(path)
    if not path.is_file():
        raise DeriveError(f"training set {path} does not exist; run `cascade train derive` first")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise DeriveError(f"{path} is not a readable HDF5 file: {exc}") from exc
    got, version = h5.attrs.get("schema"), h5.attrs.get("schema_version")
    if got != schema or version != SCHEMA_VERSION:
        h5.close()
        raise DeriveError(
            f"{path} has schema {got!r} version {version}; expected {schema!r} version "
            f"{SCHEMA_VERSION}; derive it again with this cloud-cascade"
        )
    return h5
