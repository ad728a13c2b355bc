"""Online subcommands of ``gs-perception`` (no ROS needed): ``sim-bag``, ``replay`` and ``demo``.

- ``sim-bag --out BAG``: a simulated camera orbiting procedural objects or meshes → a real ROS 2 bag (image,
  camera_info, depth, pose, tf; held-out frames and ground-truth labels on /eval/*).
- ``capture-bag CAPTURE --out BAG``: a posed photo capture (transforms.json) → the same kind of bag without
  depth (a monocular camera), held-out photos on /eval/*.
- ``replay BAG --out DIR``: the perception node's pipeline over a bag → output bag, metrics.json, memory.ply
  (``--overwrite`` replaces an existing DIR, once the new output is complete).
- ``demo``: sim-bag of a procedural object (``--shape``) or a mesh file (``--mesh``) → replay → a picture
  (input | memory render | predicted class).
- ``report OUT``: (re)build ``OUT/report.html`` of a replay output folder (docs/report.md).
- ``export-rerun OUT``: a Rerun recording (.rrd) of a replay output folder (needs rerun-sdk).
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import replace
from pathlib import Path

from .config import add_dataclass_args, dataclass_from_args, dataclass_from_yaml
from .data.appearance import AppearanceConfig
from .data.sim import SimConfig

DEFAULT_BUNDLE = Path("runs/shapes10/eval/bundle.pt")
"""Where the documented shapes10 training commands (README, docs/results.md) leave the encoder bundle."""
SHIPPED_BUNDLE = Path(__file__).resolve().parent / "assets" / "demo_bundle.pt"
"""The small bundle that ships in the package, so a fresh clone's demo names classes (`make demo-bundle`
builds it; its provenance: gs_perception/assets/README.md)."""
# Object 7 of its class is a test object of the shapes10 presets (never trained on), in the study's grey
# material like the data the documented bundle was trained on (docs/results.md).
DEMO_SIM = SimConfig(objects=("chair",), object_seed=7, appearance=AppearanceConfig(mode="fixed"))
"""The demo's scene before flags: --shape/--mesh replace its object, --sim-* flags the rest."""


def cmd_sim_bag(args: argparse.Namespace) -> int:
    from .data.sim import simulate
    from .ros.sim_bag import write_sim_bag

    config = dataclass_from_args(SimConfig, args, "", _yaml(SimConfig, args, "sim"))
    summary = write_sim_bag(simulate(config), args.out, storage=args.storage)
    counts = ", ".join(f"{t} {n}" for t, n in sorted(summary.message_counts.items()))
    print(
        f"{summary.frames} frames + {summary.held_out} held out → {summary.path} ({summary.storage}): "
        f"{counts}"
    )
    return 0


def cmd_capture_bag(args: argparse.Namespace) -> int:
    from .data.captures import CaptureConfig, load_capture
    from .ros.sim_bag import capture_frames, write_sim_bag

    capture = load_capture(args.capture, dataclass_from_args(CaptureConfig, args))
    summary = write_sim_bag(capture_frames(capture, args.rate), args.out, storage=args.storage)
    where = f"{summary.path} ({summary.storage})"
    print(f"{summary.frames} photos + {summary.held_out} held out → {where}, no depth")
    return 0


def _yaml(cls: type, args: argparse.Namespace, section: str):
    return dataclass_from_yaml(cls, args.config, section) if getattr(args, "config", None) else None


def _replay_config(args: argparse.Namespace, base=None):
    """ReplayConfig: ``base`` (else the defaults and --config's 'replay:' section), then the flags."""
    from .ros.replay import ReplayConfig

    base = _yaml(ReplayConfig, args, "replay") if base is None else base
    return dataclass_from_args(ReplayConfig, args, "", base)


def _with_bundle(config, bundle: Path):
    """``config`` (a ReplayConfig) recognising with the encoder bundle ``bundle``."""
    recognition = replace(config.pipeline.recognition, bundle=str(bundle))
    return replace(config, pipeline=replace(config.pipeline, recognition=recognition))


BUNDLE_ALIAS = {"pipeline.recognition.bundle": "--bundle"}
"""replay and demo spell --pipeline-recognition-bundle also --bundle (one field, one option)."""


def demo_bundle() -> Path | None:
    """The demo's encoder bundle: :data:`DEFAULT_BUNDLE` when it exists, else :data:`SHIPPED_BUNDLE`."""
    return next((path for path in (DEFAULT_BUNDLE, SHIPPED_BUNDLE) if path.is_file()), None)


def demo_replay_base():
    """The demo's ReplayConfig before flags (and the defaults its help shows): with :func:`demo_bundle`,
    which --bundle (= --pipeline-recognition-bundle) overrides."""
    from .ros.replay import ReplayConfig

    bundle = demo_bundle()
    return ReplayConfig() if bundle is None else _with_bundle(ReplayConfig(), bundle)


def cmd_replay(args: argparse.Namespace) -> int:
    from .ros.replay import replay

    config = _replay_config(args)
    result = replay(args.bag, args.out, config, show_progress=not args.quiet, overwrite=args.overwrite)
    _print_metrics(result)
    if config.view.enabled:  # the live page closed with the replay
        from .cli_view import view_command_hint

        print(f"the live view has stopped; to see the result again: {view_command_hint(args.out)}")
    return 0


def _print_metrics(result) -> None:
    m = result.metrics
    psnr = "n/a" if m.heldout_psnr_db is None else f"{m.heldout_psnr_db:.2f} dB"
    print(
        f"{m.frames} frames ({m.keyframes} keyframes, {m.dropped_frames} dropped), "
        f"{m.final_gaussians} Gaussians; "
        f"held-out memory-render PSNR {psnr} over {m.heldout_frames} frames; step latency mean "
        f"{m.latency_ms_mean or 0:.0f} ms, p95 {m.latency_ms_p95 or 0:.0f} ms"
    )
    if m.insertion_depth and m.insertion_depth != "from depth images":
        print(f"insertion depth: {m.insertion_depth}")
    if m.predicted:
        truth = f" (ground truth {', '.join(m.ground_truth)})" if m.ground_truth else ""
        print(f"predicted: {', '.join(m.predicted)}{truth}; accuracy {m.accuracy}")
    if m.bag_damage:
        lost = "an unknown number of" if m.unreadable_messages is None else m.unreadable_messages
        print(f"damaged bag, replayed its intact part ({lost} messages lost): {'; '.join(m.bag_damage)}")
    print(f"→ {result.out_bag}, {result.metrics_json}, {result.memory_ply}")
    for what, path in (("report", result.report), ("Rerun recording", result.recording)):
        if path is not None:
            print(f"{what}: {path}")


def cmd_report(args: argparse.Namespace) -> int:
    from .ros.replay_report import write_report

    print(f"report → {write_report(args.out, args.to)}")
    return 0


def cmd_export_rerun(args: argparse.Namespace) -> int:
    from .ros.rerun_export import RerunConfig, export_rerun

    done = export_rerun(args.out, args.rrd, dataclass_from_args(RerunConfig, args))
    print(
        f"{done.poses} camera poses, {done.input_images} input images, {done.memory_views} memory views, "
        f"{done.snapshots} Gaussian snapshots, {done.detection_steps} detection steps, "
        f"{done.final_gaussians} final Gaussians → {done.path} (open with: rerun {done.path})"
    )
    return 0


def demo_configs(args: argparse.Namespace):
    """(SimConfig, ReplayConfig) the demo runs with: :data:`DEMO_SIM` with the --shape or --mesh object and
    the --sim-* flags; :func:`demo_replay_base` with the replay flags.

    Raises:
        ValueError: --sim-objects given with --shape or --mesh (it would silently win over them).
    """
    if hasattr(args, "sim_objects") and (args.shape or args.mesh):
        raise ValueError("give the object once: --shape, --mesh or --sim-objects")
    subject = str(args.mesh) if args.mesh is not None else (args.shape or DEMO_SIM.objects[0])
    sim = dataclass_from_args(SimConfig, args, "sim-", replace(DEMO_SIM, objects=(subject,)))
    return sim, _replay_config(args, demo_replay_base())


def cmd_demo(args: argparse.Namespace) -> int:
    from .data.sim import simulate
    from .ros.replay import replay
    from .ros.sim_bag import write_sim_bag

    sim, replay_config = demo_configs(args)
    start, out = time.perf_counter(), Path(args.out)
    for stale in (out / "sim_bag", out / "replay"):
        shutil.rmtree(stale, ignore_errors=True)  # the demo always starts from scratch
    summary = write_sim_bag(simulate(sim), out / "sim_bag")
    print(
        f"[1/3] simulated {summary.frames} + {summary.held_out} held-out frames of "
        f"'{', '.join(sim.objects)}' → {summary.path}"
    )
    if not replay_config.pipeline.recognition.bundle:
        print(
            f"      no encoder bundle ({DEFAULT_BUNDLE} and {SHIPPED_BUNDLE} missing; see README "
            "'Self-supervised training'): memory only"
        )
    elif Path(replay_config.pipeline.recognition.bundle) == SHIPPED_BUNDLE:
        print(f"      classes from the shipped demo bundle ({SHIPPED_BUNDLE}; see its README.md)")
    result = replay(out / "sim_bag", out / "replay", replay_config, show_progress=not args.quiet)
    print("[2/3] replayed the bag through the pipeline:")
    _print_metrics(result)
    picture = _demo_picture(result, out / "demo.png")
    print(
        f"[3/3] picture (input | memory render | prediction) → {picture}; "
        f"total {time.perf_counter() - start:.0f} s"
    )
    from .cli_view import view_command_hint

    print(f"view the memory, cameras and detections in a browser: {view_command_hint(out / 'replay')}")
    return 0


def _demo_picture(result, path: Path) -> Path:
    """Held-out input frame | memory render at its pose | the largest object's memory view and class."""
    from .eval.pictures import labelled_panels

    k = len(result.heldout) // 2
    frame, render = result.heldout[k]
    panels = [frame.rgb, render]
    captions = ["held-out input frame", f"memory render ({result.metrics.heldout_psnr_per_frame[k]:.1f} dB)"]
    if result.last_objects:
        best = result.last_objects[0]
        panels.append(best.views[0])
        score = float(best.scores.max()) if best.class_name else 0.0
        captions.append(f"{best.class_name or 'no classifier'} ({score:.2f})")
    return labelled_panels(panels, captions, path)


def add_online_commands(sub: argparse._SubParsersAction) -> None:
    """Register sim-bag, replay and demo on the gs-perception parser."""
    p = sub.add_parser("sim-bag", help="simulated camera orbiting objects → a ROS 2 bag (sqlite3 or mcap)")
    p.add_argument("--out", type=Path, required=True, help="bag folder to create (must not exist)")
    p.add_argument("--storage", default="sqlite3", choices=("sqlite3", "mcap"), help="bag storage format")
    p.add_argument("--config", default=None, help="YAML file whose 'sim:' section overrides SimConfig")
    add_dataclass_args(p, SimConfig)
    p.set_defaults(func=cmd_sim_bag)

    from .data.captures import CaptureConfig

    p = sub.add_parser(
        "capture-bag", help="a posed photo capture (transforms.json) → a ROS 2 bag without depth"
    )
    p.add_argument(
        "capture", type=Path, help="capture folder (transforms.json or transforms_{train,test}.json)"
    )
    p.add_argument("--out", type=Path, required=True, help="bag folder to create (must not exist)")
    p.add_argument("--rate", type=float, default=4.0, help="photos per second of bag time")
    p.add_argument("--storage", default="sqlite3", choices=("sqlite3", "mcap"), help="bag storage format")
    add_dataclass_args(p, CaptureConfig)
    p.set_defaults(func=cmd_capture_bag)

    from .ros.replay import ReplayConfig

    p = sub.add_parser("replay", help="run the perception pipeline over a ROS 2 bag (no ROS needed)")
    p.add_argument("bag", type=Path, help="input bag folder (sqlite3 or mcap), or a lone .db3 / .mcap file")
    p.add_argument("--out", type=Path, required=True, help="output folder: bag/, metrics.json, memory.ply")
    p.add_argument("--config", default=None, help="YAML file whose 'replay:' section overrides ReplayConfig")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out (once the new output is complete)"
    )
    add_dataclass_args(p, ReplayConfig, aliases=BUNDLE_ALIAS)
    p.set_defaults(func=cmd_replay)
    _add_replay_folder_commands(sub)

    p = sub.add_parser(
        "demo", help="end to end on CPU: sim bag → replay → memory views, predictions, picture"
    )
    p.add_argument(
        "--out", type=Path, default=Path("runs/demo"), help="folder for sim_bag/, replay/ and demo.png"
    )
    what = p.add_mutually_exclusive_group()  # one object: refuse --shape with --mesh rather than pick one
    what.add_argument("--shape", default=None, help="procedural object the camera orbits (default: chair)")
    what.add_argument(
        "--mesh",
        type=Path,
        default=None,
        help="a mesh file the camera orbits instead (its folder names the class)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_args(p, SimConfig, "sim-", DEMO_SIM)
    add_dataclass_args(p, ReplayConfig, "", demo_replay_base(), aliases=BUNDLE_ALIAS)
    p.set_defaults(func=cmd_demo)


def _add_replay_folder_commands(sub: argparse._SubParsersAction) -> None:
    """report and export-rerun: what a finished replay folder can still become."""
    from .ros.rerun_export import RerunConfig

    p = sub.add_parser("report", help="(re)build report.html of a replay output folder")
    p.add_argument("out", type=Path, help="replay output folder (metrics.json, steps.jsonl, ...)")
    p.add_argument("--to", type=Path, default=None, help="write the report here (default OUT/report.html)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export-rerun", help="a Rerun recording (.rrd) of a replay output folder")
    p.add_argument("out", type=Path, help="replay output folder (metrics.json, steps.jsonl, bag/, ...)")
    p.add_argument("--rrd", type=Path, default=None, help="recording to write (default OUT/recording.rrd)")
    add_dataclass_args(p, RerunConfig)
    p.set_defaults(func=cmd_export_rerun)
