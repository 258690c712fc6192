"""Test-only hook (on PYTHONPATH for one launch): forecast rank 1 is SIGKILLed mid-run, after writing its first
region (GEOSTP_TEST_DIE_AFTER blocks), so the other rank meets a peer that really died."""

import os

if os.environ.get("GEOSTP_TEST_DIE_AFTER") and os.environ.get("RANK") == "1":
    import signal

    import geostp.forecast.distributed as distributed

    _write_share = distributed._write_share

    def _dying_write_share(predict, *args, **kwargs):
        def blocks(inits):
            for i, block in enumerate(predict(inits)):
                if i == int(os.environ["GEOSTP_TEST_DIE_AFTER"]):
                    os.kill(os.getpid(), signal.SIGKILL)
                yield block

        return _write_share(blocks, *args, **kwargs)

    distributed._write_share = _dying_write_share
