"""Model files: identify, hash, catalog, load and cache."""
