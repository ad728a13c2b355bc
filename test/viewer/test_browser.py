"""The viewer in a real browser: Debian's chromium, headless (WebGL in software: SwiftShader), via Playwright.

One server in this process on 127.0.0.1 (a free port) and one page. The page must draw the splats where the
object is, list the detections' labels and scores as page text, and show a changed memory after an update.
Nothing leaves loopback: requests to any other host are aborted.

Chromium comes from Debian (``apt-get install chromium``; scripts/install_system_deps.sh, run by ``make
setup``), Playwright from pip (the ``viewer`` extra of ``dev``); Playwright's own browser download is never
used. Without them these tests skip, naming what is missing, unless ``GS_PERCEPTION_REQUIRE_BROWSER=1``
(``make test``, CI), where they fail instead.

``GS_PERCEPTION_SAVE_SCREENSHOT=1`` saves the replay-folder page to docs/images/viewer.png (README);
``GS_PERCEPTION_SCREENSHOT_SCENE=<replay folder>`` takes it of that folder instead of the synthetic one.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from gs_perception.ros.view_sources import load_scene
from gs_perception.viewer.config import ViewerConfig
from gs_perception.viewer.scene import Scene, Splats

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "images" / "viewer.png"
VIEWPORT = {"width": 1000, "height": 700}
# Software WebGL in headless chromium (no GPU here); nothing else of chromium's own reaches the network.
CHROMIUM_ARGS = [
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if shutil.which("chromium") is None:
        return "needs Debian's chromium on PATH (apt-get install chromium; make setup installs it)"
    for module, extra in (("playwright.sync_api", "dev"), ("viser", "viewer")):
        try:
            __import__(module)
        except ImportError:
            return f"needs {module.split('.')[0]} (pip install -e '.[{extra}]')"
    return None


@pytest.fixture(scope="module")
def browser_page() -> Iterator:
    why = unavailable_reason()
    if why is not None:
        if os.environ.get("GS_PERCEPTION_REQUIRE_BROWSER") == "1":
            pytest.fail(f"GS_PERCEPTION_REQUIRE_BROWSER=1 but the browser tests cannot run: {why}")
        pytest.skip(f"needs a browser: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/])"), lambda route: route.abort())
            yield context.new_page()
        finally:
            browser.close()


@pytest.fixture(scope="module")
def server() -> Iterator:
    from gs_perception.viewer.server import ViewerServer

    server = ViewerServer(ViewerConfig(port=0))
    try:
        yield server
    finally:
        server.close()


def _pixels(page) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(int)


def _centre(image: np.ndarray, half: int = 20) -> np.ndarray:
    """[N, 3] pixels of the square of side 2·half around the viewport's centre (where the object is)."""
    h, w = image.shape[:2]
    return image[h // 2 - half : h // 2 + half, w // 2 - half : w // 2 + half].reshape(-1, 3)


def _red(p: np.ndarray) -> np.ndarray:
    return (p[:, 0] > 150) & (p[:, 1] < 90) & (p[:, 2] < 90)


def _blue(p: np.ndarray) -> np.ndarray:
    return (p[:, 2] > 150) & (p[:, 0] < 90) & (p[:, 1] < 90)


def _wait_for_pixels(page, test: Callable[[np.ndarray], bool], timeout: float = 20.0) -> np.ndarray:
    """Screenshots until ``test(image)`` holds; the last one (the assertion after it says what failed)."""
    end = time.monotonic() + timeout
    while True:
        image = _pixels(page)
        if test(image) or time.monotonic() > end:
            return image
        page.wait_for_timeout(250)


def _open(page, server) -> None:
    """Load the page, wait for its websocket, close viser's note about software WebGL (when shown)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(server.url)
    page.get_by_text("Connected", exact=True).wait_for(timeout=20000)
    notice = page.get_by_text("Software WebGL rendering detected")  # SwiftShader here; not on a GPU
    try:
        notice.wait_for(timeout=3000)
    except PlaywrightTimeout:
        return
    notice.locator("xpath=ancestor::div[contains(@class, 'Notification-root')]").locator("button").click()


def test_the_splats_are_drawn_where_the_object_is_and_the_labels_are_on_the_page(
    browser_page, server, make_blob, make_detection
):
    server.show(
        Scene(
            "synthetic blob", Splats.of(make_blob(rgb=(0.9, 0.1, 0.1)), 10000), detections=[make_detection()]
        )
    )
    _open(browser_page, server)
    image = _wait_for_pixels(browser_page, lambda im: _red(_centre(im)).mean() > 0.5)
    assert _red(_centre(image)).mean() > 0.5, "the red blob is not drawn in the middle of the canvas"
    corners = np.concatenate(
        [image[:40, -40:].reshape(-1, 3), image[-40:, VIEWPORT["width"] // 2 :].reshape(-1, 3)]
    )
    assert not _red(corners).any()  # and only there
    text = browser_page.inner_text("body")
    assert "object_0: chair 0.87" in text and "table 0.07" in text, text  # the side panel's list
    assert browser_page.get_by_text("chair 0.87", exact=True).count() >= 1  # the 3D label over the box


def test_a_changed_memory_shows_up_after_an_update(browser_page, server, make_blob, make_detection):
    server.set_splats(Splats.of(make_blob(rgb=(0.1, 0.1, 0.9)), 10000))
    server.set_detections([make_detection("table", 0.66)])
    image = _wait_for_pixels(browser_page, lambda im: _blue(_centre(im)).mean() > 0.5)
    assert _blue(_centre(image)).mean() > 0.5 and not _red(_centre(image)).any()
    browser_page.get_by_text("object_0: table 0.66", exact=False).wait_for(timeout=10000)
    assert "chair 0.87" not in browser_page.inner_text("body")


def test_a_replay_folder_shows_cameras_detections_and_a_frame_beside_its_memory_render(
    browser_page, server, replay_folder
):
    folder = Path(os.environ.get("GS_PERCEPTION_SCREENSHOT_SCENE") or replay_folder)
    scene = load_scene(folder)
    server.show(scene)
    _open(browser_page, server)  # a new page: the initial camera of this scene
    browser_page.get_by_text(f"{len(scene.cameras)} keyframe cameras", exact=False).wait_for(timeout=10000)
    last = scene.frames[-1].camera.index
    assert f"step {last}," in browser_page.inner_text("body")
    images = browser_page.locator("img")
    assert images.count() >= 2 and all(images.nth(i).evaluate("e => e.naturalWidth") > 0 for i in range(2))
    background = np.array([255, 255, 255])
    image = _wait_for_pixels(
        browser_page, lambda im: (np.abs(_centre(im) - background).sum(1) > 60).mean() > 0.3
    )
    assert (np.abs(_centre(image) - background).sum(1) > 60).mean() > 0.3, "no memory drawn in the middle"
    if os.environ.get("GS_PERCEPTION_SAVE_SCREENSHOT"):
        browser_page.wait_for_timeout(1000)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser_page.screenshot(path=str(SCREENSHOT))
