"""The ``gs-perception`` command (also ``python -m gs_perception.cli``).

Subcommands:
    render-views  render a built-in shape or a mesh file into a NeRF-synthetic folder
    fit           fit 3D Gaussians to a NeRF-synthetic folder → PLY + metrics JSON
    fit-demo      render a procedural object, fit it on CPU, write PLY, pictures and metrics
    generate-dataset  meshes (shapes10, ModelNet, a folder) → views → Gaussians → feature caches, resumable
    train-ssl     self-supervised training of the image and Gaussian encoders on a generated dataset
    evaluate      the study's tables (and the corrected ones) for SSL runs, t-SNE figures, the encoder bundle
    train-ff      train the feed-forward Gaussian predictor (Splatter-Image-style) on a generated dataset
    eval-ff       novel-view quality of a train-ff run from 1/2/4 views, against the per-object fitter
    pack-bundle   re-save an encoder bundle with int8 weights (a quarter of the size) for shipping
    sim-bag       a simulated camera orbiting objects → a ROS 2 bag (sqlite3 or mcap) with held-out frames
    capture-bag   a posed photo capture (transforms.json) → a ROS 2 bag without depth
    replay        the perception node's pipeline over a ROS 2 bag, without ROS → output bag + metrics
    demo          end to end on CPU: sim bag → replay → memory views, predictions, metrics, one picture
    report        (re)build report.html of a replay output folder: metrics, plots, held-out strips
    export-rerun  a Rerun recording (.rrd) of a replay output folder
    view          the memory in a web page: splats, cameras, detections, frames (a .ply, a replay, a bag)

Options of each subcommand come from its config dataclass (``FitConfig``, ``ViewRenderConfig``); run
``gs-perception <cmd> -h`` for the list with defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # headless pyrender; must precede any OpenGL import

# Nothing here imports torch at module level: main() sets the thread policy first (core/runtime.py).
from .config import add_dataclass_args, dataclass_from_args, dataclass_from_yaml, plain_text  # noqa: E402
from .core.runtime import configure_threads  # noqa: E402

if TYPE_CHECKING:
    from .core.fit import FitConfig


def _load_mesh(args: argparse.Namespace):
    from .data.meshes import load_mesh
    from .data.shapes import make_shape

    if args.mesh is not None:
        return load_mesh(args.mesh)
    return make_shape(_subject(args), args.shape_seed)


def _subject(args: argparse.Namespace) -> str:
    """What render-views and fit-demo show: the --mesh file, else the --shape (default chair)."""
    return str(args.mesh) if args.mesh is not None else (args.shape or "chair")


def cmd_render_views(args: argparse.Namespace) -> int:
    from .data.views import ViewRenderConfig, write_nerf_synthetic

    config = dataclass_from_args(ViewRenderConfig, args, "view-")
    out = write_nerf_synthetic(args.out, _load_mesh(args), config)
    print(f"wrote {config.n_train} train + {config.n_test} test views to {out}")
    return 0


def config_from_args(cls: type, args: argparse.Namespace, section: str | None = None):
    """A command's ``cls`` config: the defaults, then the ``--config`` YAML (its ``section``), then flags."""
    base = dataclass_from_yaml(cls, args.config, section) if args.config else cls()
    return dataclass_from_args(cls, args, base=base)


def _fit_config(args: argparse.Namespace) -> FitConfig:
    """FitConfig of ``fit``/``fit-demo``: the object defaults, or for ``fit`` on a photo capture the capture
    defaults (``CAPTURE_FIT``); then the --config YAML's ``fit:`` section, then the flags."""
    from .core.fit import FitConfig
    from .data.fit_folder import default_fit_config

    folder = getattr(args, "folder", None)
    base = default_fit_config(folder) if folder is not None and folder.is_dir() else FitConfig()
    if args.config:
        base = dataclass_from_yaml(FitConfig, args.config, "fit", base)
    return dataclass_from_args(FitConfig, args, base=base)


def cmd_fit(args: argparse.Namespace) -> int:
    from .data.captures import CaptureConfig
    from .data.fit_folder import fit_folder

    background = None if args.background is None else tuple(args.background)
    capture = dataclass_from_args(CaptureConfig, args)
    fitted = fit_folder(args.folder, args.out, _fit_config(args), background, args.device, True, capture)
    r = fitted.result
    quality = ""
    if r.psnr is not None:
        quality = (
            f"held-out PSNR {r.psnr:.2f} dB (a flat mean-colour image: {fitted.baseline_psnr:.2f} dB), "
            f"SSIM {r.ssim:.3f}, "
        )
    print(f"{quality}{r.num_gaussians} Gaussians, {r.seconds:.1f} s ({r.backend}) → {fitted.ply_path}")
    print(f"metrics: {fitted.metrics_path}")
    return 0


def cmd_fit_demo(args: argparse.Namespace) -> int:
    from .core.fit import render_at_views
    from .data.fit_folder import fit_folder
    from .data.views import ViewRenderConfig, write_nerf_synthetic
    from .eval.pictures import save_comparisons

    start = time.perf_counter()
    out = Path(args.out)
    view_cfg = dataclass_from_args(ViewRenderConfig, args, "view-")
    views = write_nerf_synthetic(out / "views", _load_mesh(args), view_cfg)
    print(f"[1/3] rendered {view_cfg.n_train}+{view_cfg.n_test} views of '{_subject(args)}' → {views}")
    fitted = fit_folder(views, out / "object.ply", _fit_config(args), view_cfg.background, args.device)
    r = fitted.result
    print(f"[2/3] fitted {r.num_gaussians} Gaussians in {r.seconds:.1f} s on {r.backend} → {fitted.ply_path}")
    pred = render_at_views(r.cloud, fitted.test_views, r.backend)  # the rasteriser the fit used
    pictures = save_comparisons(fitted.test_views.rgb, pred, out / "heldout", "heldout")
    print(f"[3/3] {len(pictures)} held-out pictures (ground truth | render | error ×4) → {out / 'heldout'}")
    print(f"held-out PSNR {r.psnr:.2f} dB, SSIM {r.ssim:.3f}; total {time.perf_counter() - start:.0f} s")
    return 0


def cmd_generate_dataset(args: argparse.Namespace) -> int:
    from .data.generate import DatasetConfig, generate_dataset
    from .eval.dataset_report import markdown_table, summarise, write_report

    config = config_from_args(DatasetConfig, args)
    summary = generate_dataset(args.out, config, show_progress=not args.quiet)
    title = f"Dataset {args.out} ({config.source}" + (f", {args.config})" if args.config else ")")
    report = write_report(args.out, summary.entries, title, summary.seconds)
    print(markdown_table(summarise(summary.entries)))
    print(
        f"built {summary.built}, failed {summary.failed}, skipped {summary.skipped} (done earlier), "
        f"recovered {summary.recovered}; {len(summary.entries)}/{summary.planned} objects recorded; "
        f"{summary.seconds / 60:.1f} min → {report}"
    )
    return 0 if summary.complete or config.max_objects else 1


def cmd_train_ssl(args: argparse.Namespace) -> int:
    from .train.ssl import SSLConfig, train_ssl

    config = config_from_args(SSLConfig, args)
    result = train_ssl(config, resume=args.resume, show_progress=not args.quiet)
    last = result.last_val or result.last_train
    figures = (
        ""
        if last is None
        else f"; last {last.split} loss {last.loss}, correspondence accuracy {last.cm_accuracy}"
    )
    print(f"{result.position.step} steps ({result.position.epoch} epochs) → {result.checkpoint}{figures}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .train.evaluation import EvalConfig, evaluate

    result = evaluate(config_from_args(EvalConfig, args))
    print(result.results_md.read_text())
    print(f"→ {result.results_md}, {result.metrics_json}" + (f", {result.bundle}" if result.bundle else ""))
    return 0


def cmd_train_ff(args: argparse.Namespace) -> int:
    from .train.feedforward import FFConfig, train_ff

    result = train_ff(config_from_args(FFConfig, args), resume=args.resume, show_progress=not args.quiet)
    last = result.last_val or result.last_train
    figures = "" if last is None else f"; last {last.split} PSNR {last.psnr:.2f} dB, loss {last.loss}"
    print(f"{result.position.step} steps → {result.checkpoint}{figures}")
    return 0


def cmd_eval_ff(args: argparse.Namespace) -> int:
    from .train.ff_eval import FFEvalConfig, evaluate_ff

    result = evaluate_ff(config_from_args(FFEvalConfig, args), show_progress=True)
    print(result.results_md.read_text())
    print(f"→ {result.results_md}, {result.metrics_json}" + (f", {result.plot}" if result.plot else ""))
    return 0


def cmd_pack_bundle(args: argparse.Namespace) -> int:
    from .models.bundle import load_bundle, save_bundle

    b = load_bundle(args.bundle)
    packed = {"from": str(args.bundle), "weights": args.weights, "by": "gs-perception pack-bundle"}
    provenance = {**b.provenance, "packed": packed}
    out = save_bundle(
        args.out,
        b.model,
        b.feature_spec,
        b.class_names,
        b.classifier,
        b.train_config,
        provenance,
        args.weights,
    )
    mb = lambda path: f"{path.stat().st_size / 1e6:.1f} MB"  # noqa: E731
    print(f"{args.bundle} ({mb(args.bundle)}) → {out} ({mb(out)}, {args.weights} weights)")
    return 0


def _add_mesh_args(p: argparse.ArgumentParser) -> None:
    from .data.shapes import SHAPE_NAMES

    what = p.add_mutually_exclusive_group()  # one object: refuse --shape with --mesh rather than pick one
    what.add_argument(
        "--shape", default=None, choices=SHAPE_NAMES, help="built-in procedural object (default: chair)"
    )
    what.add_argument("--mesh", type=Path, default=None, help="a mesh file instead of a built-in shape")
    p.add_argument("--shape-seed", type=int, default=0, help="seed of the object's proportions (default: 0)")


def _add_fit_args(p: argparse.ArgumentParser) -> None:
    from .core.fit import FitConfig

    p.add_argument("--config", default=None, help="YAML file whose 'fit:' section overrides FitConfig")
    device = "cuda" if _cuda() else "cpu"
    p.add_argument("--device", default=device, help=f"cpu or cuda (default: {device})")
    add_dataclass_args(p, FitConfig)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def build_parser() -> argparse.ArgumentParser:
    """The gs-perception parser: one subcommand per tool, its options from the tool's config dataclass."""
    from .cli_online import add_online_commands
    from .cli_view import add_view_command

    parser = argparse.ArgumentParser(prog="gs-perception", description=plain_text(__doc__.split("\n\n")[0]))
    sub = parser.add_subparsers(
        dest="command", required=True, help="one of these; gs-perception <command> -h lists its options"
    )
    _add_fitting_commands(sub)
    _add_learning_commands(sub)
    add_online_commands(sub)
    add_view_command(sub)
    return parser


def _add_fitting_commands(sub: argparse._SubParsersAction) -> None:
    """render-views, fit, fit-demo."""
    from .data.views import ViewRenderConfig

    p = sub.add_parser("render-views", help="render a mesh into a NeRF-synthetic folder")
    p.add_argument("--out", type=Path, required=True, help="NeRF-synthetic folder to write (created)")
    _add_mesh_args(p)
    add_dataclass_args(p, ViewRenderConfig, "view-")
    p.set_defaults(func=cmd_render_views)

    from .data.captures import CaptureConfig

    p = sub.add_parser(
        "fit", help="fit 3D Gaussians to posed images (NeRF-synthetic, Instant-NGP, nerfstudio)"
    )
    p.add_argument(
        "folder",
        type=Path,
        help="folder with transforms_train.json (+ _test) or one transforms.json, and images",
    )
    p.add_argument("--out", type=Path, required=True, help="output PLY (metrics JSON written beside it)")
    p.add_argument(
        "--background",
        type=float,
        nargs=3,
        default=None,
        help="RGB in [0, 1] (default: white for RGBA object renders, the photos' mean colour for captures)",
    )
    add_dataclass_args(p, CaptureConfig)
    _add_fit_args(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("fit-demo", help="render a procedural object, fit it, write PLY + pictures")
    p.add_argument(
        "--out", type=Path, default=Path("runs/fit_demo"), help="output folder (default: runs/fit_demo)"
    )
    _add_mesh_args(p)
    _add_fit_args(p)
    add_dataclass_args(p, ViewRenderConfig, "view-")
    p.set_defaults(func=cmd_fit_demo)


def _add_learning_commands(sub: argparse._SubParsersAction) -> None:
    """generate-dataset, train-ssl, evaluate, pack-bundle."""
    from .data.generate import DatasetConfig

    p = sub.add_parser(
        "generate-dataset",
        help="render and fit a whole mesh dataset (resumable)",
        description="Per object: normalise, render views, hold out poses, fit Gaussians, cache encoder "
        "features; append to <out>/manifest.jsonl. Rerun the same command to resume.",
    )
    p.add_argument("--out", type=Path, required=True, help="dataset folder (created; reruns resume it)")
    p.add_argument("--config", default=None, help="YAML preset overriding DatasetConfig (see config/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_args(p, DatasetConfig)
    p.set_defaults(func=cmd_generate_dataset)

    from .train.ssl import SSLConfig

    p = sub.add_parser(
        "train-ssl",
        help="self-supervised training of the dual encoders (resumable)",
        description="Cross-view triplet + cross-modality correspondence training on a generated dataset; "
        "writes config.json, metrics.csv, tb/ and checkpoints/ under --out.",
    )
    p.add_argument("--config", default=None, help="YAML preset overriding SSLConfig (see config/)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints/last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_args(p, SSLConfig)
    p.set_defaults(func=cmd_train_ssl)

    from .train.evaluation import EvalConfig

    p = sub.add_parser("evaluate", help="evaluation tables, t-SNE figures and the bundle of SSL runs")
    p.add_argument("--config", default=None, help="YAML preset overriding EvalConfig")
    add_dataclass_args(p, EvalConfig)
    p.set_defaults(func=cmd_evaluate)

    _add_feedforward_commands(sub)

    p = sub.add_parser("pack-bundle", help="re-save an encoder bundle compactly (int8 weights) for shipping")
    p.add_argument("bundle", type=Path, help="bundle file (`evaluate` writes <out>/bundle.pt)")
    p.add_argument("--out", type=Path, required=True, help="the packed bundle file to write")
    p.add_argument(
        "--weights", default="int8", choices=("int8", "float32"), help="weight storage (default: int8)"
    )
    p.set_defaults(func=cmd_pack_bundle)


def _add_feedforward_commands(sub: argparse._SubParsersAction) -> None:
    """train-ff, eval-ff."""
    from .train.feedforward import FFConfig
    from .train.ff_eval import FFEvalConfig

    p = sub.add_parser(
        "train-ff",
        help="train the feed-forward Gaussian predictor (resumable)",
        description="Per-pixel Gaussians from posed views (Splatter-Image-style), trained with render "
        "losses at other views of the same object; writes config.json, metrics.csv, tb/ and checkpoints/ "
        "under --out.",
    )
    p.add_argument("--config", default=None, help="YAML preset overriding FFConfig (see config/ff_cpu.yaml)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints/last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_args(p, FFConfig)
    p.set_defaults(func=cmd_train_ff)

    p = sub.add_parser("eval-ff", help="novel-view PSNR/SSIM of a train-ff run, the fitter, a class probe")
    p.add_argument("--config", default=None, help="YAML preset overriding FFEvalConfig")
    add_dataclass_args(p, FFEvalConfig)
    p.set_defaults(func=cmd_eval_ff)


def main(argv: list[str] | None = None) -> int:
    try:
        configure_threads()  # first: OpenMP reads its wait policy once, when torch loads it
    except ValueError as err:
        print(f"gs-perception: error: {err}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as err:  # bad input: say what and where, no traceback
        print(f"gs-perception {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
