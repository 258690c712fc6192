"""kill -9 at random points of prepare --overwrite, forecast --append and training: never a corrupt output.

`benchmarks/fault_trials.py` runs the same trials with a larger N and prints the table."""

from __future__ import annotations

import random

import pytest

from tests.fault.conftest import slow
from tests.fault.trials import KINDS, TrainTrial, Trial

# skipped unless GEOSTP_SLOW=1: 8 real processes and 3 trainings (25 s quiet); the "a kill lands inside the
# writing window" check depends on timing and failed once in a fresh-clone run (a trial finished before its
# kill: no data lost, no traceback), so it stays out of CI until that check is made timing-proof
pytestmark = [pytest.mark.fault, pytest.mark.slow, slow]
# per kind (the first runs to the end and measures the writing window, the others are killed
# at random moments inside it); benchmarks/fault_trials.py --trials N for more
N_TRIALS = {"prepare": 3, "append": 3, "train": 2}


@pytest.mark.parametrize("kind", list(KINDS))
def test_kill_at_random_points(kind, tmp_path, trained_run):
    """N kills at random moments; each leaves the old or the complete new output (training: resumes to its last
    step with verified weights and metrics), no traceback."""
    rng = random.Random(f"{kind}-18")
    if kind == "train":
        trial: Trial = TrainTrial(tmp_path, ref=(trained_run / "last.safetensors").read_bytes())
    else:
        trial = KINDS[kind](tmp_path)
    outcomes = [trial.run(rng) for _ in range(N_TRIALS[kind])]
    for o in outcomes:
        assert o.tracebacks == 0 and o.lost == 0, o
    assert not outcomes[0].killed and all(o.killed for o in outcomes[1:] if o.delay < trial.window * 0.9), outcomes
