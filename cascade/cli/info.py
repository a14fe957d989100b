"""``cascade info``: what a model pair expects, its files checked."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import click

__all__ = ["info", "pretty_lines"]

# A mapping of more scalar entries than this, with few distinct values, is summarised (a
# recipe's 40 scene splits).
_SUMMARISE_OVER = 8


@click.command()
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the sidecars as JSON.")
def info(model_dir: str, as_json: bool) -> None:
    """Describe the model pair in MODEL_DIR (or a shipped one by name) and check its files."""
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
