"""The perception node as a robot runs it: image → memory_view latency, output rate, start-up, memory.

    .venv/bin/python benchmarks/bench_nodes.py                      # 64×48 and 160×120 at 2 and 5 Hz
    .venv/bin/python benchmarks/bench_nodes.py --sizes 160x120 --rates 2 --frames 30

A real ``perception_node`` process (its console script, default parameters: threaded memory, best-effort
sensor QoS, no bundle) is fed a simulated orbit by a client on loopback, paced at the input rate. Latency is
the client's publish time of an image to the arrival of the memory_view with its stamp (both on this
machine's clock); frames the node dropped (its queue is drop-oldest) have no view. Start-up is process start
to the node's services being discoverable; memory is the process's peak resident set (VmHWM). Prints one
Markdown table; figures, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gs_perception.data.sim import SimConfig, simulate
from gs_perception.ros.sim_bag import SimTopics, sim_frame_messages
from gs_perception.ros.testing import LiveGraph
from gs_perception.ros.typestore import MessageTypes

ROUTE = {
    "/camera/image_raw": "image",
    "/camera/camera_info": "camera_info",
    "/camera/depth/image_raw": "depth",
    "/camera/pose": "pose",
}


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class NodeFigures:
    """One row: input size and rate, what came out, and the node's start-up and memory."""

    size: str
    input_hz: float
    output_hz: float
    median_ms: float
    p90_ms: float
    dropped: int
    startup_s: float
    peak_rss_mb: float


def run(width: int, height: int, rate_hz: float, frames: int, workdir: Path) -> NodeFigures:
    """One node process, one input rate; returns the row's figures."""
    graph = LiveGraph(workdir)
    try:
        types, client = MessageTypes.from_rclpy(), graph.client
        views = client.subscribe("memory_view", types.Image)
        started = time.monotonic()
        node = graph.start("perception_node", {"save_path": str(workdir / "memory.ply")})
        up = client.spin_until(
            lambda: client.node.count_subscribers("image") > 0 and _has_service(client), 99
        )
        assert up, node.output()[-2000:]
        startup_s = time.monotonic() - started
        classes = {"image": types.Image, "camera_info": types.CameraInfo, "depth": types.Image}
        pubs = {name: client.node.create_publisher(cls, name, 10) for name, cls in classes.items()}
        pubs["pose"] = client.node.create_publisher(types.PoseStamped, "pose", 10)
        sim = SimConfig(width=width, height=height, frames=frames, held_out_every=0, rate_hz=rate_hz)
        sent: dict[int, float] = {}
        start = time.monotonic()
        for k, frame in enumerate(simulate(sim)):
            client.spin_until(lambda: False, max(0.0, start + k / rate_hz - time.monotonic()))
            for topic, msg in sim_frame_messages(types, frame, SimTopics()):
                if topic in ROUTE:
                    pubs[ROUTE[topic]].publish(msg)
            sent[frame.frame.stamp_ns] = time.monotonic()
        client.spin_until(lambda: False, 3.0)  # the last views
        arrived = {_stamp(v): t for v, t in zip(views, client.arrival_times("memory_view"))}
        latencies = sorted(arrived[s] - sent[s] for s in sent if s in arrived)
        duration = frames / rate_hz
        nan = float("nan")
        return NodeFigures(
            size=f"{width}×{height}",
            input_hz=rate_hz,
            output_hz=len(latencies) / duration,
            median_ms=1000 * statistics.median(latencies) if latencies else nan,
            p90_ms=1000 * latencies[int(0.9 * (len(latencies) - 1))] if latencies else nan,
            dropped=len(sent) - len(latencies),
            startup_s=startup_s,
            peak_rss_mb=_peak_rss_mb(node.process.pid),
        )
    finally:
        graph.close()


def _has_service(client) -> bool:
    return any(name.endswith("/save_memory") for name, _ in client.node.get_service_names_and_types())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["64x48", "160x120"])
    parser.add_argument("--rates", nargs="+", type=float, default=[2.0, 5.0])
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            for rate in args.rates:
                workdir = Path(tmp) / f"{size}_{rate}"
                workdir.mkdir()
                rows.append(run(width, height, rate, args.frames, workdir))
                print(rows[-1], file=sys.stderr, flush=True)
    print("| input | input Hz | output Hz | latency median | p90 | dropped | start-up | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.size} | {r.input_hz:.0f} | {r.output_hz:.2f} | {r.median_ms:.0f} ms | {r.p90_ms:.0f} ms | "
            f"{r.dropped}/{args.frames} | {r.startup_s:.1f} s | {r.peak_rss_mb:.0f} MB |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
