#!/usr/bin/env python3
"""Generate a Gaussian dataset: ``python training/generate_dataset.py --out DIR [--config PRESET.yaml] …``.

The same as ``gs-perception generate-dataset``; run with ``-h`` for every option (they come from
``gs_perception.data.generate.DatasetConfig``). Examples::

    # ten procedural classes on a CPU (≈ 30 min on 2 cores)
    python training/generate_dataset.py --config config/dataset_shapes10_cpu.yaml --out datasets/shapes10_cpu
    # ModelNet10 as in the study (64 views at 800², GPU)
    python training/generate_dataset.py --source modelnet --root datasets/ModelNet10 --out datasets/modelnet10
"""

import sys

from gs_perception.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate-dataset", *sys.argv[1:]]))
