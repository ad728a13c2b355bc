"""The simulated camera node's parameters and its endless orbit (ROS-free; ros/sim_camera_node.py runs it).

Parameters: one per field of :class:`SimNodeConfig` (``sim.objects``, ``sim.rate_hz`` …).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..data.sim import SimConfig, SimFrame


@dataclass(frozen=True)
class SimNodeConfig:
    """Parameters of the simulated camera node."""

    sim: SimConfig = SimConfig()
    """Scene, camera, trajectory and rate (data/sim.py)."""
    loop: bool = True
    """Orbit again after the last frame (stamps keep increasing); False: publish one orbit, then idle."""
    publish_held_out: bool = True
    """Also publish the held-out evaluation frames on /eval/* (they never reach the memory)."""
    publish_clock: bool = True
    """Publish /clock with the frame stamps (for use_sim_time)."""


def shifted(sim: SimFrame, offset_ns: int) -> SimFrame:
    """The frame ``offset_ns`` later (the next lap of a looping orbit)."""
    return dataclasses.replace(
        sim, frame=dataclasses.replace(sim.frame, stamp_ns=sim.frame.stamp_ns + offset_ns)
    )


def laps(config: SimNodeConfig, simulate: Any) -> Any:
    """Simulated frames lap after lap (one lap without ``loop``), stamps strictly increasing."""
    period_ns = round(1e9 * config.sim.frames / config.sim.rate_hz)
    lap = 0
    while True:
        for sim in simulate(config.sim):
            yield shifted(sim, lap * period_ns)
        lap += 1
        if not config.loop:
            return
