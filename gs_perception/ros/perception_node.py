"""``perception_node``: camera images and poses in; Gaussian memory, embeddings, class predictions and
memory-rendered views out (docs/architecture.md §7). Topics, services and parameters: ros/interface.py and
the README.

The node only converts: message callbacks decode and hand inputs to a
:class:`~gs_perception.pipeline.assembler.FrameAssembler`; complete frames go to a
:class:`~gs_perception.pipeline.worker.PipelineWorker` (drop-oldest queue, one thread owns the GPU);
the worker's outputs become messages through :func:`~gs_perception.ros.outputs.output_messages` — the same
function bag replay uses, so what replay measures is what the robot publishes. Services run in their own
callback group and execute on the worker thread between frames. Bad input (an unknown encoding, a NaN pose,
a 0×0 image …) is dropped with a warning, at most one per kind per ``warn_throttle_s``.

QoS: sensor subscriptions follow ``qos_reliability`` (best-effort by default, like camera drivers); every
output is published *reliable*, which both reliable (the default for ``ros2 topic echo`` and most nodes) and
best-effort subscribers can receive; ``label_info`` is also transient-local, so late subscribers get it.
"""

from __future__ import annotations

import sys
from typing import Any

from .node_main import run_node


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run gs_perception perception_node`` (and ``python -m`` of this module)."""
    return run_node(_make_node, args, threads=3)


def _make_node() -> Any:
    # The class is defined inside a function so that importing this module never imports rclpy.
    from rclpy.node import Node

    from .perception_callbacks import NodeCallbacks

    class PerceptionNode(Node):
        def __init__(self) -> None:
            super().__init__("perception_node")
            self.callbacks = NodeCallbacks(self)

        def close(self) -> None:
            self.callbacks.close()

    return PerceptionNode()


if __name__ == "__main__":
    sys.exit(main())
