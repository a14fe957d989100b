"""``cascade grid``: the cascade's grid for a scene size."""

from __future__ import annotations

import json

import click

from cascade.cli.options import geometry_options
from cascade.geometry import SceneGeometry

__all__ = ["grid"]


@click.command()
@click.argument("height", type=int)
@click.argument("width", type=int)
@geometry_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def grid(height: int, width: int, patch: int, margin: int, stride: int, as_json: bool) -> None:
    """Print the cascade's grid for a HEIGHT x WIDTH scene."""
    g = SceneGeometry(height, width, patch=patch, margin=margin, stride=stride)
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
