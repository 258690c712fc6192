"""Where geostp caches what it builds (the sample, quick-start runs, GRIB indexes)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where geostp caches what it builds: $GEOSTP_CACHE_DIR, else platformdirs' user cache dir."""
    env = os.environ.get("GEOSTP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("geostp"))
