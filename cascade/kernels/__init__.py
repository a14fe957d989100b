"""Numba kernels of the cascade's geometry: padding, pooling, label pooling, patches.

Every public function here validates its input, then runs a compiled kernel; the plain numpy
reference of each lives in :mod:`cascade.kernels.reference` and the tests check that the two
agree. Kernels run on all cores (``numba.set_num_threads`` limits them) and are compiled on
first use, then cached on disk.
"""

from cascade.kernels._common import nodata_mask
from cascade.kernels.labels import NodataPolicy, cell_counts, classify_cells, pool_labels
from cascade.kernels.padding import crop_padding, pad_scene, padding_index_map
from cascade.kernels.patches import (
    extract_patches,
    extract_windows,
    reassemble_patches,
    window_index_maps,
)
from cascade.kernels.pooling import AreaPooler, PooledScene, axis_weights, pool_area

__all__ = [
    "AreaPooler",
    "NodataPolicy",
    "PooledScene",
    "axis_weights",
    "cell_counts",
    "classify_cells",
    "crop_padding",
    "extract_patches",
    "extract_windows",
    "nodata_mask",
    "pad_scene",
    "padding_index_map",
    "pool_area",
    "pool_labels",
    "reassemble_patches",
    "window_index_maps",
]
