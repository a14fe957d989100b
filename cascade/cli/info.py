"""``cascade info``: what a model pair expects, or what a product is and which pair it gets."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import click

__all__ = ["info", "pretty_lines"]

# A mapping of more scalar entries than this, with few distinct values, is summarised (a
# recipe's 40 scene splits).
_SUMMARISE_OVER = 8


@click.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def info(target: str, as_json: bool) -> None:
    """Describe TARGET: a model pair folder (or a shipped pair's name), its files checked; or
    a product (Sentinel-2 .SAFE folder or .zip, Landsat Collection 2 folder or .tar): what
    was recognised, how its values become reflectance, and the shipped pair it would get."""
    from cascade.models.pretrained import shipped

    path = Path(target)
    is_model = (path / "coarse.json").is_file() or (not path.exists() and target in shipped())
    if not is_model and path.exists():
        from cascade.io.products import find_product, read_product

        # A file can only be a product; a folder is a product or else a model pair.
        product = find_product(target) if path.is_dir() else read_product(target)
        if product is not None:
            _product_info(product, as_json)
            return
    _model_info(target, as_json)


def _model_info(model_dir: str, as_json: bool) -> None:
    from cascade.models.artifacts import load_pair_specs
    from cascade.models.pretrained import resolve_model

    specs = load_pair_specs(resolve_model(model_dir))
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
    for i, line in enumerate(pretty_lines(prov)):
        click.echo(("provenance   " if i == 0 else " " * 13) + line)
    click.echo("weights      present, SHA-256 verified")


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    if value is None or isinstance(value, bool) or value == "":
        return json.dumps(value)
    return str(value)


def pretty_lines(value: Any, indent: int = 0) -> list[str]:
    """A JSON-like value as indented ``key: value`` lines; long flat mappings summarised
    (``40 entries (scene_00000 .. scene_00039): 28 train, 12 val``)."""
    pad = "  " * indent
    if isinstance(value, dict):
        flat = all(not isinstance(v, (dict, list)) for v in value.values())
        counts = Counter(_scalar(v) for v in value.values()) if flat else Counter()
        if flat and len(value) > _SUMMARISE_OVER and len(counts) <= _SUMMARISE_OVER // 2:
            keys = sorted(map(str, value))
            spread = ", ".join(f"{n} {v}" for v, n in counts.most_common())
            return [f"{pad}{len(value)} entries ({keys[0]} .. {keys[-1]}): {spread}"]
        lines = []
        for k, v in value.items():
            if isinstance(v, dict) and v:
                sub = pretty_lines(v, indent + 1)
                if len(sub) == 1 and "entries (" in sub[0]:
                    lines.append(f"{pad}{k}: {sub[0].strip()}")
                else:
                    lines += [f"{pad}{k}:", *sub]
            elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
                # a list of mappings (a recipe's sources): one "- " item each
                lines.append(f"{pad}{k}:")
                for item in v:
                    sub = pretty_lines(item, indent + 2)
                    lines += [f"{pad}  - {sub[0].strip()}", *sub[1:]] if sub else []
            else:
                lines.append(f"{pad}{k}: {_inline(v)}")
        return lines
    return [pad + _inline(value)]


def _inline(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}"
    return _scalar(value)


def _model_for(product: Any) -> dict[str, Any]:
    """The shipped pair the product gets (as ``cascade mask`` would pick it) and any warning."""
    from cascade.errors import BandMismatchError
    from cascade.models.artifacts import ModelSpec
    from cascade.models.pretrained import choose_model

    try:
        choice = choose_model(product.band_names, source=product.title)
        bands = ModelSpec.read(choice.folder / "fine.json").bands
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            product.check_model(bands, choice.name)
    except BandMismatchError as exc:
        return {"name": None, "reason": str(exc), "warnings": []}
    return {
        "name": choice.name,
        "reason": choice.reason,
        "warnings": [str(w.message) for w in caught],
    }


def _grid(product: Any) -> dict[str, Any]:
    from cascade.io.products.source import open_product

    with open_product(product) as src:
        t = src.transform
        return {
            "height": src.height,
            "width": src.width,
            "crs": str(src.crs),
            "pixel_size": [t.a, -t.e],
            "origin": [t.c, t.f],
        }


def _dn_plus(offset: float) -> str:
    """``DN - 1000``, ``DN + 5.675``, ``DN``: a band's offset as a person writes it."""
    if offset == 0:
        return "DN"
    return f"(DN {'-' if offset < 0 else '+'} {abs(offset):g})"


def _reflectance_lines(product: Any) -> list[str]:
    """How DN become reflectance: one line when every band shares offset and scale."""
    pairs = {(b.offset, b.scale) for b in product.bands}
    if len(pairs) == 1:
        offset, scale = pairs.pop()
        return [f"{_dn_plus(offset)} x {scale:.6g}, every band"]
    return [
        f"{b.name} ({b.product_band}): {_dn_plus(b.offset)} x {b.scale:.6g}" for b in product.bands
    ]


def _values_line(product: Any) -> str:
    """What the engine is given (see ProductSource)."""
    if all(b.scale == product.unit for b in product.bands):
        return f"DN + offset, in units of {product.unit:g} reflectance"
    return "reflectance (unit 1)"


def _product_info(product: Any, as_json: bool) -> None:
    grid = _grid(product)
    model = _model_for(product)
    if as_json:
        click.echo(json.dumps(product.to_dict() | {"grid": grid, "model": model}, indent=2))
        return
    kind = "top-of-atmosphere" if product.reflectance == "TOA" else "bottom-of-atmosphere"
    rows = [
        ("product", f"{product.path}"),
        ("format", product.format),
        ("name", product.name),
        ("mission", f"{product.mission} {product.sensor}"),
        ("level", f"{product.level} ({kind} reflectance)"),
        ("baseline", product.processing_baseline or "-"),
        (
            "sun",
            "-" if product.sun_elevation is None else f"elevation {product.sun_elevation:g} deg",
        ),
        ("bands", " ".join(product.band_names)),
    ]
    rows += [
        ("reflectance" if i == 0 else "", line)
        for i, line in enumerate(_reflectance_lines(product))
    ]
    rows += [
        ("values", _values_line(product)),
        ("no data", product.nodata_rule()),
        (
            "grid",
            f"{grid['width']} x {grid['height']} px of {grid['pixel_size'][0]:g} m, {grid['crs']}",
        ),
    ]
    rows += [("note", n) for n in product.notes]
    rows.append(("model", f"{model['name']} ({model['reason']})" if model["name"] else "none fits"))
    if not model["name"]:
        rows.append(("", model["reason"]))
    rows += [("warning", w) for w in model["warnings"]]
    for label, text in rows:
        click.echo(f"{label:<12} {text}")
