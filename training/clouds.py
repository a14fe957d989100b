"""What clouds the simulator makes: :class:`CloudConfig`, the cloud spectrum, the random draw.

:func:`random_cloud_config` is the one random draw of a scene's clouds, used by
``cascade simulate`` and the benchmarks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cascade.errors import SimulationError
from training.render import LABEL_REFLECTANCE

__all__ = ["CLOUD_TOPS", "CloudConfig", "random_cloud_config"]

# Brightness (visible reflectance) of the deepest cloud of a scene by default: a bright deck.
_REFERENCE_BRIGHTNESS = 0.78
CLOUD_TOPS = ("low", "mid", "high")


@dataclass(frozen=True)
class CloudConfig:
    """What kind of clouds to make (all fields have sensible defaults).

    cover: share of data pixels that are cloud in the ``exact`` labels, 0..1 (approximate:
    measured within a few percent on a 1000 x 1000 scene).
    scale_px: size of the largest cloud structures in pixels.
    octaves: fBm octaves (more: finer, more ragged edges).
    thick: 0..1, how quickly opacity rises inside clouds (1: mostly opaque decks).
    haze: 0..1, amount of extra thin cloud/haze around and between clouds.
    cirrus: 0..1, cover of a thin cirrus layer (0: none).
    shadows: cast cloud shadows; sun_azimuth_deg (from north, clockwise),
    sun_elevation_deg, cloud_height_m and pixel_size_m set their offset; shadow_labels: the
    ``exact`` labels mark them (2, cloud shadow) where the ground keeps less than
    :data:`training.render.SHADOW_LABEL_LIGHT` of its light and no cloud is.
    nodata_wedge: share of the scene cut off as a No Data corner wedge (0: none).
    brightness: visible TOA reflectance of optically thick cloud (0.78: a bright deck; real
    cumulus and thinner decks 0.3-0.6); cloud_top: ``low``, ``mid`` or ``high``, which sets
    the water-vapour bands (B09, B10) of the cloud (see :func:`training.render.cloud_color`).
    exact_threshold, paper_threshold: the clouds' own visible reflectance that counts as cloud
    in the two label conventions (exact: :data:`training.render.LABEL_REFLECTANCE`, calibrated
    on human labels; paper: thin veils too); dilate_px, hole_area_px: the paper style's
    dilation and hole filling.
    """

    cover: float = 0.3
    scale_px: float = 1500.0
    octaves: int = 7
    thick: float = 0.6
    haze: float = 0.3
    cirrus: float = 0.0
    shadows: bool = True
    shadow_labels: bool = False
    sun_azimuth_deg: float = 150.0
    sun_elevation_deg: float = 45.0
    cloud_height_m: float = 1500.0
    pixel_size_m: float = 10.0
    nodata_wedge: float = 0.0
    exact_threshold: float = LABEL_REFLECTANCE
    paper_threshold: float = 0.01
    dilate_px: int = 10
    hole_area_px: int = 2000
    halo_px: int = 64
    brightness: float = _REFERENCE_BRIGHTNESS
    cloud_top: str = "mid"

    def __post_init__(self) -> None:
        checks = [
            ("brightness", 0.1 <= self.brightness <= 1.2, "in [0.1, 1.2]"),
            ("cloud_top", self.cloud_top in CLOUD_TOPS, f"one of {list(CLOUD_TOPS)}"),
            ("cover", 0.0 <= self.cover <= 1.0, "in [0, 1]"),
            ("scale_px", self.scale_px >= 4, ">= 4"),
            ("octaves", 1 <= self.octaves <= 12, "in 1..12"),
            ("thick", 0.0 <= self.thick <= 1.0, "in [0, 1]"),
            ("haze", 0.0 <= self.haze <= 1.0, "in [0, 1]"),
            ("cirrus", 0.0 <= self.cirrus <= 1.0, "in [0, 1]"),
            ("sun_elevation_deg", 5.0 <= self.sun_elevation_deg <= 90.0, "in [5, 90]"),
            ("nodata_wedge", 0.0 <= self.nodata_wedge < 0.5, "in [0, 0.5)"),
            ("exact_threshold", 0.0 < self.exact_threshold < 1.0, "in (0, 1)"),
            (
                "paper_threshold",
                0.0 < self.paper_threshold <= self.exact_threshold,
                "in (0, exact_threshold]",
            ),
            ("dilate_px", 0 <= self.dilate_px <= self.halo_px, "in [0, halo_px]"),
            ("hole_area_px", self.hole_area_px >= 0, ">= 0"),
        ]
        bad = [
            f"{name} must be {rule}, got {getattr(self, name)}"
            for name, ok, rule in checks
            if not ok
        ]
        if bad:
            raise SimulationError("invalid CloudConfig: " + "; ".join(bad))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def random_cloud_config(rng: np.random.Generator, **fixed: Any) -> CloudConfig:
    """The clouds of one random scene: the draw of ``cascade simulate`` and the benchmarks.

    Cover 0..0.9, largest structure 100..4000 px (log-uniform), sun azimuth 100..200 and
    elevation 20..70 degrees, thick-cloud brightness 0.35..0.85 and cloud top low 45 %, mid
    35 %, high 20 %. A field given in ``fixed`` is taken as given and not drawn (so the draws
    of the others do not change); other :class:`CloudConfig` fields may be fixed too.
    """

    def draw(name: str, sample: Any) -> Any:
        return fixed.pop(name) if fixed.get(name) is not None else sample()

    values = {
        "cover": draw("cover", lambda: float(rng.uniform(0.0, 0.9))),
        "scale_px": draw("scale_px", lambda: float(np.exp(rng.uniform(np.log(100), np.log(4000))))),
        "sun_azimuth_deg": draw("sun_azimuth_deg", lambda: float(rng.uniform(100, 200))),
        "sun_elevation_deg": draw("sun_elevation_deg", lambda: float(rng.uniform(20, 70))),
        "brightness": draw("brightness", lambda: float(rng.uniform(0.35, 0.85))),
        "cloud_top": draw(
            "cloud_top",
            lambda: str(rng.choice(["low", "mid", "high"], p=[0.45, 0.35, 0.2])),
        ),
    }
    rest = {k: v for k, v in fixed.items() if k not in values}
    return CloudConfig(**values, **rest)
