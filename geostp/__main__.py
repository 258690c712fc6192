"""`python -m geostp ...` (what `accelerate launch -m geostp forecast ...` runs in each process).

A geostp error is printed in one line and exits with status 2; under `accelerate launch` the launcher is then
stopped quietly (status 143, geostp.training.launcher) instead of adding its own traceback.
"""

from geostp.cli.main import main

if __name__ == "__main__":
    try:
        main()
    except SystemExit as exc:
        if exc.code == 2:  # a geostp error or a usage error, already reported in one line
            from geostp.training.launcher import stop_launcher

            stop_launcher()
        raise
