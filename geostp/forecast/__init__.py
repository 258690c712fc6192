"""Forecasting with trained runs: predictions with coordinates (predict), CF Zarr output (output), the job (workflow)."""
