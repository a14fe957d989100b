"""The ``cascade`` command line: thin commands over library functions."""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from cascade import __version__
from cascade.errors import CascadeError
from cascade.geometry import SceneGeometry

__all__ = ["main"]

_geometry_options = [
    click.option("--patch", default=256, show_default=True, help="Fine model window (px)."),
    click.option("--margin", default=4, show_default=True, help="Context on each side (px)."),
    click.option("--stride", default=32, show_default=True, help="Coarse encoder stride."),
]


def geometry_options(fn: Any) -> Any:
    """The patch/margin/stride options shared by the commands that build a geometry."""
    for option in reversed(_geometry_options):
        fn = option(fn)
    return fn


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cascade")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
def main(verbose: int, quiet: bool) -> None:
    """Full-scene cloud masks with a coarse/fine CNN cascade."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    _set_log_level(verbose, quiet)


def _set_log_level(verbose: int, quiet: bool) -> None:
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)  # basicConfig does nothing the second time


@main.command()
@click.argument("height", type=int)
@click.argument("width", type=int)
@geometry_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def grid(height: int, width: int, patch: int, margin: int, stride: int, as_json: bool) -> None:
    """Print the cascade's grid for a HEIGHT x WIDTH scene."""
    try:
        g = SceneGeometry(height, width, patch=patch, margin=margin, stride=stride)
    except CascadeError as exc:
        raise _fail(exc) from exc
    info = g.to_dict()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"scene        {g.height} x {g.width} px")
    click.echo(f"cell core    {g.core} px (patch {g.patch}, margin {g.margin})")
    click.echo(f"grid         {g.rows} x {g.cols} = {g.n_cells} cells")
    click.echo(
        f"padded       {g.padded_shape[0]} x {g.padded_shape[1]} px "
        f"(+{g.pad_bottom} rows, +{g.pad_right} cols)"
    )
    click.echo(
        f"coarse input {g.coarse_shape[0]} x {g.coarse_shape[1]} px (pool ratio {g.pool_ratio:g}:1)"
    )


# Engine options shared by `mask` and `batch`.
_ROUTER = click.option(
    "--router",
    type=click.Choice(["cascade", "all", "none"]),
    default="cascade",
    show_default=True,
    help="cascade: fine model on Partly Cloudy cells; all: on "
    "every cell (the patch baseline); none: coarse only.",
)
_CONFIDENCE = click.option(
    "--confidence",
    type=float,
    default=None,
    help="With --router cascade, also route cells whose top coarse probability is below this.",
)
_THRESHOLD = click.option(
    "--threshold",
    type=float,
    default=None,
    help="Cloud probability threshold (default: the model's).",
)
_SCALE = click.option(
    "--scale",
    "input_scale",
    type=float,
    default=None,
    help="TOA reflectance per input unit (default: the model's: 1e-4 for sentinel2-l1c-7 "
    "digital numbers, 1 for rgbn, which expects reflectance).",
)
_BATCH_SIZE = click.option(
    "--batch-size", default=8, show_default=True, help="Fine patches per model call."
)
_RESAMPLING = click.option(
    "--resampling",
    default="bilinear",
    show_default=True,
    help="How coarser band files are resampled onto the finest grid.",
)


def _engine_config(
    router: str,
    confidence: float | None,
    threshold: float | None,
    batch_size: int,
    input_scale: float | None,
) -> Any:
    from cascade.engine import EngineConfig

    return EngineConfig(
        router=router,
        confidence=confidence,
        threshold=threshold,
        batch_size=batch_size,
        input_scale=input_scale,
    )


def pick_model(
    model: str | None, source: str | list[str], resampling: str = "bilinear", quiet: bool = False
) -> Path:
    """The model pair folder for ``--model`` (a folder or a shipped name), or, without it, the
    shipped pair that fits the source's bands (said on stderr)."""
    from cascade.pretrained import choose_model, resolve_model

    if model is not None:
        return resolve_model(model)
    from cascade import io

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mask_scene warns about the source itself
        with io.open_source(source, resampling=resampling) as src:
            names = list(src.band_names)
    where = source if isinstance(source, str) else f"{source[0]} (+{len(source) - 1} files)"
    choice = choose_model(names, source=str(where))
    if not quiet:
        click.echo(f"model: shipped {choice.name} ({choice.reason})", err=True)
    return choice.folder


def write_quicklook(
    path: str | Path,
    source: str | list[str],
    result: Any,
    model_path: Path,
    resampling: str = "bilinear",
    overwrite: bool = False,
) -> Path:
    """The PNG of :func:`cascade.quicklook.quicklook` for a masked scene, read decimated."""
    import imageio.v3 as iio
    import numpy as np

    from cascade import io
    from cascade._files import atomic_output
    from cascade.artifacts import load_pair_specs, match_bands
    from cascade.quicklook import decimation, quicklook

    bands = load_pair_specs(model_path, verify_weights=False).bands
    rgb_in_model = match_bands(bands, ["Red", "Green", "Blue"], source="the model")
    mask = result.mask
    step = decimation(*mask.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mask_scene has warned about the source already
        src = io.open_source(source, resampling=resampling)
    with src:
        in_source = match_bands(src.band_names, bands)
        idx = [in_source[i] for i in rgb_in_model]
        rows = []
        strip = 512 * step
        for r0 in range(0, src.height, strip):
            block = src.read(idx, r0, min(src.height, r0 + strip))
            rows.append(block[:, ::step, ::step].astype(np.float32))
    picture = quicklook(
        np.concatenate(rows, axis=1),
        mask[::step, ::step],
        np.argwhere(result.routed),
        result.geometry.core / step,
    )
    with atomic_output(Path(path), overwrite=overwrite) as tmp:
        iio.imwrite(tmp, picture, extension=".png")
    return Path(path)


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--model",
    "model_dir",
    default=None,
    help="Model pair folder (coarse.json, fine.json and their weights) or a shipped model's "
    "name (sentinel2-l1c-7, rgbn). Default: the shipped pair that fits the input's bands.",
)
@_SCALE
@_ROUTER
@_CONFIDENCE
@_THRESHOLD
@click.option(
    "--probabilities",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the cloud probability raster (float32) here.",
)
@click.option(
    "--coarse-grid",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the coarse class grid (one pixel per cell) here.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the JSON run report here (default: OUTPUT with .json).",
)
@click.option(
    "--quicklook",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a PNG: natural colour beside the mask over it (cells the fine model ran "
    "on outlined).",
)
@_BATCH_SIZE
@_RESAMPLING
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary; only errors.")
@click.pass_context
def mask(
    ctx: click.Context,
    inputs: tuple[str, ...],
    output: str,
    model_dir: str | None,
    input_scale: float | None,
    router: str,
    confidence: float | None,
    threshold: float | None,
    probabilities: str | None,
    coarse_grid: str | None,
    report: str | None,
    quicklook: str | None,
    batch_size: int,
    resampling: str,
    overwrite: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Write the cloud mask of INPUTS to OUTPUT (a Cloud-Optimized GeoTIFF).

    INPUTS is a multi-band raster, a folder of single-band files (B01.tif, ...) or several
    single-band files. The mask has 0 clear, 1 cloud, 255 no data, and the input's CRS and
    transform.
    """
    from pathlib import Path

    from cascade.engine import mask_scene

    quiet = quiet or ctx.find_root().params.get("quiet", False)
    verbose = verbose or ctx.find_root().params.get("verbose", 0)
    _set_log_level(verbose, quiet)
    report_path = report or str(Path(output).with_suffix(".json"))
    source: str | list[str] = inputs[0] if len(inputs) == 1 else list(inputs)
    bar = None
    try:
        config = _engine_config(router, confidence, threshold, batch_size, input_scale)
        if quicklook and Path(quicklook).exists() and not overwrite:
            raise CascadeError(f"{quicklook} already exists; pass --overwrite to replace it")
        model_path = pick_model(model_dir, source, resampling, quiet)

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if quiet:
                return
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="patch", desc="fine", file=sys.stderr)
            bar.update(done - bar.n)

        result = mask_scene(
            source,
            output,
            model_path,
            config=config,
            probabilities=probabilities,
            coarse_grid=coarse_grid,
            report=report_path,
            overwrite=overwrite,
            resampling=resampling,
            progress=progress,
        )
        if quicklook:
            write_quicklook(quicklook, source, result, model_path, resampling, overwrite)
    except (CascadeError, OSError) as exc:
        raise _fail(exc) from exc
    finally:
        if bar is not None:
            bar.close()
    r = result.report
    speed = r.get("speedup_vs_all_estimate")
    if not quiet:
        click.echo(
            f"{output}: {r['pixels']['cloud']} cloud, {r['pixels']['clear']} clear, "
            f"{r['pixels']['nodata']} no data px; fine model on {r['patches_run']} of "
            f"{r['cells']} cells ({router}); {r['timings_s']['total']:.1f} s"
            + (f", ~{speed:.1f}x faster than routing all (estimate)" if speed else "")
        )


@main.command()
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the sidecars as JSON.")
def info(model_dir: str, as_json: bool) -> None:
    """Describe the model pair in MODEL_DIR (or a shipped one by name) and check its files."""
    from cascade.artifacts import load_pair_specs
    from cascade.pretrained import resolve_model

    try:
        specs = load_pair_specs(resolve_model(model_dir))
    except CascadeError as exc:
        raise _fail(exc) from exc
    if as_json:
        click.echo(
            json.dumps({"coarse": specs.coarse.to_dict(), "fine": specs.fine.to_dict()}, indent=2)
        )
        return
    c, f = specs.coarse, specs.fine
    click.echo(f"model pair   {specs.folder}")
    click.echo(f"bands        {', '.join(c.bands)}")
    click.echo(f"coarse       {c.architecture}/{c.backbone}  ({c.weights})")
    click.echo(
        f"fine         {f.architecture}/{f.backbone}  ({f.weights}), threshold {f.threshold}"
    )
    click.echo(f"geometry     patch {f.patch}, margin {f.margin}, stride {f.stride}")
    n = c.normalization
    click.echo(f"normalise    raw * {n.scale:g}" + (" then per-band mean/std" if n.mean else ""))
    prov = c.provenance or {}
    if prov:
        click.echo("provenance   " + ", ".join(f"{k}: {v}" for k, v in prov.items()))
    click.echo("weights      present, SHA-256 verified")


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--count", default=1, show_default=True, help="Number of scenes.")
@click.option("--height", default=2000, show_default=True, help="Scene height (px).")
@click.option("--width", default=None, type=int, help="Scene width (px; default: height).")
@click.option(
    "--profile",
    default="sentinel2-l1c-7",
    show_default=True,
    help="Band profile: sentinel2-l1c-7, sentinel2-l1c-13 or rgbn.",
)
@click.option(
    "--cover",
    default=None,
    type=float,
    help="Cloud cover 0..1 (default: drawn per scene from 0..0.9).",
)
@click.option(
    "--scale",
    "scale_px",
    default=None,
    type=float,
    help="Largest cloud structure in px (default: drawn per scene, 100..4000).",
)
@click.option(
    "--brightness",
    default=None,
    type=float,
    help="Visible reflectance of thick cloud (default: drawn per scene, 0.35..0.85).",
)
@click.option(
    "--cloud-top",
    type=click.Choice(["low", "mid", "high"]),
    default=None,
    help="Cloud-top height, which sets B09/B10 over cloud (default: drawn per scene: low "
    "45 %, mid 35 %, high 20 %).",
)
@click.option("--cirrus", default=0.0, show_default=True, help="Cirrus cover 0..1.")
@click.option("--haze", default=0.3, show_default=True, help="Haze amount 0..1.")
@click.option("--no-shadows", is_flag=True, help="Do not cast cloud shadows.")
@click.option(
    "--nodata-wedge",
    default=0.0,
    show_default=True,
    help="Share of the scene cut off as a No Data corner.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the first scene.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder holding s2_l1c_clear_virginia/ etc. (default: $CASCADE_DATA or ../shared/data).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
def simulate(
    out_dir: str,
    count: int,
    height: int,
    width: int | None,
    profile: str,
    cover: float | None,
    scale_px: float | None,
    brightness: float | None,
    cloud_top: str | None,
    cirrus: float,
    haze: float,
    no_shadows: bool,
    nodata_wedge: float,
    seed: int,
    data_dir: str | None,
    overwrite: bool,
) -> None:
    """Write simulated cloudy scenes with exact and paper-style masks to OUT_DIR.

    Each scene is NAME.tif (uint16, reflectance x 10000, 0 = no data), NAME_mask.tif (paper
    annotation style) and NAME_mask_exact.tif; OUT_DIR/index.json lists them with their
    settings.
    """
    import numpy as np

    from cascade._files import atomic_output
    from cascade.simulate import CloudConfig, write_scene

    records = []
    try:
        for i in range(count):
            rng = np.random.default_rng([seed, i])
            config = CloudConfig(
                cover=float(rng.uniform(0.0, 0.9)) if cover is None else cover,
                scale_px=float(np.exp(rng.uniform(np.log(100), np.log(4000))))
                if scale_px is None
                else scale_px,
                cirrus=cirrus,
                haze=haze,
                shadows=not no_shadows,
                nodata_wedge=nodata_wedge,
                sun_azimuth_deg=float(rng.uniform(100, 200)),
                sun_elevation_deg=float(rng.uniform(20, 70)),
                brightness=float(rng.uniform(0.35, 0.85)) if brightness is None else brightness,
                cloud_top=str(rng.choice(["low", "mid", "high"], p=[0.45, 0.35, 0.2]))
                if cloud_top is None
                else cloud_top,
            )
            name = f"scene_{seed + i:05d}"
            info = write_scene(
                out_dir,
                name,
                height,
                width or height,
                profile=profile,
                config=config,
                seed=seed + i,
                overwrite=overwrite,
                data_dir=data_dir,
            )
            records.append(info)
            click.echo(
                f"{name}: cloud {info['exact_cloud_fraction']:.1%} (exact labels), "
                f"scale {config.scale_px:.0f} px, {config.cloud_top} top, brightness "
                f"{config.brightness:.2f}",
                err=True,
            )
        with atomic_output(f"{out_dir}/index.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(records, indent=2) + "\n")
    except (CascadeError, OSError) as exc:
        raise _fail(exc) from exc
    click.echo(f"wrote {count} scene(s) to {out_dir}")


@main.group()
def train() -> None:
    """Train the coarse and fine models from a TOML recipe (training/recipes/)."""


def _recipe(path: str) -> Any:
    from training.recipe import load_recipe

    try:
        return load_recipe(path)
    except CascadeError as exc:
        raise _fail(exc) from exc


def _stage(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except (CascadeError, OSError) as exc:
        raise _fail(exc) from exc


@train.command("derive")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace existing training sets.")
def train_derive(recipe: str, overwrite: bool) -> None:
    """Cut the recipe's scenes into coarse.h5 and fine.h5 in its work folder."""
    from training.derive import derive

    r = _recipe(recipe)
    names, scenes = _stage(r.scenes)
    summary = _stage(
        derive,
        scenes,
        r.work_dir,
        r.derive,
        scene_names=names,
        overwrite=overwrite,
        provenance={"recipe": r.name, "sha256": r.sha256},
    )
    click.echo(json.dumps(summary, indent=2))


_RESTART = click.option(
    "--restart",
    is_flag=True,
    help="Train from scratch even where an earlier run of this recipe finished or was "
    "interrupted (by default finished stages are kept and interrupted ones resume).",
)


@train.command("coarse")
@click.argument("recipe", type=click.Path(dir_okay=False))
@_RESTART
def train_coarse_cmd(recipe: str, restart: bool) -> None:
    """Train the coarse model (WCE, then the adjacency loss)."""
    from training.train import train_coarse

    hist = _stage(train_coarse, _recipe(recipe), restart=restart)
    for stage, h in hist.items():
        click.echo(
            f"coarse {stage}: loss {h['initial']['loss']:.4f} -> "
            f"{min(h['epochs']['loss']):.4f} (best train), val "
            f"{min(h['epochs'].get('val_loss', [float('nan')])):.4f}"
        )


@train.command("fine")
@click.argument("recipe", type=click.Path(dir_okay=False))
@_RESTART
def train_fine_cmd(recipe: str, restart: bool) -> None:
    """Train the fine model."""
    from training.train import train_fine

    h = _stage(train_fine, _recipe(recipe), restart=restart)
    click.echo(
        f"fine: loss {h['initial']['loss']:.4f} -> {min(h['epochs']['loss']):.4f} "
        f"(best train), val {min(h['epochs'].get('val_loss', [float('nan')])):.4f}"
    )


@train.command("tune-threshold")
@click.argument("recipe", type=click.Path(dir_okay=False))
def train_tune(recipe: str) -> None:
    """Sweep the fine model's cloud threshold on the validation split."""
    from training.train import tune_threshold

    res = _stage(tune_threshold, _recipe(recipe))
    click.echo(f"threshold {res['threshold']} ({res['metric']} {res['best'][res['metric']]:.4f})")


@train.command("export")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace an existing model pair.")
def train_export(recipe: str, out_dir: str, overwrite: bool) -> None:
    """Write the trained pair as a model folder for `cascade mask --model`."""
    from training.train import export

    click.echo(f"wrote {_stage(export, _recipe(recipe), out_dir, overwrite=overwrite)}")


@train.command("all")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace existing sets and models.")
@_RESTART
@click.pass_context
def train_all(
    ctx: click.Context, recipe: str, out_dir: str, overwrite: bool, restart: bool
) -> None:
    """derive, coarse, fine, tune-threshold and export in one go.

    Run again after an interruption, it keeps the derived sets and the finished stages and
    resumes the interrupted one; --overwrite derives the sets anew (and so retrains).
    """
    work = _recipe(recipe).work_dir
    if overwrite or not all((work / f).exists() for f in ("coarse.h5", "fine.h5")):
        ctx.invoke(train_derive, recipe=recipe, overwrite=overwrite)
    else:
        click.echo(f"using the training sets in {work} (--overwrite derives them anew)")
    ctx.invoke(train_coarse_cmd, recipe=recipe, restart=restart)
    ctx.invoke(train_fine_cmd, recipe=recipe, restart=restart)
    ctx.invoke(train_tune, recipe=recipe)
    ctx.invoke(train_export, recipe=recipe, out_dir=out_dir, overwrite=overwrite)


@main.command()
@click.option("--size", default=2600, show_default=True, help="Scene side in pixels.")
@click.option("--seed", default=0, show_default=True, help="Random seed of the scene.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for the quicklook PNG and the JSON summary.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def demo(size: int, seed: int, out_dir: str | None, overwrite: bool) -> None:
    """Run the cascade's geometry on a generated scene, models replaced by its known mask."""
    from cascade.demo import run_demo

    try:
        result = run_demo(size, size, seed=seed, out_dir=out_dir, overwrite=overwrite)
    except (CascadeError, OSError) as exc:
        raise _fail(exc) from exc
    g = result.geometry
    click.echo(f"scene {g.height} x {g.width}, grid {g.rows} x {g.cols} = {g.n_cells} cells")
    click.echo("cells: " + ", ".join(f"{k} {v}" for k, v in result.cells_per_class.items()))
    click.echo(
        f"routed to the fine stage: {result.routed} of {g.n_cells} cells "
        f"({result.routed / g.n_cells:.0%}), ideal speed-up {result.ideal_speedup:.1f}x"
    )
    click.echo(
        "kernel times: "
        + ", ".join(f"{k} {v:.3f} s" for k, v in result.timings_s.items())
        + " (first run includes compilation)"
    )
    click.echo(f"assembled mask equals the known mask: {'yes' if result.exact else 'NO'}")
    for path in result.outputs:
        click.echo(f"wrote {path}")
    if not result.exact:
        raise click.ClickException("the assembled mask differs from the known mask")


@main.command("batch")
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for NAME_mask.tif, NAME_mask.json and batch-report.json (created if missing).",
)
@click.option(
    "--model",
    "model_dir",
    default=None,
    help="Model pair folder (every worker must be able to read it at this path) or a shipped "
    "model's name. Default: the shipped pair that fits the first scene's bands.",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="A running Dask scheduler (tcp://host:8786) to send the scenes to; "
    "default: a local cluster on this machine.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local cluster: worker processes (default: one per core, 3 GB of memory each). "
    "With --scheduler: wait until this many workers have joined.",
)
@click.option(
    "--threads-per-worker",
    type=click.IntRange(min=1),
    default=None,
    help="Local cluster: scenes each worker masks at once (default 1).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="How many more times a scene is submitted after the worker running it died.",
)
@_ROUTER
@_CONFIDENCE
@_THRESHOLD
@_SCALE
@_BATCH_SIZE
@_RESAMPLING
@click.option(
    "--overwrite",
    is_flag=True,
    help="Redo scenes whose outputs exist, also those made from other inputs, model or settings.",
)
@click.option("-v", "--verbose", count=True, help="Log every scene and its fine-stage progress.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or table; only errors.")
@click.pass_context
def batch_command(
    ctx: click.Context,
    inputs: tuple[str, ...],
    out_dir: str,
    model_dir: str | None,
    scheduler: str | None,
    workers: int | None,
    threads_per_worker: int | None,
    retries: int,
    router: str,
    confidence: float | None,
    threshold: float | None,
    input_scale: float | None,
    batch_size: int,
    resampling: str,
    overwrite: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Mask every scene of INPUTS on a Dask cluster, one mask and report each in --out-dir.

    INPUTS are raster files, folders of band files (one scene each), globs ('scenes/*.tif',
    quoted) and text files listing them one per line (@scenes.txt or scenes.txt). Scene NAME
    gets NAME_mask.tif and NAME_mask.json. Masks that exist and were made from the same
    inputs, model and settings are skipped; others are left alone unless --overwrite. A table
    of the scenes goes to stdout and everything to OUT_DIR/batch-report.json. Exit code 1 when
    a scene failed or exists with other settings.
    """
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from cascade.batch import (
        BatchReport,
        SceneResult,
        plan_scenes,
        run_batch,
        set_dask_log_level,
    )

    quiet = quiet or ctx.find_root().params.get("quiet", False)
    verbose = verbose or ctx.find_root().params.get("verbose", 0)
    _set_log_level(verbose, quiet)
    # Dask's own INFO lines (every connection, every worker) only with -vv.
    set_dask_log_level(logging.ERROR if quiet else logging.INFO if verbose > 1 else logging.WARNING)
    batch_log = logging.getLogger("cascade.batch")
    try:
        config = _engine_config(router, confidence, threshold, batch_size, input_scale)
        n_scenes = len(plan_scenes(inputs, out_dir))  # fails here, before any cluster starts
    except (CascadeError, OSError) as exc:
        raise _fail(exc) from exc

    bar = tqdm(total=n_scenes, unit="scene", desc="batch", file=sys.stderr, disable=quiet)
    failed = 0

    def progress(result: SceneResult, done: int, total: int) -> None:
        nonlocal failed
        failed += result.status in ("failed", "exists-differs")
        bar.update(done - bar.n)
        if failed:
            bar.set_postfix(not_done=failed)

    def fine_progress(scene: str, done: int, total: int) -> None:
        batch_log.info("%s: fine stage %d/%d patches", scene, done, total)

    try:
        with logging_redirect_tqdm():
            report: BatchReport = run_batch(
                inputs,
                out_dir,
                model_dir,
                config=config,
                scheduler=scheduler,
                workers=workers,
                threads_per_worker=threads_per_worker,
                overwrite=overwrite,
                retries=retries,
                resampling=resampling,
                progress=progress,
                fine_progress=fine_progress if verbose and not quiet else None,
            )
    except (CascadeError, OSError) as exc:
        raise _fail(exc) from exc
    finally:
        bar.close()
    t = report.totals
    if not quiet:
        _batch_table(report)
        rate = t["scenes_per_hour"]
        click.echo(
            f"{t['scenes']} scene{'' if t['scenes'] == 1 else 's'}: {t['ok']} ok, "
            f"{t['skipped']} skipped, {t['failed']} failed, "
            f"{t['exists_differs']} exist and differ; {t['wall_s']:.1f} s"
            + (f", {rate:.1f} scenes/h" if rate else "")
            + f"; report {report.path}"
        )
    if not report.ok:
        problems = []
        if t["failed"]:
            problems.append(f"{t['failed']} scene(s) failed")
        if t["exists_differs"]:
            problems.append(
                f"{t['exists_differs']} scene(s) have outputs made from other inputs, model or "
                "settings (pass --overwrite to redo them)"
            )
        raise click.ClickException(f"{' and '.join(problems)}; see {report.path}")


def _batch_table(report: Any) -> None:
    """Print one line per scene: name, status, time, patches, attempts, worker; then errors."""
    rows = [("scene", "status", "time", "patches", "attempts", "worker")]
    for s in report.scenes:
        rows.append(
            (
                s.name,
                s.status,
                f"{s.seconds:.1f} s",
                "" if s.patches_run is None else str(s.patches_run),
                str(s.attempts),
                s.worker or "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {2, 3, 4}
    for r in rows:
        click.echo(
            "  ".join(
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    for s in report.scenes:
        if s.error:
            click.echo(f"{s.name}: {s.error}")
