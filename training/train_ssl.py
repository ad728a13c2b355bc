#!/usr/bin/env python3
"""Self-supervised training of the dual encoders: ``python training/train_ssl.py --dataset DIR --out RUN``.

The same as ``gs-perception train-ssl``; ``-h`` lists every option (from
``gs_perception.train.ssl.SSLConfig`` and the configs it nests). Add ``--resume`` to continue a run
exactly where its last checkpoint left it.
"""

import sys

from gs_perception.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-ssl", *sys.argv[1:]]))
