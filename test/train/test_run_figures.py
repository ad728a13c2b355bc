"""results.md from typed run figures: every table row and cell, checked by hand on two small runs."""

from __future__ import annotations

from gs_perception.train.run_figures import (
    MemoryFigures,
    PairFigures,
    ProbeFigure,
    RunFigures,
    results_markdown,
)


def _run(shift: float) -> RunFigures:
    return RunFigures(
        study_pairs=PairFigures(0.9 + shift, 0.8, 0.95, 2 / 3),
        balanced_pairs=PairFigures(0.85, 0.85, 0.9, 0.5),
        distance_positive=1.0 + shift,
        distance_negative=3.0,
        probes=[
            ProbeFigure("gaussians", 0, 1.0, 1.0),
            ProbeFigure("gaussians", 0, 0.5, 0.9),
            ProbeFigure("views", 1, 1.0, 0.7 + shift),
            ProbeFigure("views", 1, 0.5, 0.6),
        ],
        memory=MemoryFigures(0.8, 0.6, 0.7),
        supervised={"pointnet": 0.9},
        supervised_correct={"pointnet": [1] * 9 + [0]},
    )


def test_results_markdown_has_a_row_per_measure_with_mean_and_spread_over_runs():
    text = results_markdown([_run(0.0), _run(0.1)], ["a", "b"], (1, 4), (1.0, 0.5), "pointnet")
    lines = text.splitlines()
    assert (
        lines[0]
        == "Runs (one per seed): `a`, `b`. Cells: mean ± std over runs. Scored on the **test** split."
    )
    # Two runs 0.9 and 1.0: mean 95.0 %, sample std 7.1 %.
    assert "| study | 95.0 ± 7.1 % | 80.0 ± 0.0 % | 0.950 ± 0.000 | 66.7 ± 0.0 % |" in lines
    assert "| balanced | 85.0 ± 0.0 % | 85.0 ± 0.0 % | 0.900 ± 0.000 | 50.0 ± 0.0 % |" in lines
    assert (
        "Mean paired distance of view embeddings (raw): positive 1.050 ± 0.071, negative 3.000 ± 0.000."
        in lines
    )
    assert "| Gaussians | 100.0 ± 0.0 % | 90.0 ± 0.0 % |" in lines
    assert "| images, 1 view | 75.0 ± 7.1 % | 60.0 ± 0.0 % |" in lines
    assert not any(line.startswith("| images, 4 views") for line in lines)  # not measured: no row
    assert any(
        line.startswith("| pointnet on mesh-sampled points | 90.0 ± 0.0 % | 90.0 % [") for line in lines
    )
    assert "| rendered from the Gaussians at held-out poses | 60.0 ± 0.0 % |" in lines


def test_without_baselines_or_memory_views_their_tables_are_left_out():
    run = _run(0.0)
    run.memory, run.supervised = None, {}
    text = results_markdown([run], ["a"], (1,), (1.0, 0.5), "pointnet")
    assert "Supervised baselines" not in text and "Memory-based vision" not in text
    assert "| study | 90.0 % | 80.0 % | 0.950 | 66.7 % |" in text.splitlines()  # one run: no spread
