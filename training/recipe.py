"""Training recipes: TOML files in ``training/recipes/`` that drive ``cascade train``.

A recipe names the data, how it is cut into training sets, both models and how they are
trained; every run writes into the recipe's ``work_dir`` (relative paths are relative to the
recipe file). Unknown keys are errors, so a typo cannot silently fall back to a default.
See ``docs/training.md`` for every key.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from cascade.bands import BandProfile, get_band_profile
from cascade.errors import RecipeError
from training.augment import AugmentConfig
from training.datasets import LabelledScene, read_dataset, read_pair
from training.derive import DeriveConfig
from training.mix import MixConfig

__all__ = ["CoarseConfig", "FineConfig", "Recipe", "RecipeError", "ThresholdConfig", "load_recipe"]


@dataclass(frozen=True)
class FitConfig:
    """Optimisation settings shared by both models."""

    epochs: int = 20
    batch_size: int = 8
    learning_rate: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.9
    patience: int = 5
    steps_per_epoch: int | None = None
    validation_steps: int | None = None  # default: steps_per_epoch if set, else the whole split
    # "constant", or "cosine": decays to 2 % of learning_rate over epochs x steps_per_epoch.
    schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam", "rmsprop"):
            raise RecipeError(f"optimizer must be sgd, adam or rmsprop, got {self.optimizer!r}")
        if self.schedule not in ("constant", "cosine"):
            raise RecipeError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if self.schedule == "cosine" and self.steps_per_epoch is None:
            raise RecipeError("schedule = 'cosine' needs steps_per_epoch (the decay's length)")
        if self.epochs < self._min_epochs() or self.batch_size < 1 or self.patience < 0:
            raise RecipeError(
                f"epochs must be >= {self._min_epochs()}, batch_size >= 1 and patience >= 0; "
                f"got epochs = {self.epochs}, batch_size = {self.batch_size}, "
                f"patience = {self.patience}"
            )

    def _min_epochs(self) -> int:
        return 1


# loss_form -> (cross entropy, adjacency form, pair weights by name); see CoarseConfig.
LOSS_FORMS: dict[str, dict[str, str]] = {
    "paper": {"cross_entropy": "eq2", "adjacency_form": "eq3", "pairs": "paper"},
    "earlier": {
        "cross_entropy": "weighted-categorical",
        "adjacency_form": "penalty",
        "pairs": "no-data",
    },
}


@dataclass(frozen=True)
class CoarseConfig(FitConfig):
    """Coarse model: encoder backbone; WCE weights; then fine-tuning with the adjacency loss."""

    backbone: str = "resnet18"
    alpha: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    beta: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    gamma: float = 1.0
    finetune_epochs: int = 10
    finetune_learning_rate: float | None = None
    adjacency_mode: str = "soft"
    # Which reading of the paper's losses: "paper" (Eq. 2's per-class binary cross entropy,
    # Eq. 3's squared difference of adjacency counts, the paper's pair weights) or "earlier"
    # (written before the paper was at hand: a class-weighted categorical cross entropy, an
    # adjacency penalty on the prediction, 0.125 pairs with No Data), which trained the shipped
    # pairs and stays the default so that their recipes still mean what trained them.
    loss_form: str = "earlier"
    # Weights to start from (a path relative to the recipe's folder), e.g. the paper's
    # adjacency stage started from the WCE weights (V-D): with `epochs = 0` only the second
    # stage runs, from these weights.
    init_weights: str | None = None

    def _min_epochs(self) -> int:
        return 0 if self.init_weights else 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.epochs == 0 and self.finetune_epochs < 1:
            raise RecipeError(
                "[coarse] epochs = 0 (start from init_weights) needs finetune_epochs >= 1: "
                "otherwise nothing trains"
            )
        if self.loss_form not in LOSS_FORMS:
            raise RecipeError(
                f"loss_form must be one of {', '.join(LOSS_FORMS)}, got {self.loss_form!r}"
            )

    @property
    def loss_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`training.losses.coarse_loss` for ``loss_form``."""
        return dict(LOSS_FORMS[self.loss_form])


@dataclass(frozen=True)
class FineConfig(FitConfig):
    """Fine model: architecture and backbone."""

    architecture: str = "Unet"
    backbone: str = "resnet18"
    decoder_filters: tuple[int, ...] | None = None  # Unet/Linknet decoder widths, deepest first
    # Per-output weights of the [mix] fine model's loss (cloud, clear, No Data, shadow): with
    # either set, the loss is the class-weighted binary cross entropy of the paper's Eq. 2
    # (:class:`training.cross_entropy.WeightedCrossEntropy`; ``alpha`` weighs both terms of an
    # output, ``beta`` its negative term), e.g. alpha 4 and beta 0.25 on the rare shadow output
    # weigh its positives 4 times; unset, a plain binary cross entropy.
    alpha: tuple[float, ...] | None = None
    beta: tuple[float, ...] | None = None
    # Weights to start from (a path relative to the recipe's folder, e.g. a shipped pair's
    # fine.weights.h5): the fine model is fine-tuned from them.
    init_weights: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("alpha", "beta"):
            v = getattr(self, key)
            if v is not None and (len(v) != 4 or min(v) < 0 or (key == "beta" and min(v) <= 0)):
                raise RecipeError(
                    f"[fine] {key} must hold 4 weights (cloud, clear, No Data, shadow), "
                    f"{'> 0' if key == 'beta' else '>= 0'}; got {list(v)}"
                )

    @property
    def options(self) -> dict[str, Any]:
        """Architecture options for :func:`cascade.models.build_fine_model`."""
        return {} if self.decoder_filters is None else {"decoder_filters": self.decoder_filters}


@dataclass(frozen=True)
class ExportConfig:
    """How the model pair is written."""

    weights_dtype: str = "float32"  # "float16" halves the files; loading casts back

    def __post_init__(self) -> None:
        if self.weights_dtype not in ("float32", "float16"):
            raise RecipeError(
                f"weights_dtype must be 'float32' or 'float16', got {self.weights_dtype!r}"
            )


@dataclass(frozen=True)
class ThresholdConfig:
    """The fine threshold sweep on the validation split."""

    start: float = 0.05
    stop: float = 0.95
    step: float = 0.05
    metric: str = "f1"

    def values(self) -> np.ndarray:
        return np.round(np.arange(self.start, self.stop + self.step / 2, self.step), 6)


@dataclass
class Recipe:
    """A parsed recipe (see the module docstring)."""

    name: str
    path: Path
    work_dir: Path
    profile: BandProfile
    input_scale: float
    seed: int
    sources: list[dict[str, Any]]
    derive: DeriveConfig
    coarse: CoarseConfig
    fine: FineConfig
    threshold: ThresholdConfig
    export: ExportConfig = field(default_factory=ExportConfig)
    mix: MixConfig | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    text: str = field(repr=False, default="")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def scenes(self) -> tuple[list[str], Iterator[LabelledScene]]:
        """The names of the recipe's scenes and an iterator that reads them one by one."""
        plan: list[tuple[str, Any]] = []
        composed: list[tuple[list[str], Iterator[LabelledScene]]] = []
        for src in self.sources:
            kind = src["kind"]
            if kind == "composed":
                from training.compose import composed_scenes

                options = {k: v for k, v in src.items() if k != "kind"}
                composed.append(composed_scenes(options, self.profile, self.path.parent))
                continue
            folder = (self.path.parent / src["path"]).resolve()
            if kind == "pairs":
                scenes = sorted(
                    p for p in folder.glob("*.tif") if not p.stem.endswith(("_mask", "_mask_exact"))
                )
                if not scenes:
                    raise RecipeError(f"source {folder} holds no scene .tif files")
                for p in scenes:
                    mask = p.with_name(p.stem + src.get("mask_suffix", "_mask") + ".tif")
                    # `cascade simulate` writes reflectance x 10000 whatever the profile.
                    plan.append((p.stem, (p, mask, float(src.get("scale", 1e-4)))))
            else:
                options = {k: v for k, v in src.items() if k not in ("kind", "path")}
                plan.append((f"{kind}:{folder.name}", (kind, folder, options)))
        names = [n for n, _ in plan] + [n for c in composed for n in c[0]]

        def read() -> Iterator[LabelledScene]:
            for name, what in plan:
                if isinstance(what[0], Path):
                    got: LabelledScene | list[LabelledScene] = read_pair(
                        what[0], what[1], scale=what[2]
                    )
                else:
                    kind, folder, options = what
                    got = read_dataset(kind, folder, **options)
                # Readers of time series (eo-learn) return one scene per date.
                many = got if isinstance(got, list) else [got]
                for i, scene in enumerate(many):
                    idx = self.profile.indices_in(list(scene.band_names))
                    yield LabelledScene(
                        bands=np.ascontiguousarray(scene.bands[idx]),
                        band_names=self.profile.band_names,
                        mask=scene.mask,
                        profile=scene.profile,
                        name=name if len(many) == 1 else f"{name}:{i}",
                    )
            for _, scenes in composed:
                yield from scenes

        return names, read()


def _build(cls: type, table: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise RecipeError(f"[{where}] has unknown key(s) {unknown}; known: {sorted(known)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise RecipeError(f"[{where}]: {exc}") from exc


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe file."""
    path = Path(path).resolve()
    if not path.is_file():
        raise RecipeError(f"recipe {path} does not exist")
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"recipe {path} is not valid TOML: {exc}") from exc
    top = {
        "name",
        "work_dir",
        "profile",
        "input_scale",
        "seed",
        "data",
        "derive",
        "coarse",
        "fine",
        "threshold",
        "export",
        "mix",
        "augment",
    }
    unknown = sorted(set(data) - top)
    if unknown:
        raise RecipeError(f"recipe {path} has unknown key(s) {unknown}; known: {sorted(top)}")
    for key in ("name", "profile", "data"):
        if key not in data:
            raise RecipeError(f"recipe {path} needs a `{key}`")
    profile = get_band_profile(data["profile"])
    sources = data["data"].get("sources", [])
    if not sources or not all(
        isinstance(s, dict) and "kind" in s and ("path" in s or s["kind"] == "composed")
        for s in sources
    ):
        raise RecipeError(
            f"recipe {path}: [data] needs sources = [{{kind = ..., path = ...}}, ...]"
        )
    seed = int(data.get("seed", 0))
    derive_table = dict(data.get("derive", {}))
    derive_table.setdefault("seed", seed)
    return Recipe(
        name=str(data["name"]),
        path=path,
        work_dir=(path.parent / data.get("work_dir", f"runs/{data['name']}")).resolve(),
        profile=profile,
        input_scale=float(data.get("input_scale", profile.scale)),
        seed=seed,
        sources=list(sources),
        derive=_build(DeriveConfig, derive_table, "derive"),
        coarse=_build(CoarseConfig, data.get("coarse", {}), "coarse"),
        fine=_build(FineConfig, data.get("fine", {}), "fine"),
        threshold=_build(ThresholdConfig, data.get("threshold", {}), "threshold"),
        export=_build(ExportConfig, data.get("export", {}), "export"),
        mix=MixConfig.from_table(data["mix"], path.parent) if "mix" in data else None,
        augment=_build(AugmentConfig, data.get("augment", {}), "augment"),
        text=text,
    )
