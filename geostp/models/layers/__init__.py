"""Building blocks shared by several models (one module per family of blocks)."""
