"""Held-out seeds: which simulator seeds the shipped models were trained on, and checks.

A simulated scene is fixed by its simulator seed (and its settings), so a scene simulated
with a seed the shipped models were trained or validated on is not a held-out test of them.
The seeds are collected from two places that must agree: the shipped pairs' sidecars (their
``provenance.data.scenes`` names the scenes of the training and validation splits) and the
recipes in ``training/recipes/`` (the ``cascade simulate ... --seed S --count N`` commands
that made their data). :func:`check_held_out` refuses seeds among them; ``cascade simulate``
warns about them and the benchmark profiles are checked (``benchmarks.suite``).

Scene names: ``cascade simulate`` names scene ``i`` of a run with ``--seed S``
``sim-PROFILE-seedS-III`` (simulator seed ``S + i``); the shipped models' scenes were
named ``scene_NNNNN`` (simulator seed ``NNNNN``), so the two can never be confused.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from pathlib import Path

from cascade.errors import SimulationError

__all__ = [
    "FIRST_HELD_OUT_SEED",
    "check_held_out",
    "recipe_seeds",
    "scene_name",
    "seed_of_scene",
    "sidecar_seeds",
    "training_seeds",
]

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
# `cascade simulate` starts here by default: above every seed a shipped model was trained on.
FIRST_HELD_OUT_SEED = 100_000
_OLD_NAME = re.compile(r"^scene_(\d+)$")
_NAME = re.compile(r"^sim-.+-seed(\d+)-(\d+)$")


def scene_name(profile: str, seed: int, index: int) -> str:
    """The name ``cascade simulate --seed SEED`` gives its scene number ``index``."""
    return f"sim-{profile}-seed{seed}-{index:03d}"


def seed_of_scene(name: str) -> int | None:
    """The simulator seed of a simulated scene's name (either naming), None for others."""
    old = _OLD_NAME.match(name)
    if old:
        return int(old.group(1))
    new = _NAME.match(name)
    return int(new.group(1)) + int(new.group(2)) if new else None


def sidecar_seeds(model_dir: str | Path) -> set[int]:
    """The simulator seeds of the scenes a model pair's sidecars say it was trained on."""
    seeds: set[int] = set()
    for role in ("coarse", "fine"):
        path = Path(model_dir) / f"{role}.json"
        provenance = json.loads(path.read_text()).get("provenance") or {}
        scenes = (provenance.get("data") or {}).get("scenes") or {}
        seeds |= {s for s in map(seed_of_scene, scenes) if s is not None}
    return seeds


def recipe_seeds(recipe: str | Path) -> set[int]:
    """The seeds of the ``cascade simulate`` commands a recipe gives for its data."""
    seeds: set[int] = set()
    for line in Path(recipe).read_text().splitlines():
        text = line.lstrip("# ").strip()
        if not text.startswith("cascade simulate"):
            continue
        args = shlex.split(text)
        seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 0  # old default
        count = int(args[args.index("--count") + 1]) if "--count" in args else 1
        seeds |= set(range(seed, seed + count))
    return seeds


def training_seeds() -> dict[str, set[int]]:
    """Every simulator seed a shipped pair was trained or validated on, by pair name.

    The union of the pair's sidecars and its recipe (``training/recipes/NAME.toml``).
    """
    from cascade.models.pretrained import PRETRAINED_DIR

    out: dict[str, set[int]] = {}
    for folder in sorted(p for p in PRETRAINED_DIR.iterdir() if (p / "fine.json").is_file()):
        seeds = sidecar_seeds(folder)
        recipe = RECIPES_DIR / f"{folder.name}.toml"
        if recipe.is_file():
            seeds |= recipe_seeds(recipe)
        out[folder.name] = seeds
    return out


def _ranges(seeds: Iterable[int]) -> str:
    """``0-9, 12`` for {0, ..., 9, 12}."""
    ordered = sorted(set(seeds))
    parts, start = [], None
    for i, s in enumerate(ordered):
        start = s if start is None else start
        if i + 1 == len(ordered) or ordered[i + 1] != s + 1:
            parts.append(str(s) if s == start else f"{start}-{s}")
            start = None
    return ", ".join(parts)


def check_held_out(seeds: Iterable[int], what: str = "the held-out scenes") -> None:
    """Raise :class:`SimulationError` when any of ``seeds`` is a shipped pair's training seed."""
    wanted = set(seeds)
    clashes = {
        name: wanted & trained for name, trained in training_seeds().items() if wanted & trained
    }
    if clashes:
        said = "; ".join(
            f"{_ranges(c)} trained {name} ({_ranges(training_seeds()[name])})"
            for name, c in clashes.items()
        )
        raise SimulationError(
            f"{what} use simulator seeds the shipped models were trained or validated on: "
            f"{said}; held-out scenes need other seeds (from {FIRST_HELD_OUT_SEED} up are free)"
        )
