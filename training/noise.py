"""Fractal value-noise fields that can be evaluated on any window of rows (Numba)."""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["FbmField"]


@numba.njit(cache=True, nogil=True, parallel=True)
def _add_octave(
    out: np.ndarray,
    grid: np.ndarray,
    row0: float,
    col0: float,
    spacing: float,
    amplitude: float,
) -> None:
    """out[i, j] += amplitude * value-noise of ``grid`` at ((row0 + i), (col0 + j)) / spacing.

    Smoothstep-weighted bilinear interpolation of the lattice ``grid``; coordinates are
    offset by one lattice cell so that slightly negative positions still interpolate.
    """
    gh, gw = grid.shape
    for i in numba.prange(out.shape[0]):
        y = (row0 + i) / spacing + 1.0
        y0 = math.floor(y)
        ty = y - y0
        ty = ty * ty * (3.0 - 2.0 * ty)
        y0 = min(max(y0, 0), gh - 2)
        for j in range(out.shape[1]):
            x = (col0 + j) / spacing + 1.0
            x0 = math.floor(x)
            tx = x - x0
            tx = tx * tx * (3.0 - 2.0 * tx)
            x0 = min(max(x0, 0), gw - 2)
            a = grid[y0, x0] + (grid[y0, x0 + 1] - grid[y0, x0]) * tx
            b = grid[y0 + 1, x0] + (grid[y0 + 1, x0 + 1] - grid[y0 + 1, x0]) * tx
            out[i, j] += amplitude * (a + (b - a) * ty)


class FbmField:
    """A fractal value-noise field over a scene, evaluable on any window of rows."""

    def __init__(
        self,
        rng: np.random.Generator,
        height: int,
        width: int,
        scale: float,
        octaves: int,
        margin: int = 0,
        persistence: float = 0.5,
    ) -> None:
        """``persistence``: amplitude ratio of successive octaves (lower: smoother)."""
        self.grids: list[tuple[np.ndarray, float, float]] = []
        total = 0.0
        for k in range(octaves):
            spacing = max(4.0, scale / 2**k)  # finer than 4 px adds only memory
            amp = persistence**k
            gh = int((height + 2 * margin) / spacing) + 4
            gw = int((width + 2 * margin) / spacing) + 4
            self.grids.append((rng.standard_normal((gh, gw)).astype(np.float32), spacing, amp))
            total += amp * amp
        self.norm = 1.0 / math.sqrt(total)
        self.margin = margin

    def rows(
        self, row_start: int, row_stop: int, width: int, drow: float = 0.0, dcol: float = 0.0
    ) -> npt.NDArray[np.float32]:
        """Field values of rows ``row_start:row_stop`` sampled at (row - drow, col - dcol)."""
        out = np.zeros((row_stop - row_start, width), dtype=np.float32)
        m = self.margin
        for grid, spacing, amp in self.grids:
            _add_octave(out, grid, row_start - drow + m, -dcol + m, spacing, amp * self.norm)
        return out
