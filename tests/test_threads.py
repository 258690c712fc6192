"""geostp.threads: thread counts come from timing the candidates, and stand aside when the user chose."""

from __future__ import annotations

import torch

from geostp import threads


class FakeClock:
    """perf_counter for the tuner: each step takes `cost[threads]` seconds, whatever the machine's load."""

    def __init__(self, cost: dict[int, float]) -> None:
        self.now, self.cost = 0.0, cost

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        self.now += self.cost[torch.get_num_threads()]


def run_steps(tuner: threads.ThreadTuner, clock: FakeClock, n: int) -> list[int]:
    before, seen = torch.get_num_threads(), []
    try:
        for step in range(n):
            tuner.begin(step)
            seen.append(torch.get_num_threads())
            clock.step()
            tuner.end()
    finally:
        torch.set_num_threads(before)
    return seen


def test_tuner_probes_each_candidate_then_keeps_the_fastest(monkeypatch):
    """2 threads 8x slower (a loaded machine): dropped after one probe step, re-probed every `every` steps."""
    clock = FakeClock({1: 0.01, 2: 0.08})
    monkeypatch.setattr(threads.time, "perf_counter", clock)
    tuner = threads.ThreadTuner([1, 2], trials=2, every=20, warmup=1)
    seen = run_steps(tuner, clock, 30)
    assert seen[1:3] == [1, 2] and set(seen[3:20]) == {1}  # one warm-up step, then one step per candidate
    assert seen[20:22] == [1, 2] and set(seen[22:]) == {1}
    assert tuner.history == [(3, 1), (22, 1)]


def test_tuner_keeps_probing_close_candidates_for_all_trials(monkeypatch):
    """Candidates within the pruning factor get every trial; the faster median wins (2 threads on an idle machine)."""
    clock = FakeClock({1: 0.010, 2: 0.008})
    monkeypatch.setattr(threads.time, "perf_counter", clock)
    tuner = threads.ThreadTuner([1, 2], trials=3, every=100, warmup=0)
    seen = run_steps(tuner, clock, 8)
    assert seen[:6] == [1, 2, 1, 2, 1, 2] and seen[6:] == [2, 2] and tuner.history == [(6, 2)]


def test_probe_picks_the_faster_count_and_user_setting_wins(monkeypatch):
    clock = FakeClock({1: 0.03, 2: 0.01})
    monkeypatch.setattr(threads.time, "perf_counter", clock)
    before = torch.get_num_threads()
    try:
        assert threads.probe_threads(clock.step, [1, 2]) == 2
    finally:
        torch.set_num_threads(before)
    monkeypatch.undo()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.ThreadTuner.for_device(torch.device("cpu")) is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)  # an earlier test's library (dask's nanny) may set it
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    assert threads.candidates(1) == [1, 4] and threads.candidates(2) == [1, 2] and threads.candidates(4) == [1]
    assert isinstance(threads.ThreadTuner.for_device(torch.device("cpu")), threads.ThreadTuner)
    assert threads.ThreadTuner.for_device(torch.device("cpu"), processes=4) is None
