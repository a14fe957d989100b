"""Mask panels for the benchmark report: natural colour, labels and each method's mask."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from benchmarks.plots import (
    CLEAR_RGB,
    CLOUD_RGB,
    MAX_WIDTH_IN,
    NODATA_RGB,
    OUTLINE_COLOR,
    SHADOW_RGB,
    _new_figure,
    _save,
    _text,
)
from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["mask_panels"]


# --------------------------------------------------------------------------------------------
# Mask panels


def _stretch(rgb: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """``(H, W, 3)`` picture: shared 2-98 % stretch over valid pixels, invalid ones grey.

    Valid pixels have all three bands finite and not all three zero (a common fill value).
    """
    data = np.asarray(rgb, dtype=np.float64)
    valid = np.all(np.isfinite(data), axis=0) & np.any(data != 0, axis=0)
    out = np.empty((*data.shape[1:], 3), dtype=np.float32)
    out[...] = NODATA_RGB
    if valid.any():
        values = data[:, valid]
        lo, hi = (float(v) for v in np.percentile(values, [2.0, 98.0]))
        scale = hi - lo if hi > lo else 1.0
        stretched = np.clip((values - lo) / scale, 0.0, 1.0)
        out[valid] = stretched.T
    return out


def _mask_picture(mask: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """``(H, W, 3)`` picture of a mask in the clear / cloud / shadow / no-data colours."""
    out = np.empty((*mask.shape, 3), dtype=np.float32)
    out[mask == CLEAR] = CLEAR_RGB
    out[mask == CLOUD] = CLOUD_RGB
    out[mask == NODATA] = NODATA_RGB
    out[mask == SHADOW] = SHADOW_RGB
    return out


def _check_mask(label: str, mask: Any, shape: tuple[int, int]) -> npt.NDArray[Any]:
    if not isinstance(mask, np.ndarray):
        raise ValueError(
            f"mask {label!r} is a {type(mask).__name__}; expected a numpy array of shape {shape}"
        )
    if mask.shape != shape:
        raise ValueError(
            f"mask {label!r} has shape {mask.shape}; expected {shape}, the (H, W) of rgb"
        )
    if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == np.bool_):
        raise ValueError(
            f"mask {label!r} has dtype {mask.dtype}; expected integer codes "
            f"({CLEAR} clear, {CLOUD} cloud, {SHADOW} shadow, {NODATA} no data), e.g. uint8"
        )
    codes = np.unique(mask)
    bad = codes[~np.isin(codes, (CLEAR, CLOUD, SHADOW, NODATA))]
    if bad.size:
        raise ValueError(
            f"mask {label!r} holds values {bad[:5].tolist()}; expected only "
            f"{CLEAR} (clear), {CLOUD} (cloud), {SHADOW} (shadow) and {NODATA} (no data)"
        )
    return mask


def _check_routed(routed: Any, core: float, shape: tuple[int, int]) -> npt.NDArray[np.intp]:
    """``(n, 2)`` row/col indices of the routed cells; each must start inside the picture."""
    if not isinstance(routed, np.ndarray) or routed.ndim != 2:
        got = routed.shape if isinstance(routed, np.ndarray) else type(routed).__name__
        raise ValueError(f"routed: got {got}; expected a 2-D (rows, cols) boolean array")
    if routed.dtype != np.bool_ and (
        not np.issubdtype(routed.dtype, np.integer) or not np.isin(routed, (0, 1)).all()
    ):
        raise ValueError(
            f"routed has dtype {routed.dtype}; expected booleans (or integers 0 and 1)"
        )
    cells = np.argwhere(routed.astype(bool))
    height, width = shape
    if cells.size:
        row, col = (int(v) for v in cells.max(axis=0))
        if row * core >= height or col * core >= width:
            raise ValueError(
                f"routed grid {routed.shape} has a routed cell at row {row} / col {col}, which "
                f"starts outside the {height} x {width} picture with cells of {core:g} px; "
                f"expected a grid of at most {math.ceil(height / core)} x "
                f"{math.ceil(width / core)} cells (pass core=248/step for decimated pictures)"
            )
    return cells


def _outline_cells(
    ax: Axes, cells: npt.NDArray[np.intp], core: float, shape: tuple[int, int]
) -> None:
    """Draw each routed cell as an unfilled rectangle, clipped to the picture."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    height, width = shape
    boxes = []
    for row, col in cells:
        top, left = row * core, col * core
        bottom, right = min((row + 1) * core, height), min((col + 1) * core, width)
        # imshow puts pixel p's centre at p, so its edges are at p - 0.5 and p + 0.5.
        boxes.append(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top))
    ax.add_collection(
        PatchCollection(boxes, facecolor="none", edgecolor=OUTLINE_COLOR, linewidth=1.0, zorder=3),
        autolim=False,
    )


def mask_panels(
    path: str | Path,
    rgb: np.ndarray,
    panels: Sequence[tuple[str, np.ndarray]],
    *,
    routed: np.ndarray | None = None,
    outline: Collection[str] = (),
    core: float = 248.0,
    title: str | None = None,
) -> Path:
    """One row of panels: the natural-colour picture, then each ``(label, mask)`` in order.

    ``rgb`` is ``(3, H, W)`` red/green/blue reflectance (any float range; a shared 2-98 %
    stretch over valid pixels). Each mask is ``(H, W)`` with 0 clear, 1 cloud, 255 no data.
    On the panels whose label is in ``outline`` ("RGB" for the picture), every ``True`` cell
    of the ``(rows, cols)`` grid ``routed`` is outlined; cell ``(i, j)`` covers rows
    ``[i*core, (i+1)*core)`` and columns ``[j*core, (j+1)*core)`` of the panel (clipped),
    so pass ``core=248/step`` for a picture decimated by ``step``.
    """
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[0] != 3:
        got = rgb.shape if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"rgb: got {got}; expected a (3, H, W) array of red, green, blue")
    shape = (int(rgb.shape[1]), int(rgb.shape[2]))
    if min(shape) < 1:
        raise ValueError(f"rgb has shape {rgb.shape}; expected H and W of at least 1")
    if not np.issubdtype(rgb.dtype, np.number) or np.iscomplexobj(rgb):
        raise ValueError(f"rgb has dtype {rgb.dtype}; expected real numbers (reflectance)")
    if (
        isinstance(core, bool)
        or not isinstance(core, int | float | np.integer | np.floating)
        or not (math.isfinite(core) and core > 0)
    ):
        raise ValueError(f"core: got {core!r}; expected a positive cell side in pixels")
    items: list[tuple[str, npt.NDArray[Any]]] = []
    for index, item in enumerate(panels):
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise ValueError(f"panels[{index}]: got {item!r}; expected a (label, mask) pair")
        label = _text(item[0], f"panels[{index}] label")
        items.append((label, _check_mask(label, item[1], shape)))
    labels = ["RGB"] + [label for label, _ in items]
    wanted = {outline} if isinstance(outline, str) else set(outline)
    unknown = sorted(wanted - set(labels))
    if unknown:
        raise ValueError(f"outline names {unknown}, which are not panels; panels are {labels}")
    cells = _check_routed(routed, float(core), shape) if routed is not None else None

    n = len(labels)
    height, width = shape
    panel_w = min(3.6, (MAX_WIDTH_IN - 0.2) / n)
    panel_h = min(panel_w * height / width, 6.0)
    fig_h = panel_h + 0.9 + (0.35 if title else 0.0)
    with _new_figure(panel_w * n + 0.2, fig_h) as fig:
        axes = fig.subplots(1, n, squeeze=False)[0]
        pictures = [_stretch(rgb)] + [_mask_picture(mask) for _, mask in items]
        for ax, label, picture in zip(axes, labels, pictures, strict=True):
            ax.imshow(picture, interpolation="antialiased")
            ax.set_title(label, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            if cells is not None and cells.size and label in wanted:
                _outline_cells(ax, cells, float(core), shape)
            ax.set_xlim(-0.5, width - 0.5)
            ax.set_ylim(height - 0.5, -0.5)
        _mask_legend(
            fig,
            routed_drawn=bool(cells is not None and cells.size and wanted),
            shadow_drawn=any(bool((mask == SHADOW).any()) for _, mask in items),
        )
        if title:
            fig.suptitle(title, fontsize=11)
        return _save(fig, path)


def _mask_legend(fig: Figure, *, routed_drawn: bool, shadow_drawn: bool) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=CLEAR_RGB, edgecolor="black", linewidth=0.5, label="clear"),
        Patch(facecolor=CLOUD_RGB, edgecolor="black", linewidth=0.5, label="cloud"),
        Patch(facecolor=NODATA_RGB, edgecolor="black", linewidth=0.5, label="no data"),
    ]
    if shadow_drawn:
        handles.insert(
            2, Patch(facecolor=SHADOW_RGB, edgecolor="black", linewidth=0.5, label="shadow")
        )
    if routed_drawn:
        handles.append(
            Patch(facecolor="none", edgecolor=OUTLINE_COLOR, linewidth=1.5, label="routed cell")
        )
    fig.legend(
        handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9, frameon=False
    )
