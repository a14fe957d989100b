"""Files in and out: the edges of the engine.

- :mod:`cascade.io.raster`: reading scenes strip by strip and writing GeoTIFFs (the only
  module that imports rasterio);
- :mod:`cascade.io.files`: the output checks and atomic writing every output goes through;
- :mod:`cascade.io.quicklook`: quicklook pictures of a mask.

Importing this package imports none of them.
"""
