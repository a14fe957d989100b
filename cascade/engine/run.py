"""Running the cascade: scene in, full-resolution cloud mask out.

``read -> pool -> coarse -> route -> fine on routed cells -> decide -> write``:

1. The scene is read in strips of rows. Each strip is area-pooled to the coarse resolution
   (:class:`cascade.kernels.AreaPooler`) and its No Data pixels are noted; a data pixel that
   is not finite is refused; the whole scene is never in memory. The pooled values are
   checked against the model's input scale (:mod:`cascade.engine.checks`, a warning).
2. The pooled scene is normalised (0 where a coarse pixel holds no data) and the coarse model
   labels every cell Overcast / Partly Cloudy / Cloudless / No Data.
3. A router picks the cells for the fine model (:mod:`cascade.routing`), and with the
   ``cascade`` router the routing rules add theirs (thin cells: less than half of the core is
   data); cells without a single data pixel are never routed.
4. The mask starts as the coarse classes at full resolution (Overcast and Partly Cloudy ->
   cloud, Cloudless -> clear, No Data -> no data). For the routed cells, each cell row's
   strip is read, their 256 x 256 windows are cut out (mirrored at the scene edges),
   normalised, No Data set to 0 (the normalised mean), and run through the fine model in
   batches; a background thread prepares the next batch while the model runs. Cloud
   probabilities >= the threshold become cloud, and with a shadow output the rest whose
   shadow probability reaches the shadow threshold cloud shadow (:mod:`cascade.engine.decide`);
   each window's 248 x 248 core overwrites its cell.
5. Pixels that are No Data in the input are No Data in the mask, whatever the models said.

The patch baseline is the router ``all`` through exactly this code, and coarse-only is
``none``. The stages are in :mod:`cascade.engine.stages`, the report and tags in
:mod:`cascade.engine.provenance`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.bands import match_bands
from cascade.classes import CELL_CLASS_NAMES, NO_DATA, NODATA
from cascade.engine import checks, provenance, stages
from cascade.engine.config import DEFAULT_SHADOW_THRESHOLD, EngineConfig
from cascade.engine.decide import cell_raster, decide, mask_from_classes, usable_mask
from cascade.engine.source import ArraySource, SceneSource, check_source
from cascade.engine.usable import write_usable_raster
from cascade.errors import ConfigError, OutputError
from cascade.geometry import SceneGeometry
from cascade.io.files import OutputSet
from cascade.models.predictor import CascadeModel, load_cascade_model
from cascade.routing import get_router

__all__ = ["CascadeResult", "input_scale", "mask_array", "mask_scene", "run_cascade"]

log = logging.getLogger(__name__)


@dataclass
class CascadeResult:
    """What the engine returns.

    ``mask`` ``(height, width)`` uint8 (0 clear, 1 cloud, 2 cloud shadow where the run marks
    shadow, 255 no data); ``probabilities`` ``(height, width)`` float32 cloud probability (NaN
    at No Data; the coarse P(Overcast) + P(Partly Cloudy) in cells the fine model did not run)
    when asked for, and ``shadow_probabilities`` alike for a run that marks shadow (0 in cells
    the fine model did not run: the coarse model has no shadow output); ``coarse_probabilities``
    ``(rows, cols, 4)``; ``cell_classes`` ``(rows, cols)`` uint8; ``routed`` ``(rows, cols)``
    bool; ``report``: timings, counts and configuration (``report["shadow"]``: the shadow
    threshold used, None for a cloud-only mask).
    """

    mask: npt.NDArray[np.uint8]
    probabilities: npt.NDArray[np.float32] | None
    coarse_probabilities: npt.NDArray[np.float32]
    cell_classes: npt.NDArray[np.uint8]
    routed: npt.NDArray[np.bool_]
    geometry: SceneGeometry
    report: dict[str, Any] = field(default_factory=dict)
    shadow_probabilities: npt.NDArray[np.float32] | None = None

    @property
    def usable(self) -> npt.NDArray[np.uint8]:
        """The usable-ground mask: 1 clear, 0 cloud or cloud shadow, 255 No Data."""
        return usable_mask(self.mask)

    def mask_at(
        self, threshold: float, shadow_threshold: float | None = None
    ) -> npt.NDArray[np.uint8]:
        """The mask this run gives at another fine-model threshold (and, for a run that marks
        shadow, another shadow threshold; default the run's), without inference.

        Needs the probabilities (``EngineConfig(keep_probabilities=True)``).
        """
        if self.probabilities is None:
            raise ValueError(
                "this result holds no probabilities; run with "
                "EngineConfig(keep_probabilities=True) to decide again at another threshold"
            )
        used = self.report.get("shadow")
        return decide(
            self.probabilities,
            self.cell_classes,
            self.routed,
            self.geometry,
            threshold,
            self.shadow_probabilities,
            float(shadow_threshold if shadow_threshold is not None else (used or 0.5)),
        )


def input_scale(source: SceneSource, model: CascadeModel, config: EngineConfig) -> float:
    """TOA reflectance per input unit: the source's when it knows it (a product read from its
    metadata), else ``config.input_scale``, else the model's normalisation scale.

    Raises :class:`ConfigError` when the configuration sets a scale that contradicts the
    source's.
    """
    known = getattr(source, "input_scale", None)
    given = config.input_scale
    if known is not None and given is not None and not np.isclose(given, known, rtol=1e-9):
        raise ConfigError(
            f"input scale {given:g} was given, but {_describe(source)} is read from its "
            f"metadata in units of {known:g} reflectance; drop the scale (--scale): it is "
            "for plain rasters only"
        )
    if known is not None:
        return float(known)
    return float(given if given is not None else model.fine_spec.normalization.scale)


def shadow_output(model: CascadeModel, config: EngineConfig) -> tuple[int, float] | None:
    """``(channel, threshold)`` of the fine model's cloud-shadow output when the run marks
    shadow, else None. ``config.shadow`` None: when the model has a shadow output *and* its
    sidecar names the threshold tuned for it (``options.shadow_threshold``, written by the
    export of a recipe whose validation images have shadow labels); a shadow output without
    one (``sentinel2-l1c-7``'s) was never checked against shadow labels, so it is used only
    when asked for (``shadow=True``, at :data:`DEFAULT_SHADOW_THRESHOLD` unless given).

    Raises :class:`ConfigError` when shadow is asked of a model without a shadow output.
    """
    spec = model.fine_spec
    classes = list(spec.classes)
    tuned = "shadow_threshold" in spec.options
    if config.shadow is False or (config.shadow is None and not ("shadow" in classes and tuned)):
        return None
    if "shadow" not in classes:
        raise ConfigError(
            f"shadow was asked for, but the fine model of {model.name} has no cloud-shadow "
            f"output (its classes are {classes}); use a pair trained with a shadow class "
            "(e.g. rgbn) or leave shadow off (--no-shadow)"
        )
    given = config.shadow_threshold
    own = spec.options.get("shadow_threshold", DEFAULT_SHADOW_THRESHOLD)
    return classes.index("shadow"), float(given if given is not None else own)


def _describe(source: SceneSource) -> str:
    describe = getattr(source, "describe", None)
    return str(describe()) if callable(describe) else "the scene"


def _normalisation(
    model: CascadeModel, config: EngineConfig, source: SceneSource
) -> tuple[np.ndarray, np.ndarray]:
    norm = model.fine_spec.normalization
    scale = input_scale(source, model, config)
    if scale != norm.scale:
        norm = dataclasses.replace(norm, scale=scale)
    return norm.coefficients(len(model.bands))


class _Laps:
    """Per-stage timings of a run."""

    def __init__(self) -> None:
        self.start = self.t0 = time.perf_counter()
        self.timings: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = now - self.t0
        self.t0 = now


def run_cascade(
    source: SceneSource,
    model: CascadeModel,
    config: EngineConfig | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> CascadeResult:
    """Run the cascade on a source (see the module docstring); the core of every entry point.

    ``progress(done, total)`` is called after every fine batch with patch counts. Logs a
    warning (and records it in the report) when the scene's values are implausible for the
    model's input scale (:mod:`cascade.engine.checks`).
    """
    config = config or EngineConfig()
    lap = _Laps()
    check_source(source)
    band_idx = match_bands(source.band_names, model.bands)
    g = model.geometry(source.height, source.width)
    router = get_router(config.router)
    rules = config.routing_rules()
    threshold = config.threshold if config.threshold is not None else model.fine_spec.threshold
    shadow = shadow_output(model, config)
    gain, offset = _normalisation(model, config, source)

    pooled, nodata, coarse_read = stages.read_and_pool(
        source, band_idx, g, config.strip_rows, config.coarse_from
    )
    valid_share = stages.cell_valid_share(pooled, g)
    has_data = valid_share > 0
    scale = input_scale(source, model, config)
    warnings = [w for w in [checks.unit_warning(pooled, scale, model.name)] if w]
    for w in warnings:
        log.warning("%s", w)
    lap("read_and_pool")
    coarse_probs = stages.run_coarse(model.coarse, pooled, g, gain, offset, has_data)
    del pooled
    lap("coarse")
    coarse_probs, cell_classes, routed, routed_by = stages.route(
        router, coarse_probs, g, valid_share, rules
    )
    lap("route")
    mask = mask_from_classes(cell_classes, g)
    probabilities, shadow_probabilities = _coarse_probabilities(coarse_probs, g, config, shadow)
    lap("fill_from_coarse")
    cells = np.argwhere(routed)  # row-major: cell rows are read in order
    fine_pixels = [0]
    batches = stages.fine_batches(
        source, band_idx, g, cells, gain, offset, config, nodata, fine_pixels
    )
    predict_s = stages.run_fine(
        model.fine,
        stages.prefetched(batches, config.prefetch),
        g,
        threshold,
        mask,
        probabilities,
        progress,
        len(cells),
        shadow,
        shadow_probabilities,
    )
    lap("fine")
    lap.timings["fine_predict"] = predict_s
    if nodata.mask is not None:  # input No Data wins
        mask[nodata.mask] = NODATA
        for p in (probabilities, shadow_probabilities):
            if p is not None:
                p[nodata.mask] = np.nan
    lap("apply_nodata")
    lap.timings["total"] = time.perf_counter() - lap.start
    record = provenance.config_record(config, threshold, getattr(source, "resampling", None))
    report = provenance.run_report(
        g, model.describe(), record, cell_classes, routed, has_data, mask, lap.timings, routed_by
    )
    report |= {"input_scale": scale, "warnings": warnings, "coarse_input": coarse_read.to_dict()}
    report["pixels_read"] = {"coarse": coarse_read.pixels, "fine": fine_pixels[0]}
    report |= {"shadow": shadow and shadow[1], "mask_classes": provenance.mask_classes(shadow)}
    return CascadeResult(
        mask, probabilities, coarse_probs, cell_classes, routed, g, report, shadow_probabilities
    )


def _coarse_probabilities(
    coarse_probs: np.ndarray, g: SceneGeometry, config: EngineConfig, shadow: Any
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The probability rasters as the coarse stage leaves them, when they are kept: cloud
    P(Overcast) + P(Partly Cloudy) per cell; shadow 0 (the coarse model has no shadow output)."""
    if not config.keep_probabilities:
        return None, None
    cell_cloud = (coarse_probs[..., 0] + coarse_probs[..., 1]).astype(np.float32)
    shade = None if shadow is None else np.zeros(g.scene_shape, np.float32)
    return cell_raster(cell_cloud, g), shade


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
    quicklook: str | Path | None = None,
    valid: str | Path | None = None,
    overwrite: bool = False,
    resampling: str = "bilinear",
    progress: Callable[[int, int], None] | None = None,
) -> CascadeResult:
    """Mask a scene on disk and write a georeferenced COG mask (and optional extras).

    ``inputs``: a product (a Sentinel-2 SAFE folder or ``.zip``, a Landsat Collection 2
    folder or ``.tar``: reflectance and No Data from its metadata, see
    :mod:`cascade.io.products`), a multi-band raster, a folder of single-band files, or a
    list of them (see :func:`cascade.io.scene.open_scene`). Written too when given:
    ``probabilities`` (float32 cloud probability, a second band of shadow probability when
    the run marks shadow), ``coarse_grid`` (uint8 cell classes, a pixel per cell), ``valid``
    (uint8 usable ground: 1 clear, 0 cloud or shadow, 255 No Data), ``report`` (JSON),
    ``quicklook`` (PNG: natural colour beside the mask).

    Every output is checked before any work starts (and before the model loads): an output
    that is an input or another output is refused, existing ones need ``overwrite``. All of
    them are written to temporary files and renamed together at the end
    (:class:`cascade.io.files.OutputSet`): an error or an interruption leaves none of them
    and every existing file as it was.
    """
    from cascade.io.scene import open_scene, scene_inputs

    config = config or EngineConfig()
    if probabilities is not None and not config.keep_probabilities:
        config = dataclasses.replace(config, keep_probabilities=True)
    named = {"output": output, "probabilities": probabilities, "coarse_grid": coarse_grid}
    named |= {"valid": valid, "report": report, "quicklook": quicklook}
    outs = OutputSet(
        {role: p for role, p in named.items() if p is not None},
        inputs=scene_inputs(inputs),
        overwrite=overwrite,
    )
    with outs:
        for line in outs.recovered:
            log.info("%s", line)
        with open_scene(inputs, resampling=resampling) as source:
            product = getattr(source, "product", None)
            if product is not None:  # before the models are built: a product they cannot take
                product.check_model(*_bands_and_name(model))
            if not isinstance(model, CascadeModel):
                model = load_cascade_model(model, batch_size=config.batch_size)
            result = run_cascade(source, model, config, progress=progress)
            if product is not None:
                result.report["product"] = product.to_dict()
            t0 = time.perf_counter()
            _write_rasters(result, source, outs)
            result.report["timings_s"]["write"] = round(time.perf_counter() - t0, 4)
            result.report["inputs"] = [str(p) for p in source.paths]
            result.report["outputs"] = [str(p) for p in outs.targets.values()]
        if quicklook is not None:
            from cascade.io.quicklook import write_quicklook

            write_quicklook(
                quicklook,
                inputs,
                result,
                model.bands,
                resampling=resampling,
                into=outs.temp("quicklook"),
            )
        if report is not None:
            _write_text(report, outs.temp("report"), json.dumps(result.report, indent=2) + "\n")
    return result


def _bands_and_name(model: CascadeModel | str | Path) -> tuple[list[str], str]:
    """A model pair's bands and name, from its sidecar when it is not loaded yet."""
    if isinstance(model, CascadeModel):
        return list(model.bands), model.name
    from cascade.models.artifacts import ModelSpec

    return list(ModelSpec.read(Path(model) / "fine.json").bands), Path(model).name


def _write_text(path: str | Path, into: Path, text: str) -> None:
    try:
        into.write_text(text)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _write_rasters(result: CascadeResult, source: Any, outs: OutputSet) -> None:
    """The mask and the optional probability and class-grid rasters, tagged alike."""
    from cascade.io import raster

    tags = provenance.mask_tags(result.report, source.paths)
    targets = outs.targets
    raster.write_raster(
        targets["output"],
        result.mask,
        crs=source.crs,
        transform=source.transform,
        nodata=NODATA,
        tags=tags,
        descriptions=["cloud_mask"],
        into=outs.temp("output"),
    )
    if "valid" in targets:
        write_usable_raster(
            targets["valid"],
            result.usable,
            source.crs,
            source.transform,
            tags,
            into=outs.temp("valid"),
        )
    if "probabilities" in targets and result.probabilities is not None:
        bands, names = [result.probabilities], ["cloud_probability"]
        if result.shadow_probabilities is not None:
            bands.append(result.shadow_probabilities)
            names.append("shadow_probability")
        raster.write_raster(
            targets["probabilities"],
            np.stack(bands) if len(bands) > 1 else bands[0],
            crs=source.crs,
            transform=source.transform,
            nodata=float("nan"),
            tags=tags,
            descriptions=names,
            overview_resampling="average",
            into=outs.temp("probabilities"),
        )
    if "coarse_grid" in targets:
        raster.write_raster(
            targets["coarse_grid"],
            result.cell_classes,
            crs=source.crs,
            transform=raster.scaled_transform(source.transform, result.geometry.core),
            nodata=NO_DATA,  # cells without any data pixel
            tags=tags | {"classes": ", ".join(f"{i} {n}" for i, n in enumerate(CELL_CLASS_NAMES))},
            descriptions=["coarse_class"],
            into=outs.temp("coarse_grid"),
        )
