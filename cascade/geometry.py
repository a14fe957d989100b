"""Scene geometry of the cascade: grid, completion padding, coarse shape and cell windows.

A scene of ``height x width`` pixels is cut into a grid of square *cells*. The fine model sees
each cell through a ``patch x patch`` window: the cell's ``core = patch - 2 * margin`` pixels
plus ``margin`` pixels of context on every side, so neighbouring windows overlap by
``2 * margin`` pixels and a prediction is cropped back to its core before it is placed. The
margin is the halo of the fine model's receptive field at the cell border: without it, pixels
on a cell's edge are predicted from one-sided context and the mask shows seams.

The grid needs whole cells, so the scene is *completion-padded* at the bottom and right to
``rows * core`` by ``cols * core`` pixels, and the patch windows of border cells need another
``margin`` pixels outside that (the *outer margin*, on all four sides). Padding only at the
bottom and right keeps pixel ``(0, 0)`` of the scene at ``(0, 0)`` of the padded grid, so a
georeferencing transform is the same for both.

The coarse model sees the padded scene downsampled so that one cell becomes ``stride x stride``
pixels, where ``stride`` is the encoder's output stride (32 for the usual CNN encoders cut at
their bottleneck): its output then has exactly one pixel per cell. For Sentinel-2 at 10 m::

    >>> g = SceneGeometry(10980, 10980)
    >>> g.core, g.grid_shape, g.padded_shape, g.coarse_shape
    (248, (45, 45), (11160, 11160), (1440, 1440))
    >>> g.pool_ratio
    7.75

All windows are in scene pixel coordinates (row, column) and may extend past the scene: the
core window of the last cell reaches into the completion padding and every margin window
reaches into the outer margin.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.errors import GeometryError

__all__ = ["SceneGeometry", "Window"]


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise GeometryError(
            f"{name} must be an integer, got {value!r} of type {type(value).__name__}"
        )
    if value < minimum:
        raise GeometryError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


@dataclass(frozen=True)
class Window:
    """A rectangle of pixels: offsets of its top-left corner and its size.

    Offsets may be negative (a margin window of a cell on the scene's first row starts at row
    ``-margin``). ``height`` and ``width`` are non-negative.
    """

    row_off: int
    col_off: int
    height: int
    width: int

    def __post_init__(self) -> None:
        for name in ("row_off", "col_off"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise GeometryError(f"Window.{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        object.__setattr__(self, "height", _check_int("Window.height", self.height, 0))
        object.__setattr__(self, "width", _check_int("Window.width", self.width, 0))

    @property
    def row_stop(self) -> int:
        """One past the last row."""
        return self.row_off + self.height

    @property
    def col_stop(self) -> int:
        """One past the last column."""
        return self.col_off + self.width

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.height, self.width)

    def intersection(self, other: Window) -> Window:
        """The overlap of two windows (a zero-size window where they do not overlap)."""
        row_off = max(self.row_off, other.row_off)
        col_off = max(self.col_off, other.col_off)
        row_stop = max(row_off, min(self.row_stop, other.row_stop))
        col_stop = max(col_off, min(self.col_stop, other.col_stop))
        return Window(row_off, col_off, row_stop - row_off, col_stop - col_off)

    def translate(self, drow: int, dcol: int) -> Window:
        """The same window moved by ``(drow, dcol)`` pixels."""
        return Window(self.row_off + drow, self.col_off + dcol, self.height, self.width)

    def slices(self) -> tuple[slice, slice]:
        """``(row_slice, col_slice)`` for indexing an array whose origin is the window's origin.

        Raises :class:`GeometryError` for a window with a negative offset, which numpy would
        silently read from the far end of the array.
        """
        if self.row_off < 0 or self.col_off < 0:
            raise GeometryError(
                f"{self} has a negative offset and cannot index an array; intersect it with "
                "the array's window first"
            )
        return slice(self.row_off, self.row_stop), slice(self.col_off, self.col_stop)


@dataclass(frozen=True)
class SceneGeometry:
    """The cascade's grid over a scene of ``height x width`` pixels.

    Parameters
    ----------
    height, width:
        Scene size in pixels (any positive size; scenes smaller than one cell get a 1 x 1 grid).
    patch:
        Side of the fine model's input window in pixels (256 in the paper).
    margin:
        Context pixels on each side of a cell inside its window (4 in the paper); the cell's
        core is ``patch - 2 * margin`` pixels (248).
    stride:
        Output stride of the coarse encoder: one cell is ``stride x stride`` pixels of the
        coarse input (32 in the paper). Must not exceed the core: pooling only downsamples.
    """

    height: int
    width: int
    patch: int = 256
    margin: int = 4
    stride: int = 32

    def __post_init__(self) -> None:
        for name, minimum in (("height", 1), ("width", 1), ("patch", 1), ("margin", 0)):
            object.__setattr__(self, name, _check_int(name, getattr(self, name), minimum))
        object.__setattr__(self, "stride", _check_int("stride", self.stride, 1))
        if self.patch <= 2 * self.margin:
            raise GeometryError(
                f"patch must be larger than 2 * margin so that every cell keeps a core, got "
                f"patch={self.patch} and margin={self.margin} (core would be "
                f"{self.patch - 2 * self.margin}); use a smaller margin or a larger patch"
            )
        if self.stride > self.core:
            raise GeometryError(
                f"stride must not exceed the cell core (patch - 2 * margin = {self.core}), got "
                f"stride={self.stride}: the coarse input would be larger than the scene"
            )

    @classmethod
    def from_shape(
        cls, shape: tuple[int, ...], *, patch: int = 256, margin: int = 4, stride: int = 32
    ) -> SceneGeometry:
        """Geometry of an array of shape ``(height, width)`` or ``(bands, height, width)``."""
        if len(shape) not in (2, 3):
            raise GeometryError(
                f"expected a shape (height, width) or (bands, height, width), got {tuple(shape)}"
            )
        return cls(int(shape[-2]), int(shape[-1]), patch=patch, margin=margin, stride=stride)

    # -- derived sizes -------------------------------------------------------------------
    @property
    def core(self) -> int:
        """Side of a cell in pixels: ``patch - 2 * margin``."""
        return self.patch - 2 * self.margin

    @property
    def rows(self) -> int:
        """Cells along the scene's height."""
        return math.ceil(self.height / self.core)

    @property
    def cols(self) -> int:
        """Cells along the scene's width."""
        return math.ceil(self.width / self.core)

    @property
    def grid_shape(self) -> tuple[int, int]:
        """``(rows, cols)``: the shape of the cell grid and of the coarse model's output."""
        return (self.rows, self.cols)

    @property
    def n_cells(self) -> int:
        """Number of cells (``rows * cols``)."""
        return self.rows * self.cols

    @property
    def scene_shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.height, self.width)

    @property
    def padded_shape(self) -> tuple[int, int]:
        """Scene size after completion padding: whole cells, ``(rows * core, cols * core)``."""
        return (self.rows * self.core, self.cols * self.core)

    @property
    def pad_bottom(self) -> int:
        """Completion-padding rows added below the scene."""
        return self.rows * self.core - self.height

    @property
    def pad_right(self) -> int:
        """Completion-padding columns added right of the scene."""
        return self.cols * self.core - self.width

    @property
    def extended_shape(self) -> tuple[int, int]:
        """Padded size plus the outer margin on all sides: every patch window lies inside it."""
        return (self.rows * self.core + 2 * self.margin, self.cols * self.core + 2 * self.margin)

    @property
    def extended_window(self) -> Window:
        """The extended area in scene coordinates (starts at ``(-margin, -margin)``)."""
        h, w = self.extended_shape
        return Window(-self.margin, -self.margin, h, w)

    @property
    def coarse_shape(self) -> tuple[int, int]:
        """Shape of the coarse model's input: ``(rows * stride, cols * stride)``."""
        return (self.rows * self.stride, self.cols * self.stride)

    @property
    def pool_ratio(self) -> float:
        """Full-resolution pixels per coarse pixel along each axis: ``core / stride``."""
        return self.core / self.stride

    # -- cells ---------------------------------------------------------------------------
    def _check_cell(self, row: int, col: int) -> None:
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise GeometryError(
                f"cell ({row}, {col}) is outside the {self.rows} x {self.cols} grid "
                f"(rows 0..{self.rows - 1}, cols 0..{self.cols - 1})"
            )

    def core_window(self, row: int, col: int) -> Window:
        """The ``core x core`` pixels that cell ``(row, col)`` owns, in scene coordinates."""
        self._check_cell(row, col)
        return Window(row * self.core, col * self.core, self.core, self.core)

    def margin_window(self, row: int, col: int) -> Window:
        """The ``patch x patch`` window the fine model sees for cell ``(row, col)``."""
        self._check_cell(row, col)
        return Window(
            row * self.core - self.margin, col * self.core - self.margin, self.patch, self.patch
        )

    def cells(self) -> npt.NDArray[np.int64]:
        """All cells as an ``(n_cells, 2)`` array of ``(row, col)``, in row-major order."""
        rr, cc = np.meshgrid(np.arange(self.rows), np.arange(self.cols), indexing="ij")
        return np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.int64)

    def iter_cells(self) -> Iterator[tuple[int, int]]:
        """Iterate over ``(row, col)`` in row-major order."""
        for row in range(self.rows):
            for col in range(self.cols):
                yield row, col

    def check_cells(self, cells: npt.ArrayLike, *, unique: bool = True) -> npt.NDArray[np.int64]:
        """Validate a set of cells and return it as a C-contiguous ``(n, 2)`` int64 array.

        ``cells`` is an ``(n, 2)`` array-like of ``(row, col)`` pairs in any order, or a boolean
        ``(rows, cols)`` selection grid (the order is then row-major). Raises
        :class:`GeometryError` for out-of-grid cells, and for repeated ones when ``unique``
        (placing predictions needs each cell once; reading windows does not).
        """
        arr = np.asarray(cells)
        if arr.dtype == np.bool_:
            if arr.shape != self.grid_shape:
                raise GeometryError(
                    f"a boolean cell selection must have the grid's shape {self.grid_shape}, "
                    f"got {arr.shape}"
                )
            return np.ascontiguousarray(np.argwhere(arr), dtype=np.int64)
        if arr.size == 0:
            return np.zeros((0, 2), dtype=np.int64)
        if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.integer):
            raise GeometryError(
                f"cells must be an (n, 2) integer array of (row, col) pairs or a boolean "
                f"{self.grid_shape} grid, got shape {arr.shape} and dtype {arr.dtype}"
            )
        out = np.ascontiguousarray(arr, dtype=np.int64)
        bad = (
            (out[:, 0] < 0) | (out[:, 0] >= self.rows) | (out[:, 1] < 0) | (out[:, 1] >= self.cols)
        )
        if bad.any():
            first = tuple(int(v) for v in out[np.argmax(bad)])
            raise GeometryError(
                f"{int(bad.sum())} cell(s) outside the {self.rows} x {self.cols} grid, first "
                f"{first}"
            )
        flat = out[:, 0] * self.cols + out[:, 1]
        if unique and np.unique(flat).size != flat.size:
            raise GeometryError("cells must not repeat: each cell is predicted and placed once")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The parameters and the derived sizes, for reports and GeoTIFF tags."""
        return {
            "height": self.height,
            "width": self.width,
            "patch": self.patch,
            "margin": self.margin,
            "stride": self.stride,
            "core": self.core,
            "grid_shape": list(self.grid_shape),
            "padded_shape": list(self.padded_shape),
            "coarse_shape": list(self.coarse_shape),
            "pool_ratio": self.pool_ratio,
        }
