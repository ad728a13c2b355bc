"""Choose the SSL recipe on validation figures and write the generated part of docs/results.md.

``make results`` calls it twice (see the Makefile):

    python scripts/results.py select NAME=EVAL_DIR ... --out runs/hard/selection.md   # prints the chosen NAME
    python scripts/results.py write --doc docs/results.md --selection runs/hard/selection.md \
        --final runs/hard/eval --study runs/shapes10/eval

``select`` reads each candidate's ``metrics.json`` from ``evaluate --score-split val`` and ranks them by the
mean of two validation probe accuracies (Gaussians, and images pooled over all views; 100 % labels) — never
by test figures. ``write`` replaces the text between the generated-block markers (:data:`BEGIN`,
:data:`END`) in the document with the selection table, the final (test, read once) tables, the
study-setting tables, and the issue's targets checked against the controls, each said plainly as met or
missed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gs_perception.eval.stats import bootstrap_difference, bootstrap_over_runs, overlaps

BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"
CONTROLS = ("untrained", "descriptor", "descriptor_yaw")


def _runs(eval_dir: Path) -> list[dict]:
    path = eval_dir / "metrics.json"
    if not path.exists():
        raise SystemExit(f"{path}: missing; run `gs-perception evaluate` into {eval_dir} first")
    return json.loads(path.read_text())["metrics"]


def _probe(run: dict, features: str, source: str, views: int | None = None) -> dict | None:
    """The 100 %-label probe of ``source`` on ``features`` (views: the given count, or the most pooled)."""
    found = [
        p for p in run["probes"]
        if p["features"] == features and p["labels"] == 1.0 and p.get("source", "ssl") == source
    ]  # fmt: skip
    if views is not None:
        found = [p for p in found if p["views"] == views]
    return max(found, key=lambda p: p["views"]) if found else None


def selection_score(runs: list[dict]) -> float:
    """Mean over runs of (Gaussian probe + all-view image probe) / 2, validation accuracies."""
    scores = [
        (_probe(r, "gaussians", "ssl")["accuracy"] + _probe(r, "views", "ssl")["accuracy"]) / 2 for r in runs
    ]
    return float(np.mean(scores))


def select(candidates: dict[str, Path], out: Path) -> str:
    """Rank the candidates by :func:`selection_score`; write the table to ``out``; return the best name."""
    rows = []
    for name, folder in candidates.items():
        runs = _runs(folder)
        g, v = (_probe(runs[0], f, "ssl")["accuracy"] for f in ("gaussians", "views"))
        rows.append((selection_score(runs), name, g, v, folder))
    rows.sort(key=lambda r: -r[0])
    lines = ["| recipe | val score | val probe: Gaussians | val probe: images, all views | evaluation |",
             "|---|---:|---:|---:|---|"]  # fmt: skip
    for score, name, g, v, folder in rows:
        best = "**" if name == rows[0][1] else ""
        lines.append(
            f"| {best}{name}{best} | {100 * score:.1f} % | {100 * g:.1f} % | {100 * v:.1f} % | `{folder}` |"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return rows[0][1]


@dataclass
class Target:
    """One of the issue's targets, checked: what was compared and whether it was met."""

    name: str
    text: str
    met: bool


def _correct(runs: list[dict], features: str, source: str, views: int | None) -> np.ndarray | None:
    rows = [_probe(r, features, source, views) for r in runs]
    if any(p is None or not p.get("correct") for p in rows):
        return None
    return np.asarray([p["correct"] for p in rows], dtype=float)


def probe_target(runs: list[dict], features: str) -> Target:
    """SSL ≥ best control + 5 points with non-overlapping 95 % intervals (probes, 100 % labels)."""
    views = max(p["views"] for p in runs[0]["probes"] if p["features"] == features)
    ssl = _correct(runs, features, "ssl", views)
    controls = {c: _correct(runs, features, c, views) for c in CONTROLS}
    controls = {c: x for c, x in controls.items() if x is not None}
    best = max(controls, key=lambda c: controls[c].mean())
    a, b = bootstrap_over_runs(ssl), bootstrap_over_runs(controls[best])
    diff = bootstrap_difference(ssl.mean(axis=0), controls[best].mean(axis=0), paired=True)
    met = a.value - b.value >= 0.05 and not overlaps(a, b)
    label = "Gaussians" if features == "gaussians" else f"images ({views} views)"
    text = (f"{label}: self-supervised {a.format()} vs the best control ({best}) {b.format()}; difference "
            f"{diff.format()} (paired over test objects)")  # fmt: skip
    return Target(f"probe from {label}", text, met)


def retrieval_target(runs: list[dict]) -> Target:
    """Image→Gaussians recall@1 of the run's head ≥ 2× the head on frozen untrained encoders."""

    def hits(run: dict, source: str) -> list[int]:
        return next(c for c in run["cross_modal"] if c["source"] == source)["hits_at_1"]

    by_source = {s: np.asarray([hits(r, s) for r in runs], dtype=float) for s in ("ssl", "untrained")}
    a, b = (bootstrap_over_runs(by_source[s]) for s in ("ssl", "untrained"))
    chance = np.mean([r["cross_modal"][0]["chance_at_1"] for r in runs])
    met = a.value >= 2 * b.value
    text = (
        f"recall@1 among same-class distractors: self-supervised {a.format()} vs the untrained control "
        f"{b.format()} (chance {100 * chance:.1f} %); ratio {a.value / max(b.value, 1e-9):.2f}"
    )
    return Target("retrieval ≥ 2× the untrained control", text, met)


def _estimate_line(t: Target) -> str:
    return f"- **{'met' if t.met else 'missed'}** — {t.text}."


def write(doc: Path, selection: Path, final: Path, study: Path | None) -> None:
    """Replace the generated block of ``doc`` (between the markers) with the current figures."""
    runs = _runs(final)
    targets = [probe_target(runs, "gaussians"), probe_target(runs, "views"), retrieval_target(runs)]
    parts = [
        BEGIN,
        "_Generated by `make results` (scripts/results.py) from the evaluation folders named below; edit the "
        "script, not this block._",
        "### Recipe chosen on the validation split (seed 0; the test split was not read)",
        selection.read_text().strip(),
        f"### The chosen recipe on the test split, read once (`{final}`)",
        (final / "results.md").read_text().strip(),
        "### The issue's targets on this benchmark",
        "\n".join(_estimate_line(t) for t in targets),
    ]
    if study is not None and (study / "results.md").exists():
        parts += [f"### The study's setting for comparison (shapes10, grey material; `{study}`)",
                  (study / "results.md").read_text().strip()]  # fmt: skip
    parts.append(END)
    text = doc.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc}: no {BEGIN} … {END} block to replace")
    head, rest = text.split(BEGIN, 1)
    doc.write_text(head + "\n\n".join(parts) + rest.split(END, 1)[1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("select", help="rank candidate recipes on their validation figures")
    s.add_argument("candidates", nargs="+", help="NAME=EVAL_DIR of `evaluate --score-split val` outputs")
    s.add_argument("--out", type=Path, required=True, help="Markdown table of the candidates")
    w = sub.add_parser("write", help="rewrite the generated block of docs/results.md")
    w.add_argument("--doc", type=Path, default=Path("docs/results.md"))
    w.add_argument("--selection", type=Path, required=True)
    w.add_argument("--final", type=Path, required=True, help="evaluation folder of the chosen recipe (test)")
    w.add_argument("--study", type=Path, default=None, help="evaluation folder of the study's setting")
    args = p.parse_args(argv)
    if args.command == "select":
        pairs = [c.split("=", 1) for c in args.candidates]
        if any(len(x) != 2 for x in pairs):
            raise SystemExit("candidates are NAME=EVAL_DIR")
        print(select({name: Path(folder) for name, folder in pairs}, args.out))
    else:
        write(args.doc, args.selection, args.final, args.study)


if __name__ == "__main__":
    sys.exit(main())
