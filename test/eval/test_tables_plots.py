"""Mean ± std cells, Markdown tables, and the t-SNE / confusion figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from gs_perception.eval.plots import confusion_plot, tsne_plot
from gs_perception.eval.tables import format_mean_std, markdown_table, mean_std


def test_mean_std_uses_ddof_1_and_ignores_nans():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([1.0, float("nan"), 3.0]) == (2.0, math.sqrt(2.0))
    assert mean_std([4.0]) == (4.0, 0.0)
    for empty in ([], [float("nan")] * 2):
        m, s = mean_std(empty)
        assert math.isnan(m) and math.isnan(s)


def test_format_mean_std():
    assert format_mean_std([0.9, 0.92, 0.916]) == "0.912 ± 0.011"
    assert format_mean_std([0.9, 0.92, 0.916], percent=True) == "91.2 ± 1.1 %"
    assert format_mean_std([5.335, 5.345], digits=2) == "5.34 ± 0.01"
    assert format_mean_std([0.952]) == "0.952" and format_mean_std([0.952], percent=True) == "95.2 %"
    assert format_mean_std([]) == "–" and format_mean_std([float("nan")]) == "–"


def test_markdown_table():
    text = markdown_table(["encoder", "acc"], [["image", "0.9"], ["a|b", "–"]])
    assert text.splitlines() == [
        "| encoder | acc |",
        "|---|---|",
        "| image | 0.9 |",
        "| a\\|b | – |",
    ]
    with pytest.raises(ValueError):
        markdown_table(["a", "b"], [["only one"]])


def test_tsne_writes_a_png_and_returns_2d_points(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 8)
    features = rng.normal(size=(24, 6)) + 10.0 * np.eye(6)[labels]
    path = tmp_path / "figs" / "tsne.png"
    # One OpenMP thread: on a shared, busy machine t-SNE's threads oversubscribe (0.2 s vs 10 s+).
    with threadpool_limits(limits=1, user_api="openmp"):
        emb = tsne_plot(features, labels, ["chair", "table", "lamp"], path, "t-SNE test", seed=0)
    assert emb.shape == (24, 2) and np.isfinite(emb).all()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        tsne_plot(features, labels, ["chair", "table"], tmp_path / "bad.png", "labels out of range")


def test_confusion_matrix_by_hand(tmp_path):
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 2, 2]
    path = tmp_path / "cm.png"
    cm = confusion_plot(y_true, y_pred, ["a", "b", "c", "unused"], path, "confusion")
    np.testing.assert_array_equal(cm, [[1, 1, 0, 0], [0, 2, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
