"""One ``main()`` for every node: explicit init, spin, and a shutdown in a fixed order (Humble to Kilted).

Why not rclpy's defaults: rclpy's SIGINT handler shuts the context down *while* the node's own threads (the
pipeline worker, the simulator's render thread) may still publish, which logs "Failed to publish: context is
invalid", raises RCLError in those threads, or aborts the process ("terminate called without an active
exception") when a thread is still inside the middleware at exit. So the handlers are ours: SIGINT and
SIGTERM (what ``ros2 launch`` sends after SIGINT) both raise KeyboardInterrupt in the main thread, which
leaves ``spin`` and runs, in order: the node's ``close()`` (stop and join its threads), the executor's
shutdown (wait for running callbacks), ``destroy_node()``, and the context's shutdown last.

During start-up (imports, ``rclpy.init``, building the node) a signal is only recorded, and acted on
between the stages: a KeyboardInterrupt raised inside ``import torch`` unwinds through torch's C++
initialisation and aborts the process ("terminate called", exit -6), and libraries that catch
BaseException around optional imports swallow it.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from ..core.runtime import configure_threads
from . import require_rclpy

#: Longest wait inside the executor, so Ctrl-C is noticed within this many seconds.
SPIN_PERIOD_S = 0.1


#: Set by the first SIGINT/SIGTERM; start-up checks it between its stages, and the spin loop checks it too.
STOP = threading.Event()


def _record(signum: int, frame: Any) -> None:
    STOP.set()


def _interrupt(signum: int, frame: Any) -> None:
    STOP.set()
    raise KeyboardInterrupt(f"signal {signum}")


def _stop_if_asked() -> None:
    if STOP.is_set():
        raise KeyboardInterrupt("signal during start-up")


def run_node(make_node: Callable[[], Any], args: list[str] | None = None, threads: int = 1) -> int:
    """Create a node with ``make_node()`` and spin it until Ctrl-C, SIGTERM or an external shutdown.

    Args:
        make_node: Builds the node (after ``rclpy.init``); the node may define ``close()``, called first on
            shutdown to stop and join its own threads.
        args: Command-line arguments for ``rclpy.init`` (``--ros-args …``); None: ``sys.argv``.
        threads: 1: a single-threaded executor; more: a multi-threaded one with that many threads.

    Returns:
        The process exit code: 0 after a clean shutdown (also on Ctrl-C), 1 if the node failed to start.
    """
    # Ours from the start, so a Ctrl-C while rclpy or torch are still importing also ends cleanly: recorded
    # during start-up (see the module docstring), raised from then on.
    previous = {s: signal.signal(s, _record) for s in (signal.SIGINT, signal.SIGTERM)}
    rclpy, executor, node, code = None, None, None, 0
    try:
        configure_threads()  # before torch loads (in make_node): see core/runtime.py
        _stop_if_asked()
        rclpy = require_rclpy()
        from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        _stop_if_asked()
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        node = make_node()
        executor.add_node(node)
        for s in previous:
            signal.signal(s, _interrupt)
        _stop_if_asked()
        # Python runs a signal handler only between bytecodes, and an idle executor.spin() can wait in C
        # forever (a node with no timer and no subscription): wake up every SPIN_PERIOD_S to let it run.
        while rclpy.ok() and not STOP.is_set():
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    except KeyboardInterrupt:
        pass
    except Exception as err:
        # After a Ctrl-C, an error is its echo: a KeyboardInterrupt raised inside an import can come back as
        # something else (trimesh swallows it in its optional imports and then fails with a TypeError;
        # rclpy turns it into "ImportError: initialization failed"). The user asked to stop: not a crash.
        if STOP.is_set() or type(err).__name__ == "ExternalShutdownException":
            pass
        elif isinstance(err, ImportError):
            raise  # no ROS 2 here: require_rclpy's message says how to get it
        else:
            traceback.print_exc(file=sys.stderr)  # e.g. a bad parameter or a missing bundle
            code = 1
    finally:
        # A second Ctrl-C during the orderly shutdown must not abort it half-way.
        for s in previous:
            signal.signal(s, signal.SIG_IGN)
        _shut_down(rclpy, executor, node)
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code


def _shut_down(rclpy: Any, executor: Any, node: Any) -> None:
    """Node threads first, then callbacks, the node, and the context last (each only if it was made)."""
    if node is not None and hasattr(node, "close"):
        node.close()
    if executor is not None:
        executor.shutdown(timeout_sec=5.0)
    if node is not None:
        node.destroy_node()
    if rclpy is not None:
        rclpy.try_shutdown()
