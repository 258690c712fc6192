"""geostp.threads: thread counts come from timing the candidates, and stand aside when the user chose."""

from __future__ import annotations

import time

import torch

from geostp import threads


def test_tuner_probes_each_candidate_then_keeps_the_fastest(monkeypatch):
    """A fake workload that is slow with 2 threads: the tuner must settle on 1, re-probe later, and log when."""
    before = torch.get_num_threads()
    tuner = threads.ThreadTuner([1, 2], trials=2, every=20, warmup=1)
    seen = []
    try:
        for step in range(30):
            tuner.begin(step)
            seen.append(torch.get_num_threads())
            if torch.get_num_threads() == 2:  # far slower, so that load spikes cannot reverse the order
                time.sleep(0.05)
            tuner.end()
    finally:
        torch.set_num_threads(before)
    # one warm-up step, then one step per candidate: 2 threads is far slower, dropped after one round
    assert seen[1:3] == [1, 2] and set(seen[3:20]) == {1}
    assert seen[20:22] == [1, 2] and set(seen[22:]) == {1}  # re-probed every 20 steps
    assert tuner.history == [(3, 1), (22, 1)]


def test_tuner_keeps_probing_close_candidates_for_all_trials():
    before = torch.get_num_threads()
    tuner = threads.ThreadTuner([1, 2], trials=3, every=100, warmup=0)
    seen = []
    try:
        for step in range(8):
            tuner.begin(step)
            seen.append(torch.get_num_threads())
            time.sleep(0.02)  # equally fast: neither is dropped early
            tuner.end()
    finally:
        torch.set_num_threads(before)
    assert seen[:6] == [1, 2, 1, 2, 1, 2] and seen[6:] == [tuner.best] * 2 and len(tuner.history) == 1


def test_probe_picks_the_faster_count_and_user_setting_wins(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert threads.probe_threads(lambda: time.sleep(0.003 if torch.get_num_threads() == 1 else 0.0), [1, 2]) == 2
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.ThreadTuner.for_device(torch.device("cpu")) is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    assert threads.candidates(1) == [1, 4] and threads.candidates(2) == [1, 2] and threads.candidates(4) == [1]
    assert isinstance(threads.ThreadTuner.for_device(torch.device("cpu")), threads.ThreadTuner)
    assert threads.ThreadTuner.for_device(torch.device("cpu"), processes=4) is None
