#!/usr/bin/env python3
"""What the live web view costs the pipeline: bag replay of the demo's simulated bag with and without it.

Writes the demo's sim bag (SimConfig defaults: a camera orbiting a chair), then replays it (a) without the
view, (b) with the live view served but no page open, (c) with a headless chromium page open on it (the
browser draws every update, in software WebGL, on the same CPUs). Prints per-step figures as a Markdown
table for docs/benchmarks.md: wall time per live frame, the pipeline's own step latency, and the time the
view's ``on_step`` takes on the pipeline's thread.

    python benchmarks/bench_viewer.py [--frames 24] [--no-browser] [--update-period-s 1.0]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from gs_perception.data.sim import SimConfig, simulate
from gs_perception.ros.replay import ReplayConfig, replay
from gs_perception.ros.sim_bag import write_sim_bag
from gs_perception.viewer.config import ViewerConfig
from gs_perception.viewer.live import LiveView


def run(bag: Path, out: Path, view: ViewerConfig | None, browser: bool) -> dict:
    """One replay; per-frame figures in milliseconds."""
    live = None if view is None else LiveView(view, title="bench")
    page = _open_page(live.url) if browser and live is not None else None
    start = time.perf_counter()
    try:
        result = replay(
            bag, out, ReplayConfig(), show_progress=False, observers=[] if live is None else [live]
        )
    finally:
        if page is not None:
            page()
    wall = time.perf_counter() - start
    frames = result.metrics.frames
    return {
        "wall_ms_per_frame": 1e3 * wall / frames,
        "step_ms_mean": result.metrics.latency_ms_mean,
        "on_step_ms_mean": None if live is None else live.stats.on_step_ms_mean,
        "updates": None if live is None else live.stats.updates,
        "frames": frames,
    }


def _open_page(url: str):
    """Open ``url`` in headless chromium; returns a function that closes it."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    args = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
    browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=args)
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(url)
    page.get_by_text("Connected").wait_for(timeout=20000)

    def close():
        browser.close()
        playwright.stop()

    return close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=SimConfig().frames, help="live frames in the bag")
    parser.add_argument("--update-period-s", type=float, default=ViewerConfig().update_period_s)
    parser.add_argument("--no-browser", action="store_true", help="skip the run with a page open")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_viewer_"))
    try:
        write_sim_bag(simulate(replace(SimConfig(), frames=args.frames)), root / "bag")
        view = ViewerConfig(enabled=True, port=0, update_period_s=args.update_period_s)
        cases = [("no view", None, False), ("live view, no page open", view, False)]
        if not args.no_browser and shutil.which("chromium"):
            cases.append(("live view, chromium page open", view, True))
        rows = {}
        for k, (name, config, browser) in enumerate(cases):
            rows[name] = run(root / "bag", root / f"out{k}", config, browser)
            print(name, json.dumps(rows[name]), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = rows["no view"]["wall_ms_per_frame"]
    print("\n| run | wall ms / frame | vs no view | step ms (mean) | on_step ms (mean) | updates |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        on_step = "–" if r["on_step_ms_mean"] is None else f"{r['on_step_ms_mean']:.2f}"
        updates = "–" if r["updates"] is None else str(r["updates"])
        print(
            f"| {name} | {r['wall_ms_per_frame']:.0f} | {r['wall_ms_per_frame'] - base:+.0f} | "
            f"{r['step_ms_mean']:.0f} | {on_step} | {updates} |"
        )


if __name__ == "__main__":
    main()
