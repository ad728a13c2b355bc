"""The replay report: report.html beside metrics.json, rebuilt by `gs-perception report`, seen in chromium."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from gs_perception.cli import main
from gs_perception.data.sim import SimConfig, simulate
from gs_perception.pipeline.step_log import STEPS_FILE, read_steps
from gs_perception.ros import sensor_conversions as sensors
from gs_perception.ros.bag_io import read_bag
from gs_perception.ros.replay import ReplayConfig, replay
from gs_perception.ros.replay_folder import (
    MAX_STRIPS,
    METRICS_FILE,
    REPORT_FILE,
    STRIPS_FILE,
    ReplayFolderError,
    load_replay_folder,
    write_heldout_strips,
)
from gs_perception.ros.replay_report import write_report
from gs_perception.ros.sim_bag import write_sim_bag

pytestmark = pytest.mark.slow


class _Page(HTMLParser):
    """What a test needs of the report: image sources, headings, table rows, the text."""

    def __init__(self, text: str):
        super().__init__()
        self.images: list[dict] = []
        self.headings: list[str] = []
        self.rows: list[list[str]] = []
        self.text: list[str] = []
        self._heading = self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        elif tag in ("h1", "h2"):
            self._heading = []
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("h1", "h2"):
            self.headings.append("".join(self._heading))
            self._heading = None
        elif tag in ("td", "th"):
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        for part in (self._heading, self._cell):
            if part is not None:
                part.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def _png(src: str) -> Image.Image:
    assert src.startswith("data:image/png;base64,"), src[:40]
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


def test_replay_writes_a_self_contained_report_with_the_headline_metrics(tiny_replay):
    text = (tiny_replay / REPORT_FILE).read_text()
    page = _Page(text)
    m = load_replay_folder(tiny_replay).metrics
    assert page.headings[0] == f"Replay report: {tiny_replay.name}"
    assert page.headings[1:] == [
        "Summary",
        "Held-out PSNR per frame",
        "Gaussians and latency over time",
        "Held-out frames: input | memory render | error",
        "Detections per recognition step",
    ]
    summary = {row[0]: row[1] for row in page.rows if len(row) == 2}
    assert summary["Held-out memory-render PSNR"] == f"{m.heldout_psnr_db:.2f} dB over 2 held-out frames"
    assert summary["Frames"] == f"8 live, {m.keyframes} keyframes, 0 dropped"
    assert summary["Step latency"].startswith(f"p50 {m.latency_ms_p50:.0f} ms, p95 {m.latency_ms_p95:.0f} ms")
    assert summary["Gaussians in the final memory"] == f"{m.final_gaussians:,}"
    assert summary["Predicted (final memory)"] == f"chair ({m.predicted_scores[0]:.2f})"
    assert summary["Ground truth"] == "chair" and summary["Accuracy"] == "100 %"
    # Self-contained: two PNG figures and the strips inline, nothing fetched, no script.
    assert len(page.images) == 3 and all(_png(img["src"]).size[0] > 300 for img in page.images)
    assert not re.search(r"(src|href)=\"(?!data:)", text) and "<script" not in text
    assert "Damaged bag" not in text  # an intact bag gets no warning


def test_the_detections_table_has_a_row_per_detection_of_every_recognition_step(tiny_replay):
    steps = read_steps(tiny_replay / STEPS_FILE)
    recognised = [s for s in steps if s.detections is not None]
    assert len(recognised) == 2
    page = _Page((tiny_replay / REPORT_FILE).read_text())
    table = [row for row in page.rows if len(row) == 9 and row[0].isdigit()]
    expected = [(s.index, d) for s in recognised for d in s.detections]
    assert [int(row[0]) for row in table] == [index for index, _ in expected]
    for row, (_, detection) in zip(table, expected):
        assert row[2:5] == [detection.id, "chair", f"{detection.score:.2f}"]
        assert row[5].startswith(f"chair {detection.scores['chair']:.2f}") and row[5].count(",") == 2
        assert row[6] == ", ".join(f"{v:.2f}" for v in detection.centre) and row[8] == str(
            detection.gaussians
        )


def test_heldout_strips_are_the_recorded_image_the_memory_render_and_their_error(tiny_replay):
    strips = np.asarray(Image.open(tiny_replay / STRIPS_FILE).convert("RGB")).astype(int)
    sim = tiny_replay.parent / "sim"
    inputs = [sensors.image_to_rgb(m.msg) for m in read_bag(sim, topics={"/eval/image_raw"})]
    renders = [
        sensors.image_to_rgb(m.msg)
        for m in read_bag(tiny_replay / "bag", topics={"/gs_perception/eval/memory_view"})
    ]
    assert len(inputs) == len(renders) == 2 <= MAX_STRIPS
    scale, bar, gap = 4, 22, 4  # 64-px images upscaled ×4 to the 256-px panels; a header, a caption a row
    assert strips.shape == (bar + 2 * (bar + 48 * scale) + gap, 3 * 64 * scale, 3)
    for k, (image, render) in enumerate(zip(inputs, renders)):
        top = bar + k * (bar + 48 * scale + gap) + bar
        row = strips[top : top + 48 * scale : scale, ::scale]  # one sample per source pixel
        assert np.array_equal(row[:, :64], np.rint(image * 255))  # the recorded image, exactly
        assert np.abs(row[:, 64:128] - render * 255).max() <= 1  # the render (8-bit in the bag)
        error = np.clip(np.abs(image - render).mean(-1) * 4, 0, 1) * 255
        assert np.abs(row[:, 128:, 0] - error).max() <= 6  # ×4 gain on 8-bit renders: a few levels


def test_many_heldout_frames_give_an_evenly_spaced_sample_of_strips(tmp_path):
    import torch

    n, height, width = 20, 12, 16
    frames = [
        SimpleNamespace(rgb=torch.full((height, width, 3), k / n), stamp_ns=k * 10**9) for k in range(n)
    ]
    renders = [(frame, frame.rgb * 0.5) for frame in frames]
    sheet = Image.open(write_heldout_strips(tmp_path, renders, [20.0] * n, t0_ns=0))
    scale, bar, gap = 256 // width, 22, 4
    assert sheet.size == (
        3 * width * scale,
        bar + MAX_STRIPS * (bar + height * scale) + (MAX_STRIPS - 1) * gap,
    )
    firsts = [
        np.asarray(sheet)[bar + k * (bar + height * scale + gap) + bar, 0, 0] for k in range(MAX_STRIPS)
    ]
    chosen = [round(k * (n - 1) / (MAX_STRIPS - 1)) for k in range(MAX_STRIPS)]  # first and last included
    assert np.abs(np.array(firsts, int) - [k / n * 255 for k in chosen]).max() <= 1  # each frame its shade


def test_report_of_an_older_folder_without_steps_or_strips_says_what_it_cannot_draw(tiny_replay, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(tiny_replay / METRICS_FILE, old / METRICS_FILE)
    page = _Page(write_report(old).read_text())
    text = page.all_text
    assert "This folder has no steps.jsonl (replays before it existed)" in text
    assert "Gaussians over time from metrics.json" in text
    assert f"No strips: this folder has no {STRIPS_FILE}" in text
    assert "detections per step are not recorded" in text
    assert len(page.images) == 2  # held-out PSNR, and growth from metrics.json


def test_a_corrupt_metrics_or_steps_file_is_named_in_the_error(tiny_replay, tmp_path):
    folder = _copy(tiny_replay, tmp_path)
    lines = (folder / STEPS_FILE).read_text().splitlines()
    (folder / STEPS_FILE).write_text("\n".join([lines[0], '{"index": 1, "stamp_ns": "cut', *lines[2:]]))
    with pytest.raises(
        ReplayFolderError, match=rf"{re.escape(str(folder / STEPS_FILE))}:2: not a step record"
    ):
        write_report(folder)
    (folder / METRICS_FILE).write_text('{"metrics": {"frames": 8')
    with pytest.raises(
        ReplayFolderError, match=rf"{re.escape(str(folder / METRICS_FILE))}: not a replay metrics"
    ):
        write_report(folder)
    (folder / METRICS_FILE).write_text(json.dumps({"metrics": {"frames": 8}}))  # valid JSON, fields missing
    with pytest.raises(ReplayFolderError, match="missing"):
        write_report(folder)


def test_report_command_rebuilds_the_report_and_refuses_a_non_replay_folder(tiny_replay, tmp_path, capsys):
    folder = _copy(tiny_replay, tmp_path)
    (folder / REPORT_FILE).unlink()
    assert main(["report", str(folder)]) == 0
    assert f"report → {folder / REPORT_FILE}" in capsys.readouterr().out
    rebuilt = (folder / REPORT_FILE).read_text()
    assert rebuilt == (tiny_replay / REPORT_FILE).read_text().replace(str(tiny_replay), str(folder))
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "is not a replay output folder" in capsys.readouterr().err


def test_replay_without_report_writes_none_and_the_report_says_what_the_bag_lacked(tmp_path):
    sim = SimConfig(width=32, height=24, frames=2, held_out_every=0, rate_hz=4.0)
    write_sim_bag(simulate(sim), tmp_path / "sim")
    config = replace(ReplayConfig(), report=False)
    result = replay(tmp_path / "sim", tmp_path / "out", config, show_progress=False)
    assert result.report is None and not (tmp_path / "out" / REPORT_FILE).exists()
    assert not (tmp_path / "out" / STRIPS_FILE).exists()  # no held-out frames, no strips
    text = _Page(write_report(tmp_path / "out").read_text()).all_text
    assert "No held-out frames in this bag" in text and "No strips: the bag has no held-out frames" in text
    assert "Recognition did not run during the replay" in text


# -- in a real browser ---------------------------------------------------------------------------------------

_PROBE = """<script>
window.addEventListener("load", () => {
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify(Array.from(document.images, i => [i.complete, i.naturalWidth]));
  document.body.appendChild(probe);
});
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("GS_PERCEPTION_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "GS_PERCEPTION_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)"
            )
        pytest.skip(
            "needs a browser: chromium is not installed (apt-get install chromium; make setup installs it)"
        )
    return found


@pytest.mark.browser
def test_the_report_renders_in_chromium_and_every_image_loads(tiny_replay, tmp_path):
    chromium = _chromium()
    # The report has no script of its own; a copy gets one that lists, once loaded, each image's state.
    page = tmp_path / "report_probe.html"
    page.write_text((tiny_replay / REPORT_FILE).read_text().replace("</body>", _PROBE + "\n</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    flags += [f"--user-data-dir={tmp_path / 'profile'}"]  # a fresh profile: no state from other runs
    dom = subprocess.run(
        [chromium, *flags, "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    ).stdout
    probe = re.search(r'<pre id="probe">(.*?)</pre>', dom)
    assert probe, f"chromium did not render the report (its DOM dump starts: {dom[:200]!r})"
    images = json.loads(probe.group(1))
    assert len(images) == 3 and all(complete and width > 0 for complete, width in images), images
    assert f"Replay report: {tiny_replay.name}" in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, *flags, "--window-size=1100,1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=90,
        cwd=tmp_path,
    )
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1400, 1100) and pixels.std() > 10  # drawn, not a blank page
