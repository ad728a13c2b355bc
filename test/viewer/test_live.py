"""The live view never slows the pipeline; the view command and replay's live flag serve a page."""

from __future__ import annotations

import re
import threading
import time
import types
import urllib.request
from dataclasses import replace

import pytest
import torch

from gs_perception.cli import main
from gs_perception.viewer.config import ViewerConfig
from gs_perception.viewer.live import LiveView
from gs_perception.viewer.scene import Splats


class SlowServer:
    """A ViewerServer stand-in that takes ``delay`` seconds per call and remembers what it was sent."""

    def __init__(self, delay: float = 0.2, fail: bool = False):
        self.delay, self.fail = delay, fail
        self.splats: list[Splats] = []
        self.cameras: list[int] = []
        self.detections = None
        self.images = 0
        self.url = "http://127.0.0.1:0"

    def _call(self):
        time.sleep(self.delay)
        if self.fail:
            raise ConnectionError("browser gone")

    def set_splats(self, splats):
        self._call()
        self.splats.append(splats)

    def add_cameras(self, cameras):
        self._call()
        self.cameras += [c.index for c in cameras]

    def set_detections(self, detections):
        self._call()
        self.detections = detections

    def set_status(self, *args):
        pass

    def look_at_splats(self, *args):
        pass

    def set_frame_images(self, image, render, caption):
        self._call()
        self.images += 1


class GrowingPipeline:
    """A pipeline stand-in whose memory grows by 100 Gaussians a step."""

    def __init__(self, make_blob):
        self.make_blob, self.size = make_blob, 0
        self.memory = types.SimpleNamespace(snapshot=lambda: self.make_blob(n=self.size))


def _run_steps(live: LiveView, pipeline: GrowingPipeline, make_record, make_detection, steps: int) -> float:
    """Feed ``steps`` steps; returns the slowest on_step in seconds."""
    slowest = 0.0
    for i in range(steps):
        pipeline.size += 100
        record = make_record(
            i, keyframe=i % 2 == 0, detections=[make_detection()] if i == steps - 2 else None
        )
        record = replace(record, gaussians=pipeline.size)
        frame = types.SimpleNamespace(rgb=torch.rand(30, 40, 3))
        outputs = types.SimpleNamespace(memory_view=None)
        start = time.perf_counter()
        live.on_step(frame, outputs, record, pipeline)
        slowest = max(slowest, time.perf_counter() - start)
    return slowest


def test_a_slow_viewer_never_slows_the_pipeline_and_ends_showing_the_final_memory(
    make_blob, make_record, make_detection
):
    server = SlowServer(delay=0.2)
    live = LiveView(ViewerConfig(update_period_s=0.0), server=server)
    pipeline = GrowingPipeline(make_blob)
    slowest = _run_steps(live, pipeline, make_record, make_detection, steps=20)
    assert slowest < 0.05, f"on_step took {slowest * 1e3:.1f} ms with a 200 ms server"  # never waits for it
    assert live.stats.steps == 20 and live.stats.on_step_ms_mean < 20
    live.close()
    assert server.splats[-1].total == 2000  # the final memory reached the page
    assert len(server.splats) < 20  # latest-only: snapshots the server could not keep up with were skipped
    assert server.cameras == list(range(0, 20, 2))  # every keyframe camera, none twice
    assert [d.class_name for d in server.detections] == ["chair"]


def test_updates_are_rate_limited_by_steps_and_seconds(make_blob, make_record, make_detection):
    server = SlowServer(delay=0.0)
    live = LiveView(ViewerConfig(update_every=5, update_period_s=0.0), server=server)
    _run_steps(live, GrowingPipeline(make_blob), make_record, make_detection, steps=12)
    assert live.stats.snapshots == 2  # after steps 5 and 10
    live.close()
    assert live.stats.snapshots == 3 and server.splats[-1].total == 1200  # and the final memory at close
    live = LiveView(ViewerConfig(update_period_s=3600.0), server=SlowServer(delay=0.0))
    _run_steps(live, GrowingPipeline(make_blob), make_record, make_detection, steps=5)
    assert live.stats.snapshots == 1  # the first step, then not within the hour
    live.close()


def test_a_failing_viewer_is_counted_not_raised(make_blob, make_record, make_detection):
    live = LiveView(ViewerConfig(update_period_s=0.0), server=SlowServer(delay=0.0, fail=True))
    with pytest.warns(UserWarning, match="live view: an update failed"):
        _run_steps(live, GrowingPipeline(make_blob), make_record, make_detection, steps=3)
        live.close()
    assert live.stats.steps == 3 and live.stats.errors >= 1


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return response.read().decode("utf-8", "replace")


@pytest.mark.parametrize("what", ["ply", "folder"])
def test_view_serves_a_ply_and_a_replay_folder_until_interrupted(what, replay_folder, monkeypatch, capsys):
    from gs_perception import cli_view

    pages = []

    def fetch_instead_of_waiting():
        url = re.search(r"at (http://127\.0\.0\.1:\d+)", capsys.readouterr().out)[1]
        pages.append(_fetch(url))

    monkeypatch.setattr(cli_view, "wait_for_interrupt", fetch_instead_of_waiting)
    path = replay_folder / "memory.ply" if what == "ply" else replay_folder
    assert main(["view", str(path), "--port", "0"]) == 0
    assert len(pages) == 1 and "<html" in pages[0].lower()


def test_view_of_something_else_is_a_clear_error(tmp_path, capsys):
    assert main(["view", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["view", str(tmp_path)]) == 2
    assert "memory.ply not found" in capsys.readouterr().err


@pytest.mark.slow
def test_replay_with_the_view_flag_serves_every_step_and_closes(tmp_path, monkeypatch):
    from gs_perception.core.memory import MemoryConfig
    from gs_perception.data.sim import SimConfig, simulate
    from gs_perception.pipeline.step import PipelineConfig
    from gs_perception.ros.replay import ReplayConfig, replay
    from gs_perception.ros.sim_bag import write_sim_bag
    from gs_perception.viewer import live as live_module

    made, pages = [], []

    class Recorded(LiveView):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)
            pages.append(_fetch(self.url))  # serving before the first step

    monkeypatch.setattr(live_module, "LiveView", Recorded)
    write_sim_bag(simulate(SimConfig(width=32, height=24, frames=4, held_out_every=0)), tmp_path / "bag")
    memory = MemoryConfig(
        working_min_width=32, steps_per_keyframe=2, keyframe_min_interval_s=0.0, threaded=False
    )
    config = ReplayConfig(
        pipeline=PipelineConfig(memory=memory), view=ViewerConfig(enabled=True, port=0, update_period_s=0.0)
    )
    replay(tmp_path / "bag", tmp_path / "out", config, show_progress=False)
    (live,) = made
    assert live.stats.steps == 4 and live.stats.snapshots >= 4 and live.stats.errors == 0
    assert "<html" in pages[0].lower()
    assert not any(t.name == "gs_perception-viewer" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(OSError):  # closed with the replay
        _fetch(live.url)


@pytest.mark.slow
def test_view_of_a_bag_replays_it_live_into_out_then_serves_that_folder(tmp_path, monkeypatch, capsys):
    from gs_perception import cli_view
    from gs_perception.data.sim import SimConfig, simulate
    from gs_perception.ros.sim_bag import write_sim_bag

    write_sim_bag(simulate(SimConfig(width=32, height=24, frames=3, held_out_every=0)), tmp_path / "bag")
    (tmp_path / "view.yaml").write_text(
        "replay:\n  pipeline:\n    memory: {working_min_width: 32, steps_per_keyframe: 2, "
        "keyframe_min_interval_s: 0.0}\nview:\n  update_period_s: 0.0\n"
    )
    served = []
    monkeypatch.setattr(cli_view, "wait_for_interrupt", lambda: served.append(capsys.readouterr().out))
    argv = ["view", str(tmp_path / "bag"), "--out", str(tmp_path / "out"), "--port", "0", "--quiet"]
    assert main([*argv, "--config", str(tmp_path / "view.yaml")]) == 0
    assert {"memory.ply", "steps.jsonl", "metrics.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
    assert re.search(r"replayed into .*out; serving it at http://127\.0\.0\.1:\d+", served[0]), served
    assert main(argv) == 2  # the folder exists now: refused without --overwrite
    assert "--overwrite" in capsys.readouterr().err
