"""Training of the cascade's coarse and fine models (datasets, losses, recipes)."""
