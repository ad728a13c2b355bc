"""Drive the nodes from Python: node processes and an rclpy client on a ROS domain of their own.

Used by the live tests (test/ros) and the node benchmark (benchmarks/bench_nodes.py). A :class:`LiveGraph`
starts the nodes' console scripts — what ``ros2 run`` starts — as processes with their own ``ROS_DOMAIN_ID``
and discovery limited to this machine, and talks to them through a :class:`Client`: an rclpy node in the
calling process, in an rclpy context of its own on that domain. Imports rclpy when a client is made.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

BIN = Path(sys.executable).parent
# One domain per graph, away from 0 (the default others use) and spread by process id between runs.
_DOMAINS = itertools.count(100 + os.getpid() % 50)


def next_domain_id() -> int:
    """A ROS_DOMAIN_ID no other graph of this process has used (100 and up; DDS allows up to 232)."""
    return next(_DOMAINS)


class NodeProcess:
    """One node's console script as a process; its stdout and stderr go to ``log``."""

    def __init__(
        self,
        executable: str,
        parameters: dict[str, Any],
        env: dict[str, str],
        workdir: Path,
        remap: dict[str, str] | None = None,
    ) -> None:
        self.name, self.log = executable, workdir / f"{executable}.log"
        params = workdir / f"{executable}.yaml"
        params.write_text(yaml.safe_dump({executable: {"ros__parameters": _nested(parameters)}}))
        command = [str(BIN / executable), "--ros-args", "--params-file", str(params)]
        for name, target in (remap or {}).items():
            command += ["-r", f"{name}:={target}"]
        self.process = subprocess.Popen(
            command, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT, cwd=workdir
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def interrupt(self, timeout_s: float = 30.0) -> int | None:
        """SIGINT (Ctrl-C); the exit code, or None if it did not exit within ``timeout_s`` (then killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            # A hang: SIGABRT makes faulthandler (PYTHONFAULTHANDLER=1) write every thread's stack to the log.
            self.process.send_signal(signal.SIGABRT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            return None


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


class Client:
    """An rclpy node in the test process, on the graph's domain, with helpers to wait for messages."""

    def __init__(self, domain_id: int) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("gs_perception_test_client", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list] = {}
        self._times: dict[str, list[float]] = {}

    def subscribe(self, topic: str, cls: type, qos: Any = 10) -> list:
        """Collect every message on ``topic`` (default QoS: reliable, volatile, depth 10) into a list."""
        box, times = self.received.setdefault(topic, []), self._times.setdefault(topic, [])

        def receive(msg: Any) -> None:
            times.append(time.monotonic())
            box.append(msg)

        self.node.create_subscription(cls, topic, receive, qos)
        return box

    def arrival_times(self, topic: str) -> list[float]:
        """``time.monotonic()`` at which each message of :meth:`subscribe`'s list arrived."""
        return self._times[topic]

    def spin_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
        return done()

    def call(self, srv_type: type, name: str, request: Any, timeout_s: float = 60.0) -> Any:
        client = self.node.create_client(srv_type, name)
        assert client.wait_for_service(timeout_sec=timeout_s), f"service {name} never appeared"
        future = client.call_async(request)
        assert self.spin_until(future.done, timeout_s), f"{name} did not answer in {timeout_s} s"
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


class LiveGraph:
    """Node processes plus a client, all on one fresh ROS domain; everything is stopped by :meth:`close`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.domain_id = workdir, next_domain_id()
        self.env = {
            **os.environ,
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
            "ROS_DOMAIN_ID": str(self.domain_id),
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONFAULTHANDLER": "1",
            "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
        }
        self.nodes: list[NodeProcess] = []
        self.client = Client(self.domain_id)

    def start(
        self, executable: str, parameters: dict[str, Any], remap: dict[str, str] | None = None
    ) -> NodeProcess:
        node = NodeProcess(executable, parameters, self.env, self.workdir, remap)
        self.nodes.append(node)
        return node

    def close(self) -> None:
        for node in self.nodes:
            node.interrupt()
        self.client.close()
