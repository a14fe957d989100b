"""The cascade end to end on a generated scene, with oracles standing in for the models.

``make demo`` runs this: it generates a cloudy multi-band scene with a known mask and runs
the engine (:func:`cascade.engine.run_cascade`, the code every command runs) with two oracle
predictors: the coarse one answers the known mask's cell classes
(:func:`cascade.kernels.pool_labels`), the fine one reads cloud off the scene's values (the
generator makes cloud and ground apart in every band). Only the Partly Cloudy cells go
through the fine stage, and the assembled mask must equal the known one pixel for pixel. It
reports the routing counts, the ideal speed-up and the engine's stage timings, and writes a
quicklook PNG.

The scene generator here is a small smooth-noise field, enough to exercise the geometry; it is
not a cloud simulator and its scenes are not meant for training or accuracy figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.bands import get_band_profile
from cascade.classes import CLEAR, CLOUD, NODATA
from cascade.engine import ArraySource, CascadeModel, EngineConfig, run_cascade
from cascade.errors import InputArrayError
from cascade.geometry import SceneGeometry
from cascade.io.files import atomic_output
from cascade.io.quicklook import decimation, quicklook, write_png
from cascade.kernels import pool_labels
from cascade.models.artifacts import ModelSpec, Normalization

__all__ = ["DemoResult", "generate_scene", "oracle_model", "run_demo"]

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


# Scene values of cloud are >= 7000 DN and of ground <= about 3500 DN in band 0 (see
# generate_scene): the fine oracle splits them at reflectance 0.5.
_ORACLE_SPLIT = 0.5


def oracle_model(truth: np.ndarray, geometry: SceneGeometry, bands: int = 7) -> CascadeModel:
    """A model pair of oracles for a scene of :func:`generate_scene` and its mask ``truth``.

    Coarse: the one-hot cell classes of ``truth``; fine: cloud where band 0 is cloud-bright.
    """
    names = get_band_profile("sentinel2-l1c-13").band_names[:bands]
    common: dict[str, Any] = {
        "bands": names,
        "normalization": Normalization(scale=1e-4),
        "patch": geometry.patch,
        "margin": geometry.margin,
        "stride": geometry.stride,
    }
    coarse_spec = ModelSpec(role="coarse", architecture="oracle", backbone="truth", **common)
    fine_spec = ModelSpec(role="fine", architecture="oracle", backbone="truth", **common)
    onehot = np.eye(4, dtype=np.float32)[pool_labels(truth, geometry)][np.newaxis]

    def coarse(batch: np.ndarray) -> np.ndarray:
        return onehot

    def fine(batch: np.ndarray) -> np.ndarray:
        cloud = (batch[..., 0] > _ORACLE_SPLIT).astype(np.float32)
        return np.stack([cloud, 1.0 - cloud, np.zeros_like(cloud)], axis=-1)

    return CascadeModel(coarse, fine, coarse_spec, fine_spec, name="oracle")


def run_demo(
    height: int = 2600,
    width: int = 2600,
    *,
    seed: int = 0,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
) -> DemoResult:
    """Run the engine with oracles on a generated scene; write outputs to ``out_dir`` if given."""
    geometry = SceneGeometry(height, width)
    scene, truth = generate_scene(height, width, seed=seed)
    model = oracle_model(truth, geometry, bands=scene.shape[0])
    source = ArraySource(scene, model.bands, nodata=SCENE_NODATA)
    result = run_cascade(source, model, EngineConfig(router="cascade"))
    demo = DemoResult(
        geometry=geometry,
        cells_per_class=dict(result.report["cells_per_class"]),
        routed=int(result.routed.sum()),
        exact=bool(np.array_equal(result.mask, truth)),
        timings_s=dict(result.report["timings_s"]),
    )
    if out_dir is not None:
        _write_outputs(Path(out_dir), demo, scene, result, overwrite)
    return demo


def _write_outputs(
    out: Path, demo: DemoResult, scene: np.ndarray, result: Any, overwrite: bool
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    png = out / "demo-quicklook.png"
    picture = _quicklook(scene, result.mask, np.argwhere(result.routed), result.geometry)
    write_png(png, picture, overwrite=overwrite)
    demo.outputs.append(str(png))
    summary = out / "demo-summary.json"
    demo.outputs.append(str(summary))
    with atomic_output(summary, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(demo.to_dict(), indent=2) + "\n")
