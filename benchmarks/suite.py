"""What the benchmark suites share: the two profiles, where things go, the methods compared.

A *profile* fixes every size, seed and repeat count of a run: ``quick`` (a few minutes on two
cores: small scenes, a smoke-sized loss ablation) and ``full`` (the numbers of
``docs/benchmarks.md``: full-size Sentinel-2 scenes, a real loss ablation). Each suite writes
``benchmarks/results/<profile>/<suite>.json`` and its pictures under
``docs/img/benchmarks-<profile>/``; :mod:`benchmarks.report` turns them into Markdown.

Methods: the engine's three routers on one loaded model pair (``cascade``: fine model on the
Partly Cloudy cells; ``all``: the patch baseline, fine model on every cell; ``none``: coarse
only) and s2cloudless (Sentinel Hub's per-pixel LightGBM classifier, PyPI ``s2cloudless``,
which ships its model), run only where its ten Sentinel-2 bands exist.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import RESULTS_DIR

__all__ = [
    "ABLATION_EVAL_SEED",
    "ABLATION_TRAIN_SEED",
    "PROFILES",
    "ROUTERS",
    "S2CLOUDLESS_BANDS",
    "Profile",
    "Suite",
    "check_profile_seeds",
    "held_out_seeds",
    "s2cloudless_mask",
    "warm_up",
]

ROOT = Path(__file__).resolve().parents[1]
WORK_DIR = Path(__file__).resolve().parent / "work"
DOCS_DIR = ROOT / "docs"
ROUTERS = ("cascade", "all", "none")
# The bands s2cloudless's classifier reads, in its order (L1C reflectance).
S2CLOUDLESS_BANDS = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")
# The loss ablation trains its own coarse models on scenes of seeds from ABLATION_TRAIN_SEED and
# evaluates them on scenes of seeds from ABLATION_EVAL_SEED.
ABLATION_TRAIN_SEED = 700
ABLATION_EVAL_SEED = 950
# The speed suite's cloud-structure scenes: seeds from profile.seed + this.
STRUCTURE_SEED_OFFSET = 50


@dataclass(frozen=True)
class Profile:
    """Sizes, seeds and repeats of one benchmark run."""

    name: str
    # accuracy: held-out simulated scenes (13 bands, so s2cloudless can run on them too)
    sim_scenes: int
    sim_size: int
    # speed: the main scene, time vs size, cloud structures, repeats (median reported)
    speed_size: int
    sizes: tuple[int, ...]
    structure_size: int
    repeats: int
    s2cloudless_factor: int  # s2cloudless runs on factor x factor mean-pooled pixels
    # loss ablation: simulated training scenes, training length
    ablation_scenes: int
    ablation_size: int
    ablation_epochs: int
    ablation_finetune_epochs: int
    ablation_steps: int
    ablation_eval_scenes: int
    seed: int = 900
    ablation_seeds: int = 1  # training seeds per arm (mean and sd over them)
    # encoders (Table III): coarse encoders trained on the ablation's set, one seed each
    encoders: tuple[str, ...] = ("mobilenetv2", "vgg16")
    # kernels: the Numba kernels against their numpy references on one scene
    kernels_size: int = 2480
    kernels_repeats: int = 3
    kernels_ref_repeats: int = 2
    # engine: cascade vs patch baseline from disk, random-weight models; each router in its
    # own process when isolated (peak RSS per router)
    engine_size: int = 2480
    engine_partly: float = 0.2
    engine_isolated: bool = True
    engine_backbone: str = "resnet18"  # of both models (U-Net fine model)
    # batch: scenes per hour and worker memory on a local Dask cluster of each worker count
    batch_scene_size: int = 1240
    batch_count: int = 2
    batch_workers: tuple[int, ...] = (1,)
    # simulate: one simulated scene written to disk strip by strip
    simulate_size: int = 2480
    # levers: fine-model training arms (steps each), windows and batch
    levers_steps: int = 20
    levers_window: int = 64
    levers_batch: int = 8

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PROFILES = {
    "quick": Profile(
        name="quick",
        sim_scenes=1,
        sim_size=1240,
        speed_size=2480,
        sizes=(1240, 2480),
        structure_size=1240,
        repeats=3,
        s2cloudless_factor=16,
        ablation_scenes=3,
        ablation_size=1240,
        ablation_epochs=2,
        ablation_finetune_epochs=1,
        ablation_steps=10,
        ablation_eval_scenes=1,
    ),
    "full": Profile(
        name="full",
        sim_scenes=3,
        sim_size=1984,
        speed_size=10980,
        sizes=(1240, 2480, 4960),
        structure_size=2480,
        repeats=3,
        s2cloudless_factor=16,
        ablation_scenes=36,
        ablation_size=2480,
        ablation_epochs=10,
        ablation_finetune_epochs=3,
        ablation_steps=40,
        ablation_eval_scenes=6,
        ablation_seeds=3,
        encoders=("mobilenetv2", "vgg16", "resnet50", "inceptionv3"),
        kernels_size=10980,
        kernels_repeats=5,
        kernels_ref_repeats=3,
        engine_size=10980,
        batch_scene_size=5490,
        batch_count=4,
        batch_workers=(1, 2),
        simulate_size=10980,
        levers_steps=400,
        levers_window=128,
        levers_batch=16,
    ),
}


def held_out_seeds(p: Profile) -> dict[str, set[int]]:
    """The simulator seeds of the scenes each suite of ``p`` evaluates on, by suite."""
    from benchmarks.suite_speed import STRUCTURES

    first = p.seed + STRUCTURE_SEED_OFFSET
    return {
        "accuracy": set(range(p.seed, p.seed + p.sim_scenes)),
        "speed": {p.seed} | set(range(first, first + len(STRUCTURES))),
        "ablation": set(range(ABLATION_EVAL_SEED, ABLATION_EVAL_SEED + p.ablation_eval_scenes)),
    }


def check_profile_seeds(p: Profile) -> None:
    """Refuse a profile whose evaluation scenes are training scenes: those of the shipped
    models (:func:`training.heldout.check_held_out`) or, for the ablation, its own."""
    from cascade.errors import SimulationError
    from training.heldout import check_held_out

    seeds = held_out_seeds(p)
    for suite, held_out in seeds.items():
        check_held_out(held_out, f"profile {p.name!r}: the {suite} suite's scenes")
    own = set(range(ABLATION_TRAIN_SEED, ABLATION_TRAIN_SEED + p.ablation_scenes))
    if own & seeds["ablation"]:
        raise SimulationError(
            f"profile {p.name!r}: the ablation evaluates on seeds {sorted(own & seeds['ablation'])}"
            " that it trains on; give it more room between ABLATION_TRAIN_SEED and "
            "ABLATION_EVAL_SEED"
        )


@dataclass(frozen=True)
class Suite:
    """Where one profile's run reads and writes."""

    profile: Profile
    data_dir: Path | None  # the shared real data, None when absent
    work: Path = WORK_DIR
    results_root: Path = RESULTS_DIR
    docs: Path = DOCS_DIR

    @property
    def results(self) -> Path:
        return self.results_root / self.profile.name

    @property
    def images(self) -> Path:
        return self.docs / "img" / f"benchmarks-{self.profile.name}"

    def image_link(self, name: str) -> str:
        """The path of a picture relative to ``docs/`` (for Markdown links)."""
        return f"img/benchmarks-{self.profile.name}/{name}"

    @classmethod
    def create(
        cls, profile: str, data_dir: str | Path | None = None, work: str | Path | None = None
    ) -> Suite:
        if profile not in PROFILES:
            raise SystemExit(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
        from cascade.errors import SimulationError
        from training.simulator import data_root

        try:
            check_profile_seeds(PROFILES[profile])
        except SimulationError as exc:
            raise SystemExit(str(exc)) from exc

        root = data_root(data_dir)
        if not (root / "s2_l1c_clear_virginia").is_dir():
            # Every suite simulates scenes over this real cloud-free background.
            raise SystemExit(
                f"the benchmark suites need the shared data (the cloud-free background "
                f"{root / 's2_l1c_clear_virginia'} is absent); pass --data-dir DIR or set "
                "$CASCADE_DATA to the folder that holds it (../shared/data)"
            )
        return cls(
            profile=PROFILES[profile],
            data_dir=root if (root / "ukis").is_dir() else None,
            work=Path(work) if work else WORK_DIR,
        )


def s2cloudless_mask(
    bands: np.ndarray, names: tuple[str, ...] | list[str], nodata: np.ndarray | None = None
) -> np.ndarray:
    """s2cloudless's mask (0 clear, 1 cloud, 255 no data) of ``(C, H, W)`` L1C reflectance.

    Uses the package's defaults (probability threshold 0.4, no averaging or dilation beyond
    one pixel: the settings that reproduce the mask shipped with its test scene).
    """
    from s2cloudless import S2PixelCloudDetector

    missing = [b for b in S2CLOUDLESS_BANDS if b not in names]
    if missing:
        raise ValueError(f"s2cloudless needs bands {S2CLOUDLESS_BANDS}; missing {missing}")
    idx = [list(names).index(b) for b in S2CLOUDLESS_BANDS]
    x = np.ascontiguousarray(np.moveaxis(bands[idx], 0, -1)[np.newaxis], dtype=np.float32)
    detector = S2PixelCloudDetector(all_bands=False)
    mask = detector.get_cloud_masks(x, num_threads=os.cpu_count() or 1)[0].astype(np.uint8)
    if nodata is not None:
        mask[nodata] = 255
    return mask


def warm_up(model: Any, *shapes: tuple[int, int]) -> None:
    """Compile the kernels and trace both models before anything is timed.

    The fine model is traced for a full batch and for two smaller remainders (after which
    TensorFlow keeps one trace for any batch size); the coarse model for each scene shape
    in ``shapes`` (one trace per coarse input shape).
    """
    from cascade.engine import EngineConfig, mask_array

    rng = np.random.default_rng(0)
    for side in (700, 450):  # 3 x 3 cells: batches of 8 and 1; 2 x 2 cells: a batch of 4
        warm = rng.integers(1, 5000, (len(model.bands), side, side), np.uint16)
        mask_array(warm, model, band_names=model.bands, nodata=0, config=EngineConfig("all"))
    for h, w in shapes:
        g = model.geometry(h, w)
        model.coarse(np.zeros((1, *g.coarse_shape, len(model.bands)), np.float32))
