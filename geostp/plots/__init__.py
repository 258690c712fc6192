"""Figures: cartopy maps with offline coastlines (maps), video/traffic frame grids (frames), skill curves (curves)."""
