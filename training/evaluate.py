#!/usr/bin/env python3
"""Evaluate SSL runs: ``python training/evaluate.py --runs RUN_SEED0 RUN_SEED1 RUN_SEED2 --out DIR``.

The same as ``gs-perception evaluate``; ``-h`` lists every option (from ``train.evaluation.EvalConfig``).
Writes results.md (the study's tables and the corrected ones, mean ± std over runs), metrics.json, t-SNE
figures and bundle.pt (the first run's encoders with its image probe).
"""

import sys

from gs_perception.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
