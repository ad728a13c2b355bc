"""The replay report: one self-contained HTML file beside metrics.json with the figures of a replay.

``<out>/report.html`` shows the headline metrics (held-out PSNR, frames and keyframes, latency, Gaussians,
predictions against ground truth, anything wrong with the bag), then held-out PSNR per frame, Gaussians and
step latency over time (keyframes marked), the input | memory | error strips of held-out frames, and the
detections of every recognition step. Figures are PNGs embedded as base64 data URIs: the file needs no
JavaScript, no network and no other file, so it can be mailed or attached to an issue.

Built from the folder alone (ros/replay_folder.py): replay writes it at the end (``ReplayConfig.report``),
``gs-perception report OUT`` rebuilds it. A folder from before steps.jsonl or the strips existed still gets a
report; the sections it cannot draw say why.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..pipeline.step_log import STEPS_FILE, Detection, StepRecord
from . import report_figures
from .replay_folder import REPORT_FILE, STRIPS_FILE, ReplayFolder, load_replay_folder

MAX_DETECTION_ROWS = 2000
"""Rows of the detections table at most (a long replay recognises hundreds of times)."""

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1040px; margin: 24px auto; padding: 0 16px;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: 6px 10px; }
.missing { color: #777; font-style: italic; }
img { max-width: 100%; height: auto; }
img.strips { image-rendering: pixelated; }
"""


def write_report(out: str | Path, path: str | Path | None = None, label: str | None = None) -> Path:
    """Write the HTML report of the replay output folder ``out``.

    Args:
        out: A ``gs-perception replay`` output folder (metrics.json, steps.jsonl, heldout_strips.png, ...).
        path: Where to write (default ``<out>/report.html``).
        label: The folder as the report names it (default ``out``; replay passes the final name while it
            writes into its partial folder).

    Returns:
        The report's path.

    Raises:
        FileNotFoundError: ``out`` is not a replay folder (no metrics.json).
        ReplayFolderError: metrics.json or steps.jsonl is corrupt (the message names the file).
    """
    folder = load_replay_folder(out)
    target = Path(path) if path is not None else folder.path / REPORT_FILE
    target.write_text(render_report(folder, label), encoding="utf-8")
    return target


def render_report(folder: ReplayFolder, label: str | None = None) -> str:
    """The report of ``folder`` (named ``label``, default its path) as one HTML document (UTF-8 text)."""
    label = str(folder.path) if label is None else label
    body = [
        _title(folder, Path(label).name),
        _headline(folder),
        _psnr_section(folder),
        _timeline_section(folder),
        _strips_section(folder),
        _detections_section(folder),
        f'<p class="meta">Rebuild with <code>gs-perception report {_e(label)}</code>.</p>',
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Replay report: {_e(Path(label).name)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _e(value: object) -> str:
    return html.escape(str(value))


def _img(png: bytes, alt: str, css: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    cls = f' class="{css}"' if css else ""
    return f'<img{cls} src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _missing(text: str) -> str:
    return f'<p class="missing">{_e(text)}</p>'


def _num(value: float | None, fmt: str = ".1f", unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{fmt}}{unit}"


def _title(folder: ReplayFolder, name: str) -> str:
    p = folder.provenance
    bundle = folder.config.get("pipeline", {}).get("recognition", {}).get("bundle") or "none (memory only)"
    meta = [
        f"input bag <code>{_e(folder.bag or 'unknown')}</code>",
        f"encoder bundle <code>{_e(bundle)}</code>",
        f"git {_e(p.get('git_sha', 'unknown'))}",
        f"torch {_e(p.get('torch', '?'))}" + (" (CUDA)" if p.get("cuda") else " (CPU)"),
    ]
    return f'<h1>Replay report: {_e(name)}</h1>\n<p class="meta">{" · ".join(meta)}</p>'


def _headline(folder: ReplayFolder) -> str:
    m = folder.metrics
    psnr = _num(m.heldout_psnr_db, ".2f", " dB")
    rows = [
        ("Held-out memory-render PSNR", f"{psnr} over {m.heldout_frames} held-out frames"),
        ("Frames", f"{m.frames} live, {m.keyframes} keyframes, {m.dropped_frames} dropped"),
        (
            "Step latency",
            f"p50 {_num(m.latency_ms_p50, '.0f')} ms, p95 {_num(m.latency_ms_p95, '.0f')} ms, "
            f"max {_num(m.latency_ms_max, '.0f')} ms "
            f"(keyframes mean {_num(m.keyframe_latency_ms_mean, '.0f')} ms)",
        ),
        ("Gaussians in the final memory", f"{m.final_gaussians:,}"),
        ("Predicted (final memory)", _predictions(m.predicted, m.predicted_scores) or "nothing recognised"),
        ("Ground truth", ", ".join(m.ground_truth) or "not in the bag"),
        ("Accuracy", "n/a" if m.accuracy is None else f"{100 * m.accuracy:.0f} %"),
        ("Insertion depth", m.insertion_depth or "n/a"),
        ("Replay wall time", f"{m.wall_s:.1f} s"),
    ]
    cells = "\n".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<h2>Summary</h2>\n{_problems(folder)}<table>\n{cells}\n</table>"


def _predictions(names: list[str], scores: list[float]) -> str:
    return ", ".join(f"{name} ({score:.2f})" for name, score in zip(names, scores))


def _problems(folder: ReplayFolder) -> str:
    """Warnings about the input: a damaged bag, messages skipped or lost, frames dropped."""
    m = folder.metrics
    lines = []
    if m.bag_damage or m.unreadable_messages:
        lost = "an unknown number of" if m.unreadable_messages is None else str(m.unreadable_messages)
        lines.append(f"Damaged bag: replayed its intact part, {lost} messages lost.")
        lines += m.bag_damage
    if m.skipped_messages:
        skipped = ", ".join(f"{topic} {n}" for topic, n in sorted(m.skipped_messages.items()))
        lines.append(f"Messages that did not convert (skipped): {skipped}.")
    if m.dropped_frames:
        lines.append(f"{m.dropped_frames} images dropped (no pose or camera info in time, or bad sizes).")
    return "".join(f'<p class="warn">{_e(line)}</p>\n' for line in lines)


def _psnr_section(folder: ReplayFolder) -> str:
    per_frame = folder.metrics.heldout_psnr_per_frame
    if not per_frame:
        body = _missing("No held-out frames in this bag (the /eval/* topics), so no held-out PSNR.")
    else:
        body = _img(report_figures.psnr_figure(per_frame), "held-out PSNR per frame")
    return f"<h2>Held-out PSNR per frame</h2>\n{body}"


def _timeline_section(folder: ReplayFolder) -> str:
    title = "<h2>Gaussians and latency over time</h2>\n"
    if folder.steps:
        return title + _img(report_figures.timeline_figure(folder.steps), "Gaussians and latency over time")
    if folder.steps is not None:
        return title + _missing("No live frame was stepped (the bag's camera topics had no complete frame).")
    growth = folder.metrics.gaussians_over_time
    note = _missing(
        f"This folder has no {STEPS_FILE} (replays before it existed): step latency and keyframes cannot "
        "be drawn." + (" Gaussians over time from metrics.json:" if growth else "")
    )
    return (
        title + note + (_img(report_figures.growth_figure(growth), "Gaussians over time") if growth else "")
    )


def _strips_section(folder: ReplayFolder) -> str:
    title = "<h2>Held-out frames: input | memory render | error</h2>\n"
    strips = folder.strips
    if strips is None:
        why = (
            "the bag has no held-out frames"
            if not folder.metrics.heldout_frames
            else f"this folder has no {STRIPS_FILE} (replays before it existed)"
        )
        return title + _missing(f"No strips: {why}.")
    note = (
        '<p class="meta">Each row: the recorded held-out image, the final memory rendered at its pose, '
        "and their absolute difference ×4 (black = exact).</p>\n"
    )
    return title + note + _img(strips.read_bytes(), "held-out input, memory render and error", "strips")


def _detections_section(folder: ReplayFolder) -> str:
    title = "<h2>Detections per recognition step</h2>\n"
    if folder.steps is None:
        return title + _missing(f"This folder has no {STEPS_FILE}: detections per step are not recorded.")
    recognised = [s for s in folder.steps if s.detections is not None]
    if not recognised:
        return title + _missing(
            "Recognition did not run during the replay (no encoder bundle, or never due)."
        )
    t0 = folder.steps[0].stamp_ns
    rows: list[str] = []
    for step in recognised:
        rows += _detection_rows(step, (step.stamp_ns - t0) / 1e9)
    cut = len(rows) - MAX_DETECTION_ROWS
    rows = rows[:MAX_DETECTION_ROWS] + (
        [f'<tr><td colspan="9">… {cut} more rows</td></tr>'] if cut > 0 else []
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "step",
            "t (s)",
            "object",
            "class",
            "score",
            "top-3 scores",
            "centre (m)",
            "size (m)",
            "Gaussians",
        )
    )
    intro = (
        f'<p class="meta">{len(recognised)} recognition steps; positions in the world frame. The final '
        "memory's recognition is in the summary.</p>\n"
    )
    return title + intro + f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def _detection_rows(step: StepRecord, t: float) -> list[str]:
    lead = f'<td class="num">{step.index}</td><td class="num">{t:.2f}</td>'
    if not step.detections:
        return [f'<tr>{lead}<td colspan="7" class="missing">no objects</td></tr>']
    return [f"<tr>{lead}{_detection_cells(d)}</tr>" for d in step.detections]


def _detection_cells(d: Detection) -> str:
    top = sorted(d.scores.items(), key=lambda item: -item[1])[:3]
    vec = lambda v: ", ".join(f"{x:.2f}" for x in v)  # noqa: E731
    cells = [
        _e(d.id),
        _e(d.class_name or "—"),
        f"{d.score:.2f}",
        _e(", ".join(f"{name} {p:.2f}" for name, p in top) or "—"),
        vec(d.centre),
        vec(d.size),
        str(d.gaussians),
    ]
    classes = ("", "", "num", "", "num", "num", "num")
    return "".join(f'<td class="{c}">{v}</td>' if c else f"<td>{v}</td>" for c, v in zip(classes, cells))
