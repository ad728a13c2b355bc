"""scripts/results.py: the recipe is chosen on validation figures, and the generated block of the results
document is rewritten with the targets said plainly (met or missed) against the controls."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

SPEC = importlib.util.spec_from_file_location(
    "results_script", Path(__file__).parents[1] / "scripts" / "results.py"
)
results = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = results  # dataclasses look their module up while the script is being executed
SPEC.loader.exec_module(results)


def probe(features, views, source, accuracy, n=40, seed=0):
    rng = np.random.default_rng(seed)
    correct = (rng.random(n) < accuracy).astype(int).tolist()
    return dict(features=features, views=views, labels=1.0, accuracy=float(np.mean(correct)), correct=correct,
                source=source)  # fmt: skip


def run(ssl: float, control: float, r1: float, r1_control: float, seed: int = 0) -> dict:
    probes = []
    for source, acc in (("ssl", ssl), ("untrained", control), ("descriptor", control - 0.1)):
        probes.append(probe("gaussians", 0, source, acc, seed=seed))
        if not source.startswith("descriptor"):
            probes += [
                probe("views", 1, source, acc - 0.2, seed=seed),
                probe("views", 16, source, acc, seed=seed),
            ]
    hits = lambda p: (np.random.default_rng(seed).random(40) < p).astype(int).tolist()  # noqa: E731
    cross = [
        dict(source=s, hits_at_1=hits(p), chance_at_1=0.1)
        for s, p in (("ssl", r1), ("untrained", r1_control))
    ]
    return dict(probes=probes, cross_modal=cross)


def folder(tmp_path: Path, name: str, runs: list[dict]) -> Path:
    out = tmp_path / name
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps({"runs": [name], "metrics": runs}))
    (out / "results.md").write_text(f"tables of {name}\n")
    return out


def test_select_ranks_by_validation_probes(tmp_path):
    weak, strong = (
        folder(tmp_path, "weak", [run(0.6, 0.5, 0.3, 0.2)]),
        folder(tmp_path, "strong", [run(0.9, 0.5, 0.3, 0.2)]),
    )
    assert results.select({"weak": weak, "strong": strong}, tmp_path / "sel.md") == "strong"
    table = (tmp_path / "sel.md").read_text()
    assert table.index("strong") < table.index("weak") and "**strong**" in table


@pytest.mark.parametrize(("ssl", "r1", "met"), [(0.95, 0.8, True), (0.62, 0.25, False)])
def test_write_says_met_or_missed_against_the_best_control(tmp_path, ssl, r1, met):
    final = folder(tmp_path, "final", [run(ssl, 0.6, r1, 0.2, seed=s) for s in range(3)])
    selection = tmp_path / "sel.md"
    selection.write_text("| recipe |\n")
    doc = tmp_path / "results.md"
    doc.write_text(
        "# Results\n\nhand-written\n\n<!-- generated:begin -->\nSTALE-BLOCK\n<!-- generated:end -->\n\ntail\n"
    )
    results.write(doc, selection, final, study=None)
    text = doc.read_text()
    assert (
        text.startswith("# Results\n\nhand-written")
        and text.rstrip().endswith("tail")
        and "STALE-BLOCK" not in text
    )
    assert "tables of final" in text and "best control (untrained)" in text
    verdict = "**met**" if met else "**missed**"
    assert text.count(verdict) == 3, text
    results.write(doc, selection, final, study=None)  # a rerun replaces the block, not appends
    assert doc.read_text() == text
