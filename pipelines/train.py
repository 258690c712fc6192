"""Training entry point for `accelerate launch` (thin: the loop lives in geostp.training).

  accelerate launch pipelines/train.py --config pipelines/configs/tiny.yaml --out runs/tiny
  accelerate launch pipelines/train.py --resume runs/tiny
  ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \
      --mixed_precision no --dynamo_backend no pipelines/train.py --config CFG --out RUN_DIR

Same options as `geostp train` (run with --help).
"""

from geostp.cli.main import main

if __name__ == "__main__":
    import sys

    sys.argv[1:1] = ["train"]
    main()
