"""`python -m geostp ...` (what `accelerate launch -m geostp forecast ...` runs in each process).

A geostp error is printed in one line and exits with status 2; under `accelerate launch` the launcher is then
stopped quietly (status 143, geostp.training.launcher) instead of adding its own traceback.
"""

from geostp.cli.main import launched_main

if __name__ == "__main__":
    launched_main()
