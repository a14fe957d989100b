"""The ``cascade`` command line: thin commands over library functions."""

from __future__ import annotations

import json
import logging
import os
import sys
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


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Model pair folder (coarse.json, fine.json and their weights).",
)
@click.option(
    "--router",
    type=click.Choice(["cascade", "all", "none"]),
    default="cascade",
    show_default=True,
    help="cascade: fine model on Partly Cloudy cells; all: on "
    "every cell (the patch baseline); none: coarse only.",
)
@click.option(
    "--confidence",
    type=float,
    default=None,
    help="With --router cascade, also route cells whose top coarse probability is below this.",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Cloud probability threshold (default: the model's).",
)
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
@click.option("--batch-size", default=8, show_default=True, help="Fine patches per model call.")
@click.option(
    "--resampling",
    default="bilinear",
    show_default=True,
    help="How coarser band files are resampled onto the finest grid.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary; only errors.")
@click.pass_context
def mask(
    ctx: click.Context,
    inputs: tuple[str, ...],
    output: str,
    model_dir: str,
    router: str,
    confidence: float | None,
    threshold: float | None,
    probabilities: str | None,
    coarse_grid: str | None,
    report: str | None,
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

    from cascade.engine import EngineConfig, mask_scene

    quiet = quiet or ctx.find_root().params.get("quiet", False)
    verbose = verbose or ctx.find_root().params.get("verbose", 0)
    _set_log_level(verbose, quiet)
    report_path = report or str(Path(output).with_suffix(".json"))
    source: str | list[str] = inputs[0] if len(inputs) == 1 else list(inputs)
    bar = None
    try:
        config = EngineConfig(
            router=router, confidence=confidence, threshold=threshold, batch_size=batch_size
        )

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
            model_dir,
            config=config,
            probabilities=probabilities,
            coarse_grid=coarse_grid,
            report=report_path,
            overwrite=overwrite,
            resampling=resampling,
            progress=progress,
        )
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
    """Describe the model pair in MODEL_DIR and check its files."""
    from cascade.artifacts import load_pair_specs

    try:
        specs = load_pair_specs(model_dir)
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
                f"scale {config.scale_px:.0f} px",
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


@train.command("coarse")
@click.argument("recipe", type=click.Path(dir_okay=False))
def train_coarse_cmd(recipe: str) -> None:
    """Train the coarse model (WCE, then the adjacency loss)."""
    from training.train import train_coarse

    hist = _stage(train_coarse, _recipe(recipe))
    for stage, h in hist.items():
        click.echo(
            f"coarse {stage}: loss {h['initial']['loss']:.4f} -> "
            f"{min(h['epochs']['loss']):.4f} (best train), val "
            f"{min(h['epochs'].get('val_loss', [float('nan')])):.4f}"
        )


@train.command("fine")
@click.argument("recipe", type=click.Path(dir_okay=False))
def train_fine_cmd(recipe: str) -> None:
    """Train the fine model."""
    from training.train import train_fine

    h = _stage(train_fine, _recipe(recipe))
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
@click.pass_context
def train_all(ctx: click.Context, recipe: str, out_dir: str, overwrite: bool) -> None:
    """derive, coarse, fine, tune-threshold and export in one go."""
    ctx.invoke(train_derive, recipe=recipe, overwrite=overwrite)
    ctx.invoke(train_coarse_cmd, recipe=recipe)
    ctx.invoke(train_fine_cmd, recipe=recipe)
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
