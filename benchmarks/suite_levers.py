"""Training-data levers of the fine model, each measured on the L8 Biome validation patches.

Every arm trains the shipped ``rgbn`` fine model (U-Net/MobileNetV2, slim decoder, four outputs)
from the same seed for the same number of steps on mixed windows (:mod:`training.mix`); only
the data differs:

- **real labels only**: the 23 L8 Biome training patches, no rendered clouds;
- **rendered clouds only**: clear real backgrounds with rendered clouds (no human label);
- **real + rendered** (the shipped recipe's mix): both, rendered clouds on some Biome patches;
- **... without sensor randomisation**: the same mix, ``[augment] strength = 0``;
- **... without zoom**: the same mix, every window at the source's scale.

Each arm's threshold is then swept on the Biome validation patches (as the shipped recipe does)
and the suite records the pooled accuracy and F1 there at the tuned threshold and at 0.5.
Evaluation images (ukis, 38-Cloud, the s2cloudless scene) are not used.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from benchmarks.suite import Suite

_MIX = "data:l8biome_patches/train"
ARMS: dict[str, dict[str, str]] = {
    "real labels only": {
        "sources": f'{{ kind = "biome", path = "{_MIX}", weight = 1.0, clouds = 0.0 }}',
    },
    "rendered clouds only": {
        "sources": '{ kind = "backgrounds", weight = 1.0, clouds = 0.9 }',
    },
    "real + rendered": {
        "sources": f'{{ kind = "biome", path = "{_MIX}", weight = 0.6, clouds = 0.35 }}, '
        '{ kind = "backgrounds", weight = 0.4, clouds = 0.9 }',
    },
    "real + rendered, no sensor randomisation": {
        "sources": f'{{ kind = "biome", path = "{_MIX}", weight = 0.6, clouds = 0.35 }}, '
        '{ kind = "backgrounds", weight = 0.4, clouds = 0.9 }',
        "augment": "strength = 0.0",
    },
    "real + rendered, no zoom": {
        "sources": f'{{ kind = "biome", path = "{_MIX}", weight = 0.6, clouds = 0.35 }}, '
        '{ kind = "backgrounds", weight = 0.4, clouds = 0.9 }',
        "augment": "zoom_p = 0.0",
    },
}

_RECIPE = """\
# Written by benchmarks/suite_levers.py: the "{arm}" arm.
name = "levers-{slug}"
profile = "rgbn"
seed = 0
work_dir = "."

[data]  # not derived: the arms train the fine model only
sources = [{{ kind = "composed", count = 1, biome = "{mix}" }}]

[mix]
window = {window}
validation = {{ kind = "biome", path = "data:l8biome_patches/val" }}
sources = [{sources}]

[augment]
{augment}

[fine]
architecture = "Unet"
backbone = "mobilenetv2"
decoder_filters = [64, 48, 32, 16, 8]
epochs = 1
steps_per_epoch = {steps}
batch_size = {batch}
learning_rate = 0.001
optimizer = "adam"
schedule = "cosine"
patience = 1

[threshold]
start = 0.05
stop = 0.95
step = 0.05
metric = "accuracy"
"""


def _log(msg: str) -> None:
    print(f"[levers] {msg}", file=sys.stderr, flush=True)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def _arm(suite: Suite, arm: str, spec: dict[str, str]) -> dict[str, Any]:
    from training.fine_mix import train_fine_mixed, tune_threshold_mixed
    from training.recipe import load_recipe

    p = suite.profile
    folder = suite.work / "levers" / _slug(arm)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.toml"
    path.write_text(
        _RECIPE.format(
            arm=arm,
            slug=_slug(arm),
            mix=_MIX,
            window=p.levers_window,
            sources=spec["sources"],
            augment=spec.get("augment", ""),
            steps=p.levers_steps,
            batch=p.levers_batch,
        )
    )
    recipe = load_recipe(path)
    t0 = time.perf_counter()
    history = train_fine_mixed(recipe, restart=True)
    seconds = time.perf_counter() - t0
    tuned = tune_threshold_mixed(recipe)
    at_half = next(s for s in tuned["sweep"] if abs(float(s["threshold"]) - 0.5) < 1e-6)
    best = tuned["best"]
    row = {
        "arm": arm,
        "recipe": spec,
        "train_seconds": round(seconds, 1),
        "final_loss": history["final"].get("loss"),
        "threshold": tuned["threshold"],
        "accuracy": best["accuracy"],
        "f1": best["f1"],
        "accuracy_at_0.5": at_half["accuracy"],
        "f1_at_0.5": at_half["f1"],
    }
    _log(f"{arm}: accuracy {row['accuracy']} at {row['threshold']} ({seconds:.0f} s)")
    return row


def run(suite: Suite) -> dict[str, Any]:
    """Train and score every arm; returns the results payload."""
    p = suite.profile
    if suite.data_dir is None or not (suite.data_dir / "l8biome_patches").is_dir():
        _log("no L8 Biome patches in the shared data: the levers are skipped")
        return {"profile": p.to_dict(), "skipped": "the L8 Biome patches are absent", "arms": []}
    rows = [_arm(suite, arm, spec) for arm, spec in ARMS.items()]
    return {
        "profile": p.to_dict(),
        "model": "rgbn fine model: U-Net/MobileNetV2, decoder 64-48-32-16-8, four outputs",
        "steps": p.levers_steps,
        "window": p.levers_window,
        "batch": p.levers_batch,
        "validation": "L8 Biome val (8 patches, human labels), pooled",
        "arms": rows,
        "recipes": {arm: json.dumps(spec) for arm, spec in ARMS.items()},
    }
