"""``gs-perception view PATH``: the memory in a web page (docs/viewer.md).

PATH is a memory PLY, a replay output folder or a bag (replayed with the live view into ``--out``, then
shown as that folder). The page is served on ``--host``/``--port`` (loopback, 8080 by default; flags from
:class:`~gs_perception.viewer.config.ViewerConfig`) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from .config import add_dataclass_args, dataclass_from_args, dataclass_from_yaml
from .viewer.config import ViewerConfig

VIEW_BASE = replace(ViewerConfig(), enabled=True)
"""``view``'s settings before flags: a bag is replayed with the live view on (``--enabled false``: the page
shows the replay only once it is done)."""


def viewer_config(args: argparse.Namespace) -> ViewerConfig:
    """The view's ViewerConfig: :data:`VIEW_BASE`, then --config's 'view:' section, then the flags."""
    base = dataclass_from_yaml(ViewerConfig, args.config, "view", VIEW_BASE) if args.config else VIEW_BASE
    return dataclass_from_args(ViewerConfig, args, "", base)


def view_command_hint(path: str | Path, config: ViewerConfig = ViewerConfig()) -> str:
    """How to open the viewer on ``path`` (printed by the demo)."""
    return (
        f"gs-perception view {path}  then open the address it prints "
        f"(http://{config.host}:{config.port} unless that port is busy)"
    )


def wait_for_interrupt() -> None:
    """Block until Ctrl-C (tests replace this)."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def cmd_view(args: argparse.Namespace) -> int:
    from .ros.view_sources import default_out, load_scene, replay_and_view, view_kind
    from .viewer.server import ViewerServer

    config = viewer_config(args)
    kind = view_kind(args.path)  # a bad path fails here, before anything is served
    scene = None if kind == "bag" else load_scene(args.path, config)
    server = ViewerServer(config)
    try:
        print(f"view: serving {args.path} at {server.url} (Ctrl-C to stop)", flush=True)
        if scene is None:
            out = default_out(args.path) if args.out is None else args.out
            replay_and_view(
                args.path,
                out,
                server,
                config,
                _replay_config(args),
                overwrite=args.overwrite,
                show_progress=not args.quiet,
            )
            print(f"view: replayed into {out}; serving it at {server.url} (Ctrl-C to stop)", flush=True)
        else:
            server.show(scene)
            for note in scene.notes:
                print(f"view: note: {note}")
        wait_for_interrupt()
    finally:
        server.close()
    return 0


def _replay_config(args: argparse.Namespace):
    from .ros.replay import ReplayConfig

    return dataclass_from_yaml(ReplayConfig, args.config, "replay") if args.config else ReplayConfig()


def add_view_command(sub: argparse._SubParsersAction) -> None:
    """Register ``view`` on the gs-perception parser."""
    p = sub.add_parser(
        "view",
        help="the memory in a web page: a memory .ply, a replay folder, or a bag (replayed live)",
        description="Serves the Gaussians as splats, keyframe cameras, detections with class scores, and a "
        "frame's input image beside the memory rendered at its pose, until Ctrl-C (docs/viewer.md).",
    )
    p.add_argument("path", type=Path, help="memory .ply, replay output folder, or a bag folder/.db3/.mcap")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="for a bag: replay output folder (default: runs/view/<bag name>)",
    )
    p.add_argument("--overwrite", action="store_true", help="for a bag: replace an existing --out")
    p.add_argument(
        "--config",
        default=None,
        help="YAML file: its 'view:' section overrides ViewerConfig, 'replay:' the replay of a bag",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_args(p, ViewerConfig, "", VIEW_BASE)
    p.set_defaults(func=cmd_view)
