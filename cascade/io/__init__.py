"""Files in and out: the edges of the engine.

- :mod:`cascade.io.raster`: reading scenes strip by strip and writing GeoTIFFs (the only
  package that imports rasterio);
- :mod:`cascade.io.products`: satellite products as downloaded (Sentinel-2 SAFE, Landsat
  Collection 2): a registry of readers that resolve a product to band files, reflectance scale
  and offset and No Data, and the source that reads it;
- :mod:`cascade.io.scene`: :func:`~cascade.io.scene.open_scene`, how every command opens its
  input (a product, else rasters);
- :mod:`cascade.io.files`: the output checks and atomic writing every output goes through;
- :mod:`cascade.io.quicklook`: quicklook pictures of a mask.

Importing this package imports none of them.
"""
