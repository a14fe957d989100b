"""The ``cascade`` command line: thin commands over library functions."""

from __future__ import annotations

import json
import logging
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
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


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
