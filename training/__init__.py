"""Training of the cascade's models: dataset readers, the cloud simulator, training sets (HDF5),
losses and numpy metrics, training and export, recipes, and the ``cascade train`` and
``cascade simulate`` commands (added to ``cascade`` through the ``cascade.commands`` entry points).
"""
