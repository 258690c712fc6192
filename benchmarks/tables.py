"""Where benchmark scripts put their results: a Markdown table and its figures as JSON under benchmarks/results/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geostp.io import atomic_write_text

RESULTS = Path(__file__).parent / "results"


def save_table(name: str, text: str, figures: Any) -> Path:
    """Print `text`, write it to results/NAME.md and `figures` to results/NAME.json (each atomically)."""
    print(text)
    RESULTS.mkdir(exist_ok=True)
    atomic_write_text(RESULTS / f"{name}.md", text)
    atomic_write_text(RESULTS / f"{name}.json", json.dumps(figures, indent=1))
    return RESULTS / f"{name}.md"
