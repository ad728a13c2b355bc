"""Bag replay without ROS: the node's pipeline over a recorded ROS 2 bag, outputs into a new bag, metrics.

Reads the input topics of a bag (sqlite3 or mcap; a bag folder or a lone .db3/.mcap file; unrelated topics
are ignored), assembles frames exactly as the node does (pipeline/assembler.py), runs
:class:`~gs_perception.pipeline.step.Pipeline` on each, and writes every output message (ros/outputs.py, the
node's own conversion) into ``<out>/bag`` under ``output_namespace``, stamped like its input, so
``ros2 bag play`` shows what the robot would have published. Afterwards the memory is rendered at the
held-out ``/eval/*`` poses (never fed to the memory) and compared with the recorded images, and the objects
are recognised once more on the final memory. Messages that fail to convert are skipped with a warning and
counted; one bad message never ends the replay. A bag cut short is replayed as far as it is intact
(ros/bag_io.py) and the metrics count what was lost.

Before anything is written the bag must have a live camera (image, camera_info and a pose or tf); else
:class:`~.replay_inputs.ReplayInputError` lists its topics and the ``--topics-*`` flags that remap them.
Outputs go to a sibling ``<out>.partial-<pid>`` folder renamed to ``<out>`` only when complete: a failed
replay leaves none.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import torch

from ..core.choices import check_choices
from ..core.frames import Frame
from ..core.memory import MemoryConfig
from ..pipeline.assembler import AssemblerConfig
from ..pipeline.recognition import RecognisedObject
from ..pipeline.step import Pipeline, PipelineConfig, StepOutputs
from ..pipeline.step_log import STEPS_FILE, StepObserver, StepRecord, write_steps
from ..provenance import provenance
from ..viewer.config import ViewerConfig
from . import perception_msgs as msgs
from . import sensor_conversions as sensors
from .bag_io import BagMessage, BagReader, BagReadWarning, BagWriter
from .outputs import object_messages, output_messages
from .replay_folder import write_heldout_strips
from .replay_inputs import ReplayInputs, ReplayTopics, check_inputs
from .replay_metrics import ReplayMetrics, summarise
from .replay_report import write_report
from .rerun_export import export_rerun, require_rerun
from .typestore import MessageTypes


@dataclass(frozen=True)
class ReplayConfig:
    """Bag replay: the pipeline, how frames are matched, which topics, and the output bag."""

    pipeline: PipelineConfig = PipelineConfig(memory=MemoryConfig(threaded=False))
    """The node's pipeline settings (parameters of the same names), with one default of replay's own: the
    memory in deterministic mode (``memory.threaded`` False: optimised inside each step with seeded
    randomness, so the same bag gives the same outputs). True owes the steps as the node does; replay has
    no idle time between frames, so it runs them all at the end, before the held-out renders."""
    assembler: AssemblerConfig = AssemblerConfig()
    """How image, camera_info, depth and pose are matched by stamp."""
    topics: ReplayTopics = ReplayTopics()
    """Input topics."""
    max_frames: int = 0
    """Stop after this many live frames (0 = all)."""
    storage: Literal["sqlite3", "mcap"] = "sqlite3"
    """Output bag storage: 'sqlite3' or 'mcap'."""
    distro: str = "humble"
    """ROS 2 distro whose message definitions the output bag embeds."""
    report: bool = True
    """Write ``<out>/report.html`` (figures of the replay; ros/replay_report.py, docs/report.md)."""
    rerun: str = ""
    """Also write a Rerun recording (.rrd) of the replay to this path ('' = none; needs rerun-sdk)."""
    view: ViewerConfig = ViewerConfig()
    """The live web view while replaying (``--view-enabled true``; docs/viewer.md), off by default."""

    def __post_init__(self):
        check_choices(self)


@dataclass
class ReplayResult:
    """Where the outputs went, and the metrics (also in ``metrics_json``)."""

    metrics: ReplayMetrics
    out_bag: Path
    metrics_json: Path
    memory_ply: Path
    heldout: list[tuple[Frame, torch.Tensor]]
    """(held-out frame, memory render [H, W, 3]) pairs, in stamp order."""
    last_objects: list[RecognisedObject]
    """Objects recognised on the final memory."""
    last_outputs: StepOutputs | None
    """The last step's outputs."""
    report: Path | None = None
    """The HTML report, when written."""
    recording: Path | None = None
    """The Rerun recording, when asked for."""


class OutputExistsError(FileExistsError, ValueError):
    """The output exists already and overwriting was not asked for (a ValueError too: a user error)."""


def replay(
    bag: str | Path,
    out: str | Path,
    config: ReplayConfig = ReplayConfig(),
    show_progress: bool = True,
    overwrite: bool = False,
    observers: Sequence[StepObserver] = (),
) -> ReplayResult:
    """Run the pipeline over ``bag``; write ``<out>/bag``, ``<out>/metrics.json``, ``<out>/memory.ply``,
    ``<out>/steps.jsonl`` (one :class:`~gs_perception.pipeline.step_log.StepRecord` per live frame),
    ``<out>/heldout_strips.png`` (with held-out frames) and ``<out>/report.html`` (``config.report``); and a
    Rerun recording at ``config.rerun`` when given (ros/rerun_export.py), after the folder is complete.

    Everything is written into ``<out>.partial-<pid>`` and renamed to ``out`` once complete, so a replay
    that fails leaves no ``out`` and no partial folder (only killing the process can leave the latter).

    Args:
        bag: Bag folder, or a lone .db3 / .mcap file.
        out: Output folder to create.
        config: Pipeline, matching, topics and output bag settings.
        show_progress: tqdm bar over the input messages (with total and ETA).
        overwrite: Replace an existing ``out`` (only after the new output is complete).
        observers: See every step as it happens (a live viewer, a recorder); closed at the end, also on
            failure.

    Raises:
        FileNotFoundError: ``bag`` does not exist.
        OutputExistsError: ``out`` exists (an empty folder does not count) and ``overwrite`` is False.
        BagError: ``bag`` is not a bag, or nothing of it is readable.
        ReplayInputError: The bag lacks the live camera topics (the message lists its topics and the flags).
    """
    out = Path(out)
    if _occupied(out) and not overwrite:
        raise OutputExistsError(f"output {out} exists already: pass --overwrite to replace it")
    if config.rerun:
        require_rerun()  # before the replay, not after an hour of it
    with BagReader(bag, config.distro) as source:
        inputs = ReplayInputs(config.topics, config.assembler)
        check_inputs(Path(bag), source.topics, source.counts, config.topics, config.assembler)
        if source.damage is not None:
            warnings.warn(f"damaged bag: {source.damage}", BagReadWarning, stacklevel=2)
        observers = [*observers, *_live_view(config.view, Path(bag).name)]  # closed in the finally below
        partial = out.absolute().parent / f"{out.absolute().name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)  # left by a killed process that had our pid
        partial.mkdir(parents=True)
        try:
            result = _replay_into(partial, source, inputs, config, show_progress, observers)
            _publish(partial, out)
        except BaseException:  # failures and interrupts alike: leave no partial output behind
            shutil.rmtree(partial, ignore_errors=True)
            raise
        finally:
            for observer in observers:
                observer.close()
    # After the rename: the recording may be asked for inside ``out``, which the rename would replace.
    recording = export_rerun(out, config.rerun).path if config.rerun else None
    return replace(
        result,
        out_bag=out / "bag",
        metrics_json=out / "metrics.json",
        memory_ply=out / "memory.ply",
        report=None if result.report is None else out / result.report.name,
        recording=recording,
    )


def _replay_into(
    work: Path,
    source: BagReader,
    inputs: ReplayInputs,
    config: ReplayConfig,
    show_progress: bool,
    observers: Sequence[StepObserver],
) -> ReplayResult:
    """The replay proper, writing into the folder ``work``."""
    pipeline_config = config.pipeline
    heldout, records, steps = [], [], []
    ns = config.topics.output_namespace.rstrip("/")
    start, last, wanted = time.perf_counter(), None, inputs.wanted()
    total = sum(count for topic, count in source.counts.items() if topic in wanted)
    pipeline = Pipeline(pipeline_config)
    with BagWriter(work / "bag", storage=config.storage, distro=config.distro) as writer:
        types = MessageTypes.from_typestore(writer.typestore)
        _write_label_info(writer, types, pipeline, ns, config.topics.world_frame)
        for message in _progress(source.messages(wanted), show_progress, total):
            live, held = inputs.feed(message.topic, message.msg)
            heldout += held
            for frame in live:
                if config.max_frames and len(records) >= config.max_frames:
                    break
                last = pipeline.step(frame)
                steps.append(StepRecord.of(len(records), frame, last))
                records.append(last)
                for observer in observers:
                    observer.on_step(frame, last, steps[-1], pipeline)
                for topic, msg in output_messages(types, last, config.topics.world_frame):
                    writer.write(f"{ns}/{topic}", msg, last.stamp_ns)
        pipeline.memory.run_owed()  # background mode: what a node would have run while idle
        renders = _evaluate_heldout(pipeline, heldout, writer, types, ns)
        objects = pipeline.recognise()
        final_stamp = records[-1].stamp_ns if records else 0
        for topic, msg in object_messages(types, objects, final_stamp, config.topics.world_frame):
            writer.write(f"{ns}/final/{topic}", msg, final_stamp)
        pipeline.memory.save(work / "memory.ply")
    write_steps(work / STEPS_FILE, steps)
    damage = source.damage
    lost = 0 if damage is None else damage.lost
    metrics = summarise(
        records,
        renders,
        objects,
        inputs.truth,
        dict(inputs.skipped),
        len(inputs.live.take_dropped()),
        time.perf_counter() - start,
        unreadable=None if lost is None else lost + source.undecodable,
        damage=[] if damage is None else list(damage.problems),
    )
    payload = {
        "metrics": asdict(metrics),
        "config": asdict(config),
        "bag": str(source.path),
        "provenance": provenance(),
    }
    (work / "metrics.json").write_text(json.dumps(payload, indent=2, default=str))
    write_heldout_strips(
        work, renders, metrics.heldout_psnr_per_frame, records[0].stamp_ns if records else None
    )
    report = _write_report(work) if config.report else None
    return ReplayResult(
        metrics, work / "bag", work / "metrics.json", work / "memory.ply", renders, objects, last, report
    )


def _write_report(work: Path) -> Path | None:
    """The report of the partial folder ``work``; a failure only warns, the replay's outputs stand."""
    try:
        return write_report(work, label=str(work.with_name(work.name.rsplit(".partial-", 1)[0])))
    except Exception as error:  # noqa: BLE001 - a figure must never cost the replay it describes
        warnings.warn(
            f"replay: report not written ({error}); 'gs-perception report OUT' retries", stacklevel=2
        )
        return None


def _live_view(config: ViewerConfig, title: str) -> list[StepObserver]:
    """[the live web view] when ``config.enabled`` (it prints its address), else []."""
    if not config.enabled:
        return []
    from ..viewer.live import LiveView

    live = LiveView(config, title=f"{title} (replaying)")
    print(f"replay: live view at {live.url}", file=sys.stderr, flush=True)
    return [live]


def _occupied(out: Path) -> bool:
    """Whether ``out`` holds anything a replay would replace (an empty folder holds nothing)."""
    return out.is_symlink() or (out.exists() and not (out.is_dir() and not any(out.iterdir())))


def _publish(partial: Path, out: Path) -> None:
    """Rename the complete ``partial`` folder to ``out``; an existing ``out`` is removed once that worked."""
    old = partial.with_name(f"{partial.name}.old") if out.exists() or out.is_symlink() else None
    if old is not None:
        os.replace(out, old)
    try:
        os.replace(partial, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:
            old.unlink()


def _write_label_info(
    writer: BagWriter, types: MessageTypes, pipeline: Pipeline, ns: str, frame: str
) -> None:
    if pipeline.recogniser is not None:
        names = list(pipeline.recogniser.bundle.class_names)
        writer.write(f"{ns}/label_info", msgs.label_info_message(types, names, 0, frame, 0.0), 0)


def _evaluate_heldout(
    pipeline: Pipeline, frames: list[Frame], writer: BagWriter, types: MessageTypes, ns: str
):
    """Render the final memory at every held-out pose; write the renders; return (frame, render) pairs."""
    renders = []
    for frame in frames:
        render = pipeline.render_at(frame.T_world_cam, frame.intrinsics).rgb.clamp(0, 1).cpu()
        renders.append((frame, render))
        writer.write(
            f"{ns}/eval/memory_view",
            sensors.rgb_to_image(types, render, frame.stamp_ns, frame.frame_id),
            frame.stamp_ns,
        )
    return renders


def _progress(messages: Iterator[BagMessage], show: bool, total: int) -> Iterable[BagMessage]:
    if not show:
        return messages
    from tqdm import tqdm

    return tqdm(messages, desc="replay", unit="msg", total=total)  # a total gives tqdm its rate and ETA
