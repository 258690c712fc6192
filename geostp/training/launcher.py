"""Errors under `accelerate launch`: one line from the main process, and the launcher stopped without its traceback.

`accelerate launch` runs pipelines/train.py as a child and, when the child fails, raises its own
CalledProcessError (a 15-line traceback repeating the child's output). A child cannot change how its
parent reports, but it can stop it: accelerate ends quietly on SIGTERM (status 128 + 15 = 143, after
stopping the other workers), which is what a geostp input error does here once its message is printed.
"""

from __future__ import annotations

import os
import signal

import psutil


def is_main_process() -> bool:
    """True in the process that should speak for the launch (rank 0, or no launcher at all)."""
    return os.environ.get("RANK", "0") == "0"


def launcher_process() -> psutil.Process | None:
    """The `accelerate launch` process that started this one (its parent), or None when run directly."""
    try:
        parent = psutil.Process(os.getppid())
        cmd = parent.cmdline()
    except (psutil.Error, OSError):
        return None
    words = [os.path.basename(c) for c in cmd[:4]]
    if ("accelerate" in words and "launch" in cmd[:4]) or "accelerate-launch" in words or \
            "accelerate.commands.launch" in cmd[:4]:
        return parent
    return None


def stop_launcher() -> bool:
    """Stop the `accelerate launch` parent with SIGTERM (its quiet exit path); False when there is none."""
    parent = launcher_process()
    if parent is None:
        return False
    try:
        parent.send_signal(signal.SIGTERM)
    except psutil.Error:
        return False
    return True
