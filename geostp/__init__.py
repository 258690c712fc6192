"""geostp: spatio-temporal forecasting on gridded data (weather, traffic, video)."""

__version__ = "0.1.0"
