"""The cascade engine: scene in, full-resolution cloud mask out.

``read -> pool -> coarse -> route -> fine on routed cells -> reassemble -> crop -> write``:

1. The scene is read in strips of rows. Each strip is area-pooled to the coarse resolution
   (:class:`cascade.kernels.AreaPooler`) and its No Data pixels are noted; the whole scene is
   never in memory.
2. The pooled scene is normalised and the coarse model labels every cell Overcast / Partly
   Cloudy / Cloudless / No Data.
3. A router picks the cells for the fine model (:mod:`cascade.routing`); cells without a
   single data pixel are never routed.
4. The mask starts as the coarse classes at full resolution (Overcast and Partly Cloudy ->
   cloud, Cloudless -> clear, No Data -> no data). For the routed cells, each cell row's
   strip is read, their 256 x 256 windows are cut out (mirrored at the scene edges),
   normalised and run through the fine model in batches; a background thread prepares the
   next batch while the model runs. Cloud probabilities >= the threshold become cloud, and
   each window's 248 x 248 core overwrites its cell.
5. Pixels that are No Data in the input are No Data in the mask, whatever the models said.

The patch baseline is the router ``all`` through exactly this code, and coarse-only is
``none``.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from cascade import __version__
from cascade.artifacts import ArtifactError, ModelSpec, check_pair, match_bands
from cascade.classes import CELL_CLASS_NAMES, CLEAR, CLOUD, NODATA
from cascade.errors import CascadeError, InputArrayError
from cascade.geometry import SceneGeometry
from cascade.kernels import (
    AreaPooler,
    PooledScene,
    extract_windows,
    nodata_mask,
    reassemble_patches,
    window_index_maps,
)
from cascade.kernels._common import SUPPORTED_DTYPES, PadMode
from cascade.predictors import Predictor
from cascade.routing import Router, check_routing, get_router

__all__ = [
    "ArraySource",
    "CascadeModel",
    "CascadeResult",
    "EngineConfig",
    "SceneSource",
    "coarse_input",
    "load_cascade_model",
    "mask_array",
    "mask_scene",
    "run_cascade",
]

log = logging.getLogger(__name__)

# Value of each coarse class in the initial mask.
_CLASS_TO_MASK = np.array([CLOUD, CLOUD, CLEAR, NODATA], dtype=np.uint8)
# Strips of this many scene rows are read for pooling (7 bands x 10980 columns x uint16: 150 MB).
DEFAULT_STRIP_ROWS = 1024


class SceneSource(Protocol):
    """What the engine reads a scene through (see :class:`ArraySource`, ``io.RasterSource``).

    ``read`` returns ``(len(bands), row_stop - row_start, width)`` for 0-based ``bands``;
    ``read_nodata`` returns the rows' No Data mask when the source has an explicit one (a
    mask band), else None and the engine compares values with ``nodata``.
    """

    @property
    def height(self) -> int: ...

    @property
    def width(self) -> int: ...

    @property
    def band_names(self) -> tuple[str | None, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    @property
    def nodata(self) -> float | None: ...

    def read(self, bands: Sequence[int], row_start: int, row_stop: int) -> np.ndarray: ...

    def read_nodata(self, row_start: int, row_stop: int) -> np.ndarray | None: ...


@dataclass
class ArraySource:
    """An in-memory ``(bands, height, width)`` scene as a :class:`SceneSource`."""

    array: np.ndarray
    band_names: tuple[str | None, ...] = ()
    nodata: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.array, np.ndarray) or self.array.ndim != 3:
            got = self.array.shape if isinstance(self.array, np.ndarray) else type(self.array)
            hint = (
                " (for one band use scene[numpy.newaxis])"
                if getattr(self.array, "ndim", 0) == 2
                else ""
            )
            raise InputArrayError(
                f"scene must be a numpy array (bands, height, width), got {got}{hint}"
            )
        if self.array.size == 0:
            raise InputArrayError(f"scene is empty: shape {self.array.shape}")
        if not self.band_names:
            self.band_names = (None,) * self.array.shape[0]
        if len(self.band_names) != self.array.shape[0]:
            raise InputArrayError(
                f"{len(self.band_names)} band names for a scene of {self.array.shape[0]} bands"
            )

    @property
    def height(self) -> int:
        return int(self.array.shape[1])

    @property
    def width(self) -> int:
        return int(self.array.shape[2])

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    def read(self, bands: Sequence[int], row_start: int, row_stop: int) -> np.ndarray:
        if list(bands) == list(range(self.array.shape[0])):
            return self.array[:, row_start:row_stop]
        return self.array[list(bands), row_start:row_stop]

    def read_nodata(self, row_start: int, row_stop: int) -> np.ndarray | None:
        return None


@dataclass(frozen=True)
class EngineConfig:
    """How the engine runs; recorded in every output.

    ``router``: ``"cascade"``, ``"all"``, ``"none"`` or a callable (see
    :mod:`cascade.routing`); ``confidence``: with ``cascade``, also route cells whose top
    coarse probability is below this; ``threshold``: cloud probability threshold of the fine
    model (default: the model's own); ``batch_size``: fine patches per model call;
    ``pad_mode``: how windows are filled beyond the scene edge; ``strip_rows``: rows per read
    when pooling; ``keep_probabilities``: also return the cloud probability raster (4 bytes a
    pixel); ``prefetch``: prepare the next fine batch in a background thread;
    ``input_scale``: TOA reflectance per unit of the input (default: the model's, e.g. 1e-4
    for Sentinel-2 L1C digital numbers; 1.0 for inputs already in reflectance).
    """

    router: str | Router = "cascade"
    confidence: float | None = None
    threshold: float | None = None
    batch_size: int = 8
    pad_mode: PadMode = "reflect"
    strip_rows: int = DEFAULT_STRIP_ROWS
    keep_probabilities: bool = False
    prefetch: bool = True
    input_scale: float | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise CascadeError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.strip_rows < 1:
            raise CascadeError(f"strip_rows must be >= 1, got {self.strip_rows}")
        if self.input_scale is not None and not (
            np.isfinite(self.input_scale) and self.input_scale > 0
        ):
            raise CascadeError(
                f"input_scale must be a positive number (reflectance per input unit, e.g. "
                f"1e-4 for Sentinel-2 DN), got {self.input_scale}"
            )
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise CascadeError(f"threshold must be in (0, 1), got {self.threshold}")
        get_router(self.router, confidence=self.confidence)  # validates name and options

    def to_dict(self) -> dict[str, Any]:
        router = (
            self.router
            if isinstance(self.router, str)
            else getattr(self.router, "__name__", repr(self.router))
        )
        return {
            "router": router,
            "confidence": self.confidence,
            "threshold": self.threshold,
            "batch_size": self.batch_size,
            "pad_mode": self.pad_mode,
            "strip_rows": self.strip_rows,
            "input_scale": self.input_scale,
        }


@dataclass
class CascadeModel:
    """A coarse and a fine predictor with their sidecars (what ``--model`` names)."""

    coarse: Predictor
    fine: Predictor
    coarse_spec: ModelSpec
    fine_spec: ModelSpec
    name: str = "model"

    def __post_init__(self) -> None:
        problems = check_pair(self.coarse_spec, self.fine_spec)
        if problems:
            raise ArtifactError(f"model {self.name}: " + "; ".join(problems))

    @property
    def bands(self) -> tuple[str, ...]:
        return self.coarse_spec.bands

    def geometry(self, height: int, width: int) -> SceneGeometry:
        s = self.fine_spec
        return SceneGeometry(height, width, patch=s.patch, margin=s.margin, stride=s.stride)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bands": list(self.bands),
            "coarse": f"{self.coarse_spec.architecture}/{self.coarse_spec.backbone}",
            "fine": f"{self.fine_spec.architecture}/{self.fine_spec.backbone}",
            "coarse_weights_sha256": self.coarse_spec.weights_sha256,
            "fine_weights_sha256": self.fine_spec.weights_sha256,
            "threshold": self.fine_spec.threshold,
        }


def load_cascade_model(folder: str | Path, *, batch_size: int = 8) -> CascadeModel:
    """Load a model pair folder with Keras (imports TensorFlow)."""
    from cascade.models import load_predictors

    coarse, fine, specs = load_predictors(folder, batch_size=batch_size)
    return CascadeModel(coarse, fine, specs.coarse, specs.fine, name=Path(folder).name)


@dataclass
class CascadeResult:
    """What the engine returns.

    ``mask`` ``(height, width)`` uint8 (0 clear, 1 cloud, 255 no data); ``probabilities``
    ``(height, width)`` float32 cloud probability (NaN at No Data; the coarse
    P(Overcast) + P(Partly Cloudy) in cells the fine model did not run) when asked for;
    ``coarse_probabilities`` ``(rows, cols, 4)``; ``cell_classes`` ``(rows, cols)`` uint8;
    ``routed`` ``(rows, cols)`` bool; ``report``: timings, counts and configuration.
    """

    mask: npt.NDArray[np.uint8]
    probabilities: npt.NDArray[np.float32] | None
    coarse_probabilities: npt.NDArray[np.float32]
    cell_classes: npt.NDArray[np.uint8]
    routed: npt.NDArray[np.bool_]
    geometry: SceneGeometry
    report: dict[str, Any] = field(default_factory=dict)


def coarse_input(
    pooled: PooledScene, gain: np.ndarray, offset: np.ndarray
) -> npt.NDArray[np.float32]:
    """The coarse model's input ``(1, H, W, bands)``: pooled, normalised, 0 where no data.

    Shared with training, so that the coarse model sees in training what the engine feeds it.
    """
    x = pooled.values.transpose(1, 2, 0) * gain + offset
    x[pooled.valid_fraction == 0] = 0.0
    return np.ascontiguousarray(x[np.newaxis], dtype=np.float32)


def _data_cells_have_data(probs: np.ndarray, has_data: np.ndarray) -> npt.NDArray[np.float32]:
    """Coarse probabilities where a cell with valid pixels is never No Data.

    The coarse model may call a cell No Data when most of it is completion padding (a
    16-pixel-wide strip at a scene's right edge, say) or when its data is dark; the mask would
    then lose valid pixels. Such cells get the No Data probability spread over the other
    three classes in proportion; cells without any valid pixel are No Data with certainty.
    """
    out = np.array(probs, dtype=np.float32, copy=True)
    data = out[has_data]
    rest = data[:, :3].sum(axis=-1, keepdims=True)
    uniform = np.full_like(data[:, :3], 1.0 / 3.0)
    data[:, :3] = np.where(rest > 0, data[:, :3] / np.maximum(rest, 1e-12), uniform)
    data[:, 3] = 0.0
    out[has_data] = data
    out[~has_data] = (0.0, 0.0, 0.0, 1.0)
    return out


def _prefetched(items: Iterator[Any], enabled: bool) -> Iterator[Any]:
    """Run ``items`` one step ahead in a background thread (errors re-raised here)."""
    if not enabled:
        yield from items
        return
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("done", None))
        except BaseException as exc:  # handed to the consumer
            q.put(("error", exc))

    thread = threading.Thread(target=produce, name="cascade-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join(timeout=5)


def _check_source(source: SceneSource) -> None:
    if np.dtype(source.dtype) not in SUPPORTED_DTYPES:
        raise InputArrayError(
            f"scene has unsupported dtype {source.dtype}; expected one of "
            f"{', '.join(str(d) for d in SUPPORTED_DTYPES)}"
        )


def _strip_nodata(source: SceneSource, strip: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """No Data pixels of a strip; raises for NaN in pixels that are otherwise data."""
    explicit = source.read_nodata(r0, r1)
    nd = explicit if explicit is not None else nodata_mask(strip, source.nodata)
    if strip.dtype.kind == "f":
        nan_pixels = np.isnan(strip).any(axis=0) & ~nd
        if nan_pixels.any():
            rows, cols = np.nonzero(nan_pixels)
            raise InputArrayError(
                f"scene has NaN values in {rows.size} data pixel(s), first at row "
                f"{r0 + rows[0]}, column {cols[0]}; declare NaN as the nodata value (then a "
                "pixel is No Data when all its bands are NaN) or fill the NaNs"
            )
    return nd


def run_cascade(
    source: SceneSource,
    model: CascadeModel,
    config: EngineConfig | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> CascadeResult:
    """Run the cascade on a source (see the module docstring); the core of every entry point.

    ``progress(done, total)`` is called after every fine batch with patch counts.
    """
    config = config or EngineConfig()
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    _check_source(source)
    band_idx = match_bands(source.band_names, model.bands)
    g = model.geometry(source.height, source.width)
    router = get_router(config.router, confidence=config.confidence)
    threshold = config.threshold if config.threshold is not None else model.fine_spec.threshold
    norm = model.fine_spec.normalization
    if config.input_scale is not None:
        norm = dataclasses.replace(norm, scale=config.input_scale)
    gain, offset = norm.coefficients(len(model.bands))

    # 1. Strips: pool for the coarse model, note No Data.
    t0 = time.perf_counter()
    pooler = AreaPooler(g, len(band_idx), nodata=source.nodata)
    nodata_rows: list[tuple[int, np.ndarray]] = []
    any_nodata = False
    for r0 in range(0, g.height, config.strip_rows):
        r1 = min(g.height, r0 + config.strip_rows)
        strip = source.read(band_idx, r0, r1)
        nd = _strip_nodata(source, strip, r0, r1)
        pooler.add(strip, r0, mask=nd)
        if nd.any():
            any_nodata = True
            nodata_rows.append((r0, nd))
    pooled = pooler.result()
    timings["read_and_pool"] = time.perf_counter() - t0
    nodata_full: np.ndarray | None = None
    if any_nodata:
        nodata_full = np.zeros(g.scene_shape, dtype=bool)
        for r0, nd in nodata_rows:
            nodata_full[r0 : r0 + nd.shape[0]] = nd
    del nodata_rows
    # Share of each cell's area that is data (pooled pixels are stride x stride per cell).
    s = g.stride
    cell_valid = pooled.valid_fraction.reshape(g.rows, s, g.cols, s).mean(axis=(1, 3))
    has_data = cell_valid > 0

    # 2. Coarse model.
    t0 = time.perf_counter()
    if has_data.any():
        coarse = np.asarray(model.coarse(coarse_input(pooled, gain, offset)), dtype=np.float32)
        if coarse.shape != (1, g.rows, g.cols, len(CELL_CLASS_NAMES)):
            raise CascadeError(
                f"the coarse model returned shape {coarse.shape}, expected "
                f"(1, {g.rows}, {g.cols}, {len(CELL_CLASS_NAMES)}) for a {g.coarse_shape} input;"
                " its encoder must have output stride "
                f"{g.stride}"
            )
        coarse_probs = coarse[0]
    else:  # nothing to look at: every cell is No Data
        coarse_probs = np.zeros((g.rows, g.cols, 4), dtype=np.float32)
        coarse_probs[..., 3] = 1.0
    timings["coarse"] = time.perf_counter() - t0
    del pooled

    # 3. Route.
    t0 = time.perf_counter()
    coarse_probs = _data_cells_have_data(coarse_probs, has_data)
    cell_classes = coarse_probs.argmax(axis=-1).astype(np.uint8)
    routed = check_routing(router(coarse_probs), g.grid_shape) & has_data
    cells = np.argwhere(routed)  # row-major: cell rows are read in order
    timings["route"] = time.perf_counter() - t0

    # 4. Initial mask from the coarse classes, then the fine model on routed cells.
    t0 = time.perf_counter()
    cell_value = _CLASS_TO_MASK[cell_classes]
    mask = np.repeat(np.repeat(cell_value, g.core, axis=0)[: g.height], g.core, axis=1)
    mask = np.ascontiguousarray(mask[:, : g.width])
    probabilities: np.ndarray | None = None
    if config.keep_probabilities:
        cell_cloud = (coarse_probs[..., 0] + coarse_probs[..., 1]).astype(np.float32)
        probabilities = np.repeat(np.repeat(cell_cloud, g.core, axis=0)[: g.height], g.core, 1)
        probabilities = np.ascontiguousarray(probabilities[:, : g.width])
    timings["fill_from_coarse"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    predict_s = 0.0
    done = 0
    batches = _fine_batches(source, band_idx, g, cells, gain, offset, config)
    for batch_cells, batch in _prefetched(batches, config.prefetch):
        t1 = time.perf_counter()
        probs = np.asarray(model.fine(batch), dtype=np.float32)
        predict_s += time.perf_counter() - t1
        if probs.ndim != 4 or probs.shape[:3] != batch.shape[:3]:
            raise CascadeError(
                f"the fine model returned shape {probs.shape} for a batch of {batch.shape}; "
                f"expected ({batch.shape[0]}, {g.patch}, {g.patch}, classes)"
            )
        cloud = np.ascontiguousarray(probs[..., 0])
        labels = np.where(cloud >= threshold, CLOUD, CLEAR).astype(np.uint8)
        reassemble_patches(labels, g, batch_cells, out=mask)
        if probabilities is not None:
            reassemble_patches(cloud, g, batch_cells, out=probabilities)
        done += len(batch_cells)
        if progress is not None:
            progress(done, len(cells))
    timings["fine"] = time.perf_counter() - t0
    timings["fine_predict"] = predict_s

    # 5. Input No Data wins.
    t0 = time.perf_counter()
    if nodata_full is not None:
        mask[nodata_full] = NODATA
        if probabilities is not None:
            probabilities[nodata_full] = np.nan
    timings["apply_nodata"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start

    report = _report(g, model, config, threshold, cell_classes, routed, has_data, mask, timings)
    return CascadeResult(
        mask=mask,
        probabilities=probabilities,
        coarse_probabilities=coarse_probs,
        cell_classes=cell_classes,
        routed=routed,
        geometry=g,
        report=report,
    )


def _fine_batches(
    source: SceneSource,
    band_idx: list[int],
    g: SceneGeometry,
    cells: np.ndarray,
    gain: np.ndarray,
    offset: np.ndarray,
    config: EngineConfig,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Normalised windows of ``cells`` in batches, reading one strip per cell row."""
    pending_cells: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    n_pending = 0
    fill = 0.0 if source.nodata is None or np.isnan(source.nodata) else float(source.nodata)
    for row in np.unique(cells[:, 0]) if len(cells) else []:
        row_cells = cells[cells[:, 0] == row]
        rows, cols = window_index_maps(g, row_cells, mode=config.pad_mode)
        used = rows[rows >= 0]
        lo, hi = int(used.min()), int(used.max()) + 1
        strip = source.read(band_idx, lo, hi)
        local = np.where(rows >= 0, rows - lo, -1)
        windows = extract_windows(strip, local, cols, fill=fill, dtype=np.float32)
        windows *= gain
        windows += offset
        pending_cells.append(row_cells)
        pending.append(windows)
        n_pending += len(row_cells)
        while n_pending >= config.batch_size:
            all_cells = np.concatenate(pending_cells)
            all_windows = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield all_cells[: config.batch_size], all_windows[: config.batch_size]
            pending_cells = [all_cells[config.batch_size :]]
            pending = [all_windows[config.batch_size :]]
            n_pending -= config.batch_size
    if n_pending:
        yield np.concatenate(pending_cells), np.concatenate(pending)


def _report(
    g: SceneGeometry,
    model: CascadeModel,
    config: EngineConfig,
    threshold: float,
    cell_classes: np.ndarray,
    routed: np.ndarray,
    has_data: np.ndarray,
    mask: np.ndarray,
    timings: dict[str, float],
) -> dict[str, Any]:
    counts = np.bincount(cell_classes.ravel(), minlength=4)
    n_routed = int(routed.sum())
    n_data_cells = int(has_data.sum())
    total = timings["total"]
    fine = timings["fine"]
    report: dict[str, Any] = {
        "cloud_cascade": __version__,
        "geometry": g.to_dict(),
        "model": model.describe(),
        "config": config.to_dict() | {"threshold_used": threshold},
        "cells_per_class": {n: int(c) for n, c in zip(CELL_CLASS_NAMES, counts, strict=True)},
        "cells": g.n_cells,
        "cells_with_data": n_data_cells,
        "patches_run": n_routed,
        "routed_fraction": n_routed / g.n_cells,
        "pixels": {
            "clear": int((mask == CLEAR).sum()),
            "cloud": int((mask == CLOUD).sum()),
            "nodata": int((mask == NODATA).sum()),
        },
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    # The patch baseline would run the fine stage on every cell with data, at the per-patch
    # cost measured here, and everything else the same: an estimate, not a measurement
    # (benchmarks/engine.py measures both routers side by side).
    if n_routed:
        per_patch = fine / n_routed
        all_estimate = total - fine + per_patch * n_data_cells
        report["speedup_vs_all_estimate"] = round(all_estimate / total, 3)
        report["estimated_all_s"] = round(all_estimate, 3)
        report["fine_s_per_patch"] = round(per_patch, 4)
    else:
        report["speedup_vs_all_estimate"] = None
    return report


def mask_array(
    scene: np.ndarray,
    model: CascadeModel | str | Path,
    *,
    band_names: Sequence[str | None] | None = None,
    nodata: float | None = None,
    config: EngineConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CascadeResult:
    """Cloud mask of an in-memory ``(bands, height, width)`` scene.

    ``band_names`` name the scene's bands (matched to the model's, in any order); without
    them the scene must have exactly the model's bands in its order. ``model`` is a loaded
    :class:`CascadeModel` or a model pair folder.
    """
    if not isinstance(model, CascadeModel):
        model = load_cascade_model(model, batch_size=(config or EngineConfig()).batch_size)
    source = ArraySource(scene, tuple(band_names or ()), nodata)
    return run_cascade(source, model, config, progress=progress)


def mask_scene(
    inputs: str | Path | Sequence[str | Path],
    output: str | Path,
    model: CascadeModel | str | Path,
    *,
    config: EngineConfig | None = None,
    probabilities: str | Path | None = None,
    coarse_grid: str | Path | None = None,
    report: str | Path | None = None,
    overwrite: bool = False,
    resampling: str = "bilinear",
    progress: Callable[[int, int], None] | None = None,
) -> CascadeResult:
    """Mask a scene on disk and write a georeferenced COG mask (and optional extras).

    ``inputs``: a multi-band raster, a folder of single-band files, or a list of them (see
    :func:`cascade.io.open_source`). ``probabilities`` (float32 cloud probability),
    ``coarse_grid`` (uint8 cell classes, one pixel per cell) and ``report`` (JSON) are
    written too when given. Every output is checked before any work starts and written
    atomically; existing files need ``overwrite``.
    """
    from cascade import io

    config = config or EngineConfig()
    if probabilities is not None and not config.keep_probabilities:
        config = dataclasses.replace(config, keep_probabilities=True)
    outputs = [Path(p) for p in (output, probabilities, coarse_grid, report) if p is not None]
    _check_outputs(outputs, overwrite)
    if not isinstance(model, CascadeModel):
        model = load_cascade_model(model, batch_size=config.batch_size)
    with io.open_source(inputs, resampling=resampling) as source:
        result = run_cascade(source, model, config, progress=progress)
        t0 = time.perf_counter()
        tags = {
            "cloud_cascade_version": __version__,
            "model": model.describe(),
            "config": result.report["config"],
            "routing": {
                "cells_per_class": result.report["cells_per_class"],
                "patches_run": result.report["patches_run"],
                "cells": result.report["cells"],
            },
            "inputs": [str(p) for p in source.paths],
            "classes": "0 clear, 1 cloud, 255 no data",
        }
        io.write_raster(
            output,
            result.mask,
            crs=source.crs,
            transform=source.transform,
            nodata=NODATA,
            tags=tags,
            descriptions=["cloud_mask"],
            overwrite=overwrite,
        )
        if probabilities is not None and result.probabilities is not None:
            io.write_raster(
                probabilities,
                result.probabilities,
                crs=source.crs,
                transform=source.transform,
                nodata=float("nan"),
                tags=tags,
                descriptions=["cloud_probability"],
                overwrite=overwrite,
                overview_resampling="average",
            )
        if coarse_grid is not None:
            grid_transform = io.scaled_transform(source.transform, result.geometry.core)
            io.write_raster(
                coarse_grid,
                result.cell_classes,
                crs=source.crs,
                transform=grid_transform,
                nodata=None,
                tags=tags
                | {"classes": ", ".join(f"{i} {n}" for i, n in enumerate(CELL_CLASS_NAMES))},
                descriptions=["coarse_class"],
                overwrite=overwrite,
            )
        result.report["timings_s"]["write"] = round(time.perf_counter() - t0, 4)
        result.report["inputs"] = [str(p) for p in source.paths]
        result.report["outputs"] = [str(p) for p in outputs]
    if report is not None:
        import json

        from cascade._files import atomic_output

        with atomic_output(report, overwrite=overwrite) as tmp:
            tmp.write_text(json.dumps(result.report, indent=2) + "\n")
    return result


def _check_outputs(outputs: list[Path], overwrite: bool) -> None:
    """Fail before any work when an output exists or its folder cannot be written."""
    import os

    from cascade._files import OutputExistsError

    if len({p.resolve() for p in outputs}) != len(outputs):
        raise CascadeError(f"outputs must be different files, got {[str(p) for p in outputs]}")
    for p in outputs:
        if p.exists() and not overwrite:
            raise OutputExistsError(f"{p} already exists; pass --overwrite to replace it")
        folder = p.parent if str(p.parent) else Path(".")
        if not folder.is_dir():
            raise CascadeError(f"cannot write {p}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise CascadeError(f"cannot write {p}: folder {folder} is not writable")
