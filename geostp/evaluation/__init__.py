"""Verification: WeatherBench2 and OpenSTL metrics (metrics), reference forecasts (baselines), scorecards."""
