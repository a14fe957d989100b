"""The stages of a run, each a named step: read and pool, coarse model, route, fine model.

:func:`cascade.engine.run.run_cascade` calls them in order; each takes arrays and returns
arrays, so a stage can be tested (and timed) alone.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.classes import CELL_CLASS_NAMES
from cascade.engine import coarse_read
from cascade.engine.coarse_read import CoarseRead, SceneNodata
from cascade.engine.config import EngineConfig
from cascade.engine.decide import fine_labels
from cascade.engine.source import SceneSource, strip_nodata
from cascade.errors import ModelOutputError
from cascade.geometry import SceneGeometry
from cascade.kernels import (
    PooledScene,
    extract_windows,
    reassemble_patches,
    window_index_maps,
)
from cascade.models.predictor import Predictor
from cascade.routing import Router, RoutingRule, check_routing

__all__ = [
    "cell_valid_share",
    "coarse_input",
    "data_cells_have_data",
    "read_and_pool",
    "route",
    "run_coarse",
    "run_fine",
]


def coarse_input(
    pooled: PooledScene, gain: np.ndarray, offset: np.ndarray
) -> npt.NDArray[np.float32]:
    """The coarse model's input ``(1, H, W, bands)``: pooled, normalised, 0 where no data.

    Shared with training, so that the coarse model sees in training what the engine feeds it.
    """
    x = pooled.values.transpose(1, 2, 0) * gain + offset
    x[pooled.valid_fraction == 0] = 0.0
    return np.ascontiguousarray(x[np.newaxis], dtype=np.float32)


def read_and_pool(
    source: SceneSource,
    band_idx: list[int],
    g: SceneGeometry,
    strip_rows: int,
    coarse_from: str = "auto",
) -> tuple[PooledScene, SceneNodata, CoarseRead]:
    """Step 1: the scene pooled for the coarse model, its No Data as far as read, and what
    was read (from full resolution or an overview: :mod:`cascade.engine.coarse_read`)."""
    return coarse_read.pool(source, band_idx, g, strip_rows, coarse_from)


def cell_valid_share(pooled: PooledScene, g: SceneGeometry) -> npt.NDArray[np.float64]:
    """``(rows, cols)``: the share of each cell's core area that is valid scene data.

    Exact, because pooling weighs every scene pixel by its area: 1 for a cell inside the
    scene without No Data, 32 / 248 for the last cell row of a scene that is 32 pixels into
    it, 0 for a cell without any data pixel.
    """
    s = g.stride
    return pooled.valid_fraction.reshape(g.rows, s, g.cols, s).mean(axis=(1, 3), dtype=np.float64)


def cells_with_data(pooled: PooledScene, g: SceneGeometry) -> npt.NDArray[np.bool_]:
    """``(rows, cols)``: True for cells holding at least one data pixel."""
    return cell_valid_share(pooled, g) > 0


def run_coarse(
    coarse: Predictor,
    pooled: PooledScene,
    g: SceneGeometry,
    gain: np.ndarray,
    offset: np.ndarray,
    has_data: np.ndarray,
) -> npt.NDArray[np.float32]:
    """Step 2: the coarse model's class probabilities ``(rows, cols, 4)`` of every cell."""
    if not has_data.any():  # nothing to look at: every cell is No Data
        probs = np.zeros((g.rows, g.cols, 4), dtype=np.float32)
        probs[..., 3] = 1.0
        return probs
    out = np.asarray(coarse(coarse_input(pooled, gain, offset)), dtype=np.float32)
    if out.shape != (1, g.rows, g.cols, len(CELL_CLASS_NAMES)):
        raise ModelOutputError(
            f"the coarse model returned shape {out.shape}, expected "
            f"(1, {g.rows}, {g.cols}, {len(CELL_CLASS_NAMES)}) for a {g.coarse_shape} input;"
            " its encoder must have output stride "
            f"{g.stride}"
        )
    return out[0]


def data_cells_have_data(probs: np.ndarray, has_data: np.ndarray) -> npt.NDArray[np.float32]:
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


def route(
    router: Router,
    coarse_probs: np.ndarray,
    g: SceneGeometry,
    valid_share: np.ndarray,
    rules: Mapping[str, RoutingRule] | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8], npt.NDArray[np.bool_], dict[str, int]]:
    """Step 3: ``(coarse probabilities, cell classes, routed cells, routed by)``.

    The router picks cells, then each routing rule (:mod:`cascade.routing`) adds its own;
    ``routed by`` counts the cells each added (``"router"`` first). Cells without data
    never go.
    """
    has_data = valid_share > 0
    probs = data_cells_have_data(coarse_probs, has_data)
    cell_classes = probs.argmax(axis=-1).astype(np.uint8)
    routed = check_routing(router(probs), g.grid_shape) & has_data
    routed_by = {"router": int(routed.sum())}
    for name, rule in (rules or {}).items():
        extra = check_routing(rule(probs, valid_share), g.grid_shape, f"routing rule {name!r}")
        extra = extra & has_data & ~routed
        routed_by[name] = int(extra.sum())
        routed |= extra
    return probs, cell_classes, routed, routed_by


def prefetched(items: Iterator[Any], enabled: bool) -> Iterator[Any]:
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


def fine_batches(
    source: SceneSource,
    band_idx: list[int],
    g: SceneGeometry,
    cells: np.ndarray,
    gain: np.ndarray,
    offset: np.ndarray,
    config: EngineConfig,
    nodata: SceneNodata | None = None,
    pixels_read: list[int] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Normalised windows of ``cells`` in batches.

    Reads one window per run of adjacent routed cells of a cell row (their margin windows
    together), so that what is decoded scales with the routed area. ``nodata``: the scene's
    No Data as known; where it is not ``complete`` (coarse input from an overview) the No
    Data of each window read is found and noted in it. No Data pixels (and the fill of
    ``pad_mode="constant"``) are set to 0 after normalisation (the training data's per-band
    mean, where the sidecar has one): whatever value marks them (NaN, 0, 65535) never reaches
    the model. ``pixels_read``: a one-item list that counts the band-pixels decoded.
    """
    pending_cells: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    n_pending = 0
    for run_cells in _cell_runs(cells):
        windows, n_read = _run_windows(source, band_idx, g, run_cells, gain, offset, config, nodata)
        if pixels_read is not None:
            pixels_read[0] += n_read
        pending_cells.append(run_cells)
        pending.append(windows)
        n_pending += len(run_cells)
        while n_pending >= config.batch_size:
            all_cells = np.concatenate(pending_cells)
            all_windows = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield all_cells[: config.batch_size], all_windows[: config.batch_size]
            pending_cells = [all_cells[config.batch_size :]]
            pending = [all_windows[config.batch_size :]]
            n_pending -= config.batch_size
    if n_pending:
        yield np.concatenate(pending_cells), np.concatenate(pending)


def _cell_runs(cells: np.ndarray) -> Iterator[np.ndarray]:
    """Row-major ``cells`` as runs of adjacent cells in one cell row."""
    if not len(cells):
        return
    cells = cells[np.lexsort((cells[:, 1], cells[:, 0]))]
    new = np.ones(len(cells), dtype=bool)
    new[1:] = (np.diff(cells[:, 0]) != 0) | (np.diff(cells[:, 1]) != 1)
    starts = np.flatnonzero(new)
    yield from np.split(cells, starts[1:])


def _run_windows(
    source: SceneSource,
    band_idx: list[int],
    g: SceneGeometry,
    run_cells: np.ndarray,
    gain: np.ndarray,
    offset: np.ndarray,
    config: EngineConfig,
    nodata: SceneNodata | None,
) -> tuple[npt.NDArray[np.float32], int]:
    """The normalised windows of one run of cells, and the band-pixels read for them."""
    rows, cols = window_index_maps(g, run_cells, mode=config.pad_mode)
    used_r, used_c = rows[rows >= 0], cols[cols >= 0]
    r0, r1 = int(used_r.min()), int(used_r.max()) + 1
    c0, c1 = int(used_c.min()), int(used_c.max()) + 1
    strip = source.read(band_idx, r0, r1, c0, c1)
    if nodata is None:
        nd = None
    elif nodata.complete:
        nd = nodata.window(r0, r1, c0, c1)
    else:
        nd = strip_nodata(source, strip, r0, r1, c0, c1)
        nodata.note(r0, c0, nd)
    local_r = np.where(rows >= 0, rows - r0, -1)
    local_c = np.where(cols >= 0, cols - c0, -1)
    windows = normalised_windows(strip, nd, local_r, local_c, gain, offset)
    return windows, int(strip.size)


def normalised_windows(
    strip: np.ndarray,
    nodata: np.ndarray | None,
    rows: np.ndarray,
    cols: np.ndarray,
    gain: np.ndarray,
    offset: np.ndarray,
) -> npt.NDArray[np.float32]:
    """Windows ``(n, patch, patch, bands)`` of a strip by index maps (-1: fill), normalised,
    0 at No Data (``nodata``: the strip's mask, or None) and at fill."""
    windows = extract_windows(strip, rows, cols, fill=0, dtype=np.float32)
    windows *= gain
    windows += offset
    empty = (rows < 0)[:, :, np.newaxis] | (cols < 0)[:, np.newaxis, :]
    if nodata is not None:
        nd = extract_windows(nodata[np.newaxis].view(np.uint8), rows, cols, fill=1)
        empty |= nd[..., 0].astype(bool)
    windows[empty] = 0.0
    return windows


def run_fine(
    fine: Predictor,
    batches: Iterator[tuple[np.ndarray, np.ndarray]],
    g: SceneGeometry,
    threshold: float,
    mask: np.ndarray,
    probabilities: np.ndarray | None,
    progress: Callable[[int, int], None] | None,
    total: int,
    shadow: tuple[int, float] | None = None,
    shadow_probabilities: np.ndarray | None = None,
) -> float:
    """Step 4: the fine model on the routed windows, decided and written into ``mask`` (and
    their probabilities into ``probabilities``); returns the seconds spent in the model.

    ``shadow``: ``(channel, threshold)`` of the fine model's cloud-shadow output, to mark
    shadow (and write its probability into ``shadow_probabilities``); None: cloud only."""
    predict_s = 0.0
    done = 0
    for batch_cells, batch in batches:
        t1 = time.perf_counter()
        probs = np.asarray(fine(batch), dtype=np.float32)
        predict_s += time.perf_counter() - t1
        if probs.ndim != 4 or probs.shape[:3] != batch.shape[:3]:
            raise ModelOutputError(
                f"the fine model returned shape {probs.shape} for a batch of {batch.shape}; "
                f"expected ({batch.shape[0]}, {g.patch}, {g.patch}, classes)"
            )
        if shadow is not None and probs.shape[-1] <= shadow[0]:
            raise ModelOutputError(
                f"the fine model returned {probs.shape[-1]} outputs; its shadow output is "
                f"channel {shadow[0]}"
            )
        cloud = np.ascontiguousarray(probs[..., 0])
        shade = None if shadow is None else np.ascontiguousarray(probs[..., shadow[0]])
        labels = fine_labels(cloud, threshold, shade, 0.5 if shadow is None else shadow[1])
        reassemble_patches(labels, g, batch_cells, out=mask)
        if probabilities is not None:
            reassemble_patches(cloud, g, batch_cells, out=probabilities)
        if shade is not None and shadow_probabilities is not None:
            reassemble_patches(shade, g, batch_cells, out=shadow_probabilities)
        done += len(batch_cells)
        if progress is not None:
            progress(done, total)
    return predict_s
