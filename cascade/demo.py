"""The cascade's geometry end to end on a generated scene, with an oracle for the models.

Until the trained models ship, ``make run`` runs this: it generates a cloudy multi-band scene
with a known mask, pools it to the coarse resolution, lets the known mask stand in for the
coarse model (:func:`cascade.kernels.pool_labels`) and the fine model (windows of the known
mask), routes only the Partly Cloudy cells through patch extraction and reassembly, and
checks that the assembled mask equals the known one pixel for pixel. It reports the routing
counts, the ideal speed-up and the kernels' timings, and writes a quicklook PNG.

The scene generator here is a small smooth-noise field, enough to exercise the geometry; it is
not a cloud simulator and its scenes are not meant for training or accuracy figures.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade import kernels
from cascade._files import atomic_output
from cascade.classes import CELL_CLASS_NAMES, CLEAR, CLOUD, NODATA, PARTLY_CLOUDY
from cascade.errors import InputArrayError
from cascade.geometry import SceneGeometry
from cascade.quicklook import decimation, quicklook

__all__ = ["DemoResult", "generate_scene", "run_demo"]

SCENE_NODATA = 0


def _smooth_noise(
    rng: np.random.Generator, height: int, width: int, octaves: int
) -> npt.NDArray[np.float64]:
    """Sum of bilinearly upsampled random grids with halving amplitude (a cheap fBm)."""
    from skimage.transform import resize

    field = np.zeros((height, width))
    for o in range(octaves):
        n = 2 ** (o + 2)
        grid = rng.standard_normal((n, n))
        field += resize(grid, (height, width), order=1, mode="reflect") / 2**o
    return field


def generate_scene(
    height: int, width: int, *, bands: int = 7, cloud_cover: float = 0.35, seed: int = 0
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint8]]:
    """A toy scene and its exact mask.

    Returns ``(scene, mask)``: ``scene`` is ``(bands, height, width)`` uint16 reflectance x
    10000 with 0 as nodata; ``mask`` is ``(height, width)`` uint8 (0 clear, 1 cloud, 255 no
    data). About ``cloud_cover`` of the data pixels are cloud; a No Data wedge cuts the top
    left corner as on a Sentinel-2 tile at the swath edge.
    """
    if not 0.0 <= cloud_cover <= 1.0:
        raise InputArrayError(f"cloud_cover must be in [0, 1], got {cloud_cover}")
    rng = np.random.default_rng(seed)
    thickness = _smooth_noise(rng, height, width, octaves=6)
    cloud = thickness > np.quantile(thickness, 1.0 - cloud_cover)
    ground = _smooth_noise(rng, height, width, octaves=4)
    scene = np.empty((bands, height, width), dtype=np.uint16)
    for b in range(bands):
        surface = 1200 + 400 * b + 350 * ground + rng.normal(0, 40, (height, width))
        scene[b] = np.clip(np.where(cloud, 7000 + 500 * thickness, surface), 1, 12000)
    yy, xx = np.mgrid[0:height, 0:width]
    wedge = xx + yy < 0.3 * min(height, width)
    scene[:, wedge] = SCENE_NODATA
    mask = np.where(cloud, CLOUD, CLEAR).astype(np.uint8)
    mask[wedge] = NODATA
    return scene, mask


@dataclass
class DemoResult:
    """What :func:`run_demo` measured."""

    geometry: SceneGeometry
    cells_per_class: dict[str, int]
    routed: int
    exact: bool
    timings_s: dict[str, float]
    outputs: list[str] = field(default_factory=list)

    @property
    def ideal_speedup(self) -> float:
        """``1 / f`` with ``f`` the routed fraction (the coarse stage taken as free)."""
        return self.geometry.n_cells / max(self.routed, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "geometry": self.geometry.to_dict(),
            "cells_per_class": self.cells_per_class,
            "routed_cells": self.routed,
            "routed_fraction": self.routed / self.geometry.n_cells,
            "ideal_speedup": self.ideal_speedup,
            "mask_exact": self.exact,
            "timings_s": self.timings_s,
            "outputs": self.outputs,
        }


def _quicklook(
    scene: np.ndarray, mask: np.ndarray, routed: np.ndarray, geometry: SceneGeometry
) -> npt.NDArray[np.uint8]:
    """Natural colour (bands 3, 2, 1) beside the mask over it, routed cells outlined."""
    step = decimation(*mask.shape)
    rgb = scene[[3, 2, 1], ::step, ::step].astype(np.float32) / 10000.0
    return quicklook(rgb, mask[::step, ::step], routed, geometry.core / step)


def run_demo(
    height: int = 2600,
    width: int = 2600,
    *,
    seed: int = 0,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
) -> DemoResult:
    """Run the oracle cascade on a generated scene; write outputs to ``out_dir`` if given."""
    geometry = SceneGeometry(height, width)
    scene, truth = generate_scene(height, width, seed=seed)
    timings: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t0, 4)
        return result

    timed("pool_area", kernels.pool_area, scene, geometry, nodata=SCENE_NODATA)
    classes = timed("pool_labels", kernels.pool_labels, truth, geometry)
    routed = geometry.check_cells(classes == PARTLY_CLOUDY)
    timed("extract_patches", kernels.extract_patches, scene, geometry, routed, nodata=0)
    # Oracle fine model: the known mask's window of each routed cell.
    truth_patches = kernels.extract_patches(
        truth[np.newaxis], geometry, routed, mode="constant", fill_value=NODATA
    )[..., 0]
    # Cells that are not routed take their class's value: Overcast -> cloud, Cloudless ->
    # clear, No Data -> no data (Partly Cloudy cells are all overwritten below).
    cell_value = np.array([CLOUD, CLOUD, CLEAR, NODATA], dtype=np.uint8)[classes]
    mask = np.repeat(np.repeat(cell_value, geometry.core, 0), geometry.core, 1)
    mask = np.ascontiguousarray(mask[:height, :width])
    timed(
        "reassemble_patches", kernels.reassemble_patches, truth_patches, geometry, routed, out=mask
    )
    # Pixels that are No Data in the input stay No Data whatever their cell's class.
    mask[kernels.nodata_mask(scene, SCENE_NODATA)] = NODATA
    counts = np.bincount(classes.ravel(), minlength=4)
    result = DemoResult(
        geometry=geometry,
        cells_per_class={name: int(n) for name, n in zip(CELL_CLASS_NAMES, counts, strict=True)},
        routed=int(routed.shape[0]),
        exact=bool(np.array_equal(mask, truth)),
        timings_s=timings,
    )
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        import imageio.v3 as iio

        png = out / "demo-quicklook.png"
        with atomic_output(png, overwrite=overwrite) as tmp:
            iio.imwrite(tmp, _quicklook(scene, mask, routed, geometry), extension=".png")
        result.outputs.append(str(png))
        summary = out / "demo-summary.json"
        result.outputs.append(str(summary))
        with atomic_output(summary, overwrite=overwrite) as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
