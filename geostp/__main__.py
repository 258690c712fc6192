"""`python -m geostp ...` (what `accelerate launch -m geostp forecast ...` runs in each process)."""

from geostp.cli.main import main

if __name__ == "__main__":
    main()
