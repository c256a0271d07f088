"""`tfckpt dir`: everything a model dir holds, and what the Estimator behind it was.

Owns the survey of one directory: the retained checkpoints and the `checkpoint`
state file's problems, graph files, events files (train and `eval*/`), exported
SavedModels and their signatures. What kind of Estimator wrote the checkpoints
is worked out by `inspectors.estimator`; this module hands it the variables of
the latest checkpoint and the graph it parsed. Nothing here runs a graph: graphs
are parsed as protos, events are read with TensorFlow's own record reader.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import glob
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable

from inspectors.sources import paths
from inspectors.errors import CorruptCheckpoint, SourceNotFound, TfckptError, UnsupportedSource

EVENTS_PREFIX = "events.out.tfevents."
GRAPH_TEXT = "graph.pbtxt"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
EXPORT_SEARCH_DEPTH = 4  # model_dir/export/<exporter>/<timestamp>/saved_model.pb
HINT = "Pass the model_dir an Estimator or a tf.train.Saver wrote into"

# Problem kinds of the state file (stable: scripts match on them).
FOREIGN_PATH = "foreign-path"
MISSING = "missing"
NOT_LISTED = "not-listed"
NO_STATE_FILE = "no-state-file"
NO_LATEST = "no-latest"
UNREADABLE = "unreadable"
DAMAGED_EVENTS = "damaged-events"


@dataclass(frozen=True)
class Checkpoint:
    """One retained checkpoint; paths are relative to the model dir."""

    prefix: str
    format: str
    step: int | None
    files: tuple[str, ...]
    size: int
    time: str | None  # ISO 8601 UTC, newest modification time of its files
    in_state_file: bool
    latest: bool

    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        record["files"] = list(self.files)
        return record


@dataclass(frozen=True)
class Problem:
    """Something wrong with the model dir that TensorFlow would trip over."""

    kind: str
    entry: str
    message: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GraphFile:
    path: str
    kind: str  # "GraphDef (text)" | "MetaGraphDef"
    size: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GraphRead:
    """The one graph that was parsed for recognition, and what its header says."""

    path: str
    nodes: int
    producer: int | None
    tensorflow_version: str | None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EventsFile:
    path: str
    events: int
    steps: int  # distinct steps seen (every event but the file_version header)
    first_step: int | None
    last_step: int | None
    first_time: str | None
    last_time: str | None
    scalar_tags: tuple[str, ...]
    problem: str | None = None

    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        record["scalar_tags"] = list(self.scalar_tags)
        return record


@dataclass(frozen=True)
class EvalDir:
    """An `eval*/` dir: its events files and the metrics at the last step evaluated."""

    path: str
    events: tuple[EventsFile, ...]
    last_step: int | None
    metrics: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict:
        return {"path": self.path, "events": [e.to_dict() for e in self.events],
                "last_step": self.last_step, "metrics": dict(self.metrics)}


@dataclass(frozen=True)
class TensorSpec:
    name: str  # the signature's key for it
    tensor: str  # graph tensor name (or "" for composite tensors)
    dtype: str
    shape: tuple[int | None, ...] | None  # None: unknown rank; None dims: unknown size

    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        record["shape"] = None if self.shape is None else list(self.shape)
        return record


@dataclass(frozen=True)
class Signature:
    key: str
    method: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def to_dict(self) -> dict:
        return {"key": self.key, "method": self.method,
                "inputs": [t.to_dict() for t in self.inputs],
                "outputs": [t.to_dict() for t in self.outputs]}


@dataclass(frozen=True)
class Export:
    """An exported SavedModel found under the model dir."""

    path: str
    tags: tuple[tuple[str, ...], ...]
    signatures: tuple[Signature, ...]
    problem: str | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "tags": [list(t) for t in self.tags],
                "signatures": [s.to_dict() for s in self.signatures],
                "problem": self.problem}


@dataclass(frozen=True)
class StateFile:
    """The `checkpoint` state file as written (paths untouched)."""

    present: bool
    latest: str | None
    entries: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"present": self.present, "latest": self.latest, "entries": list(self.entries)}


@dataclass(frozen=True)
class ModelDir:
    path: str
    checkpoints: tuple[Checkpoint, ...]
    latest: str | None
    state_file: StateFile
    problems: tuple[Problem, ...]
    graphs: tuple[GraphFile, ...]
    graph_read: GraphRead | None
    events: tuple[EventsFile, ...]
    eval_dirs: tuple[EvalDir, ...]
    exports: tuple[Export, ...]
    estimator: Any  # inspectors.estimator.Estimator | None

    def to_dict(self) -> dict:
        return {
            "model_dir": self.path,
            "checkpoints": [c.to_dict() for c in self.checkpoints],
            "latest": self.latest,
            "state_file": self.state_file.to_dict(),
            "problems": [p.to_dict() for p in self.problems],
            "graphs": [g.to_dict() for g in self.graphs],
            "graph_read": self.graph_read.to_dict() if self.graph_read else None,
            "events": [e.to_dict() for e in self.events],
            "eval_dirs": [e.to_dict() for e in self.eval_dirs],
            "exports": [e.to_dict() for e in self.exports],
            "estimator": self.estimator.to_dict() if self.estimator else None,
        }


# ---------------------------------------------------------------------------------------
# The survey
# ---------------------------------------------------------------------------------------

def inspect_dir(given: str) -> ModelDir:
    """Survey the model dir `given`; raise SourceNotFound / UnsupportedSource for bad input."""
    directory = _check_dir(given)
    found = paths.scan_dir(directory)
    state = _read_state(directory)
    events_names = _events_in(directory)
    if not found and not events_names and not state.present:
        raise SourceNotFound(f"no checkpoint and no events file in {given} (it holds: "
                             f"{_describe(directory)}). {HINT}")
    latest, listed, problems = _state_problems(directory, found, state)
    checkpoints = tuple(_checkpoint(directory, f, listed, latest) for f in found)
    graphs = _graph_files(directory)
    graph_read, graph_def, graph_problem = _read_graph(directory, latest, graphs)
    estimator, read_problem = _recognize(directory, latest, graph_def)
    events = tuple(read_events(directory, name) for name in events_names)
    eval_dirs, exports = _eval_dirs(directory), _exports(directory)
    extra = tuple(p for p in (graph_problem, read_problem) if p)
    return ModelDir(
        path=os.path.abspath(directory), checkpoints=_with_steps(directory, checkpoints),
        latest=_relative(directory, latest.path) if latest else None, state_file=state,
        problems=problems + extra + _file_problems(events, eval_dirs, exports), graphs=graphs,
        graph_read=graph_read, events=events, eval_dirs=eval_dirs, exports=exports,
        estimator=estimator)


def _file_problems(events: tuple[EventsFile, ...], eval_dirs: tuple[EvalDir, ...],
                   exports: tuple[Export, ...]) -> tuple[Problem, ...]:
    """Damaged events files and unreadable exports, gathered with the other problems."""
    every = list(events) + [e for d in eval_dirs for e in d.events]
    found = [Problem(DAMAGED_EVENTS, e.path, f"{e.path}: {e.problem}") for e in every if e.problem]
    found += [Problem(UNREADABLE, x.path, x.problem) for x in exports if x.problem]
    return tuple(found)


def _check_dir(given: str) -> str:
    directory = os.path.expanduser(given)
    if os.path.isdir(directory):
        return directory
    if os.path.exists(directory):
        raise UnsupportedSource(f"{given} is a file, not a model dir (found "
                                f"{paths.sniff(directory)}). {HINT}; for one checkpoint use "
                                f"`tfckpt ls {given}`")
    raise SourceNotFound(f"no such directory: {given}.{_suggest(directory)} {HINT}")


def _describe(directory: str) -> str:
    names = sorted(os.listdir(directory))
    if any(n in SAVED_MODEL_FILES for n in names):
        return "a SavedModel; inspect it with `tfckpt ls` or `tfckpt graph`"
    keras = [n for n in names if n.endswith((".h5", ".hdf5"))]
    if keras:
        return (f"Keras file {keras[0]}; inspect it with "
                f"`tfckpt ls {os.path.join(directory, keras[0])}`")
    shown = ", ".join(names[:5]) or "nothing"
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _suggest(path: str) -> str:
    parent = os.path.dirname(path.rstrip(os.sep)) or "."
    if not os.path.isdir(parent):
        return ""
    dirs = [n for n in os.listdir(parent) if os.path.isdir(os.path.join(parent, n))]
    close = difflib.get_close_matches(os.path.basename(path.rstrip(os.sep)), dirs, n=3)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def _relative(directory: str, path: str) -> str:
    return os.path.relpath(path, directory)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------
# Checkpoints and the state file
# ---------------------------------------------------------------------------------------

def _read_state(directory: str) -> StateFile:
    if not os.path.isfile(os.path.join(directory, paths.STATE_FILE)):
        return StateFile(present=False, latest=None, entries=())
    latest, entries = paths.read_state_file(directory)
    return StateFile(present=True, latest=latest, entries=tuple(entries))


def _key(path: str) -> str:
    return os.path.realpath(path)


def _state_problems(directory: str, found: list[paths.Found], state: StateFile
                    ) -> tuple[paths.Found | None, set[str], tuple[Problem, ...]]:
    """(latest, keys of the checkpoints the state file lists, problems).

    Latest is what TensorFlow would restore, or the newest checkpoint on disk when
    the state file names nothing that is there (what `tfckpt ls DIR` opens too).
    """
    if not state.present:
        problems = ((Problem(NO_STATE_FILE, paths.STATE_FILE,
                             "no `checkpoint` state file: tf.train.latest_checkpoint() finds "
                             "nothing here; the newest checkpoint on disk is shown as latest"),)
                    if found else ())
        return (found[-1] if found else None), set(), problems
    problems, listed, latest = [], set(), None
    for entry in _unique(([state.latest] if state.latest else []) + list(state.entries)):
        hit, problem = _check_entry(directory, entry, is_latest=entry == state.latest)
        if hit:
            listed.add(_key(hit.path))
            latest = hit if entry == state.latest else latest
        problems += [problem] if problem else []
    if state.latest is None:
        problems.append(Problem(NO_LATEST, paths.STATE_FILE,
                                "the state file names no model_checkpoint_path"))
    for item in found:
        if _key(item.path) not in listed:
            name = _relative(directory, item.path)
            problems.append(Problem(NOT_LISTED, name, f"{name} is on disk but not in the state "
                                    f"file: TensorFlow's checkpoint management ignores it"))
    if latest is None and found:
        latest = found[-1]
    return latest, listed, tuple(problems)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _check_entry(directory: str, entry: str, *,
                 is_latest: bool) -> tuple[paths.Found | None, Problem | None]:
    found, _ = paths.locate_state_entry(directory, entry)
    which = "the latest checkpoint " if is_latest else ""
    foreign = os.path.isabs(entry) and _key(os.path.dirname(entry)) != _key(directory)
    if found and foreign:
        here = _relative(directory, found.path)
        return found, Problem(FOREIGN_PATH, entry,
                              f"{which}{entry} is an absolute path from another place; {here} is "
                              f"here beside the state file. Rewrite the entry as {here!r}")
    if found:
        return found, None
    if foreign:
        return None, Problem(FOREIGN_PATH, entry,
                             f"{which}{entry} is an absolute path from another place, and no "
                             f"{os.path.basename(entry)} is here either")
    return None, Problem(MISSING, entry, f"{which}{entry} is named by the state file but its "
                         f"files are gone")


def _checkpoint(directory: str, found: paths.Found, listed: set[str],
                latest: paths.Found | None) -> Checkpoint:
    files = checkpoint_files(found)
    stats = [os.stat(f) for f in files]
    return Checkpoint(
        prefix=_relative(directory, found.path), format=found.format, step=found.step,
        files=tuple(_relative(directory, f) for f in files),
        size=sum(s.st_size for s in stats),
        time=_iso(max((s.st_mtime for s in stats), default=None)),
        in_state_file=_key(found.path) in listed,
        latest=latest is not None and _key(latest.path) == _key(found.path))


def checkpoint_files(found: paths.Found) -> list[str]:
    """Every file that belongs to one checkpoint, its `.meta` graph included."""
    if found.format == "V2":
        files = [found.path + ".index"] + glob.glob(glob.escape(found.path) + ".data-*-of-*")
        meta = found.path + ".meta"
    elif "?????" in found.path:
        base, _, tail = found.path.rpartition("-?????-of-")
        files = glob.glob(glob.escape(base) + "-[0-9][0-9][0-9][0-9][0-9]-of-" + tail)
        meta = base + ".meta"
    else:
        files, meta = [found.path], found.path + ".meta"
    files += [meta] if os.path.isfile(meta) else []
    return sorted(f for f in files if os.path.isfile(f))


def _with_steps(directory: str, checkpoints: tuple[Checkpoint, ...]) -> tuple[Checkpoint, ...]:
    """Fill in the step of checkpoints whose name has none, from their `global_step`."""
    return tuple(c if c.step is not None
                 else dataclasses.replace(c, step=_global_step(directory, c))
                 for c in checkpoints)


def _global_step(directory: str, checkpoint: Checkpoint) -> int | None:
    from inspectors.formats.checkpoint import open_reader

    source = _source(directory, checkpoint.prefix, checkpoint.format, None)
    try:
        reader = open_reader(source)
        names = {v.name for v in reader.variables()}
        if "global_step" not in names:
            return None
        return int(reader.read("global_step").reshape(-1)[0])
    except (TfckptError, ValueError, TypeError):
        return None


def _source(directory: str, prefix: str, format_: str, step: int | None) -> paths.Source:
    path = os.path.join(directory, prefix)
    return paths.Source(given=path, format=format_, path=path, step=step, model_dir=directory)


# ---------------------------------------------------------------------------------------
# Graphs and recognition
# ---------------------------------------------------------------------------------------

def _graph_files(directory: str) -> tuple[GraphFile, ...]:
    graphs = []
    for name in sorted(os.listdir(directory)):
        full = os.path.join(directory, name)
        if not os.path.isfile(full):
            continue
        if name == GRAPH_TEXT:
            graphs.append(GraphFile(name, "GraphDef (text)", os.path.getsize(full)))
        elif name.endswith(".meta"):
            graphs.append(GraphFile(name, "MetaGraphDef", os.path.getsize(full)))
    return tuple(graphs)


def _graph_to_read(directory: str, latest: paths.Found | None,
                   graphs: tuple[GraphFile, ...]) -> str | None:
    """The latest checkpoint's `.meta` (binary, fast), else graph.pbtxt, else any `.meta`."""
    names = [g.path for g in graphs]
    if latest is not None:
        meta = os.path.basename(paths.V1_SHARD_RE.sub(r"\g<prefix>", latest.path)) + ".meta"
        if meta in names:
            return meta
    if GRAPH_TEXT in names:
        return GRAPH_TEXT
    metas = [n for n in names if n.endswith(".meta")]
    return metas[-1] if metas else None


def _read_graph(directory: str, latest: paths.Found | None, graphs: tuple[GraphFile, ...]):
    """(GraphRead, GraphDef, Problem): the parsed graph for recognition, or why there is none."""
    name = _graph_to_read(directory, latest, graphs)
    if name is None:
        return None, None, None
    try:
        graph_def, version = load_graph(os.path.join(directory, name))
    except CorruptCheckpoint as error:
        return None, None, Problem(UNREADABLE, name, str(error))
    producer = graph_def.versions.producer if graph_def.HasField("versions") else None
    read = GraphRead(path=name, nodes=len(graph_def.node), producer=producer,
                     tensorflow_version=version or None)
    return read, graph_def, None


def load_graph(path: str):
    """(GraphDef, tensorflow_version) from a text GraphDef or a binary MetaGraphDef."""
    from inspectors import tf_loader

    tf_loader.tensorflow()
    from google.protobuf import message, text_format
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    try:
        if path.endswith(".meta"):
            meta = meta_graph_pb2.MetaGraphDef()
            with open(path, "rb") as handle:
                meta.ParseFromString(handle.read())
            return meta.graph_def, meta.meta_info_def.tensorflow_version
        graph_def = graph_pb2.GraphDef()
        with open(path, encoding="utf-8") as handle:
            text_format.Parse(handle.read(), graph_def, allow_unknown_field=True)
        return graph_def, ""
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError) as error:
        raise CorruptCheckpoint(f"cannot parse the graph {os.path.basename(path)}: "
                                f"{str(error).splitlines()[0] if str(error) else error}") from error


def _recognize(directory: str, latest: paths.Found | None, graph_def):
    """(Estimator or None, Problem or None) from the latest checkpoint's variables."""
    from inspectors import estimator
    from inspectors.formats.checkpoint import open_reader

    if latest is None:
        return None, None
    prefix = _relative(directory, latest.path)
    try:
        variables = open_reader(_source(directory, prefix, latest.format, latest.step)).variables()
    except TfckptError as error:
        return None, Problem(UNREADABLE, prefix, str(error))
    return estimator.recognize(variables, graph_def), None


# ---------------------------------------------------------------------------------------
# Events, eval dirs, exports
# ---------------------------------------------------------------------------------------

def _events_in(directory: str) -> list[str]:
    return sorted(n for n in os.listdir(directory)
                  if n.startswith(EVENTS_PREFIX) and os.path.isfile(os.path.join(directory, n)))


def read_events(directory: str, name: str) -> EventsFile:
    """Count events, steps and scalar tags; a damaged file is reported, not fatal."""
    summary = _EventsSummary()
    problem = summary.read(os.path.join(directory, name))
    return summary.record(name, problem)


class _EventsSummary:
    """Accumulates what one events file says while TensorFlow's reader walks it."""

    def __init__(self) -> None:
        self.count, self.steps, self.times = 0, set(), []
        self.scalars: dict[str, tuple[int, float]] = {}  # tag -> (step, value) newest

    def read(self, path: str) -> str | None:
        from inspectors import tf_loader

        tf = tf_loader.tensorflow()
        try:
            for event in tf.compat.v1.train.summary_iterator(path):
                self.add(event, tf)
        except tf.errors.OpError as error:
            text = (error.message or str(error)).strip()
            where = re.search(r"(truncated|corrupted) record at (\d+)", text)
            what = f"{where[1]} record at byte {where[2]}" if where else text.splitlines()[0]
            return f"damaged after {self.count} events: {what}"
        return None

    def add(self, event, tf) -> None:
        self.count += 1
        self.times.append(event.wall_time)
        if event.HasField("file_version"):
            return  # the header record: step 0 whatever the run's step
        self.steps.add(event.step)
        for value in event.summary.value:
            scalar = _scalar(value, tf)
            if scalar is not None and event.step >= self.scalars.get(value.tag, (-1, 0.0))[0]:
                self.scalars[value.tag] = (event.step, scalar)

    def record(self, path: str, problem: str | None) -> EventsFile:
        return EventsFile(
            path=path, events=self.count, steps=len(self.steps),
            first_step=min(self.steps, default=None), last_step=max(self.steps, default=None),
            first_time=_iso(min(self.times)) if self.times else None,
            last_time=_iso(max(self.times)) if self.times else None,
            scalar_tags=tuple(sorted(self.scalars)), problem=problem)


def _scalar(value, tf) -> float | None:
    """A scalar summary value: TF1 `simple_value`, or a TF2 scalar tensor."""
    if value.WhichOneof("value") == "simple_value":
        return float(value.simple_value)
    plugin = value.metadata.plugin_data.plugin_name
    if value.WhichOneof("value") == "tensor" and plugin == "scalars":
        try:
            return float(tf.make_ndarray(value.tensor).reshape(-1)[0])
        except (ValueError, TypeError, IndexError):
            return None
    return None


def _eval_dirs(directory: str) -> tuple[EvalDir, ...]:
    dirs = []
    for name in sorted(os.listdir(directory)):
        full = os.path.join(directory, name)
        if name.startswith("eval") and os.path.isdir(full):
            dirs.append(_eval_dir(directory, name))
    return tuple(dirs)


def _eval_dir(directory: str, name: str) -> EvalDir:
    full = os.path.join(directory, name)
    summaries, files = [], []
    for events_name in _events_in(full):
        summary = _EventsSummary()
        problem = summary.read(os.path.join(full, events_name))
        summaries.append(summary)
        files.append(summary.record(f"{name}/{events_name}", problem))
    merged: dict[str, tuple[int, float]] = {}
    for summary in summaries:
        for tag, (step, value) in summary.scalars.items():
            if step >= merged.get(tag, (-1, 0.0))[0]:
                merged[tag] = (step, value)
    last = max((step for step, _ in merged.values()), default=None)
    metrics = tuple(sorted((tag, value) for tag, (step, value) in merged.items() if step == last))
    return EvalDir(path=name, events=tuple(files), last_step=last, metrics=metrics)


def _exports(directory: str) -> tuple[Export, ...]:
    exports = []
    base_depth = directory.rstrip(os.sep).count(os.sep)
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("eval") and d != "variables")
        if root.count(os.sep) - base_depth >= EXPORT_SEARCH_DEPTH:
            dirs[:] = []
        if root != directory and any(n in SAVED_MODEL_FILES for n in names):
            exports.append(read_export(directory, root))
            dirs[:] = []
    return tuple(exports)


def read_export(directory: str, root: str) -> Export:
    """The tags and signatures of the SavedModel in `root`; a bad file is reported."""
    relative = _relative(directory, root)
    try:
        saved_model = _load_saved_model(root)
    except CorruptCheckpoint as error:
        return Export(path=relative, tags=(), signatures=(), problem=str(error))
    tags, signatures = [], {}
    for meta_graph in saved_model.meta_graphs:
        tags.append(tuple(sorted(meta_graph.meta_info_def.tags)))
        for key, signature in meta_graph.signature_def.items():
            signatures.setdefault(key, _signature(key, signature))
    return Export(path=relative, tags=tuple(tags),
                  signatures=tuple(signatures[k] for k in sorted(signatures)))


def _load_saved_model(root: str):
    from inspectors import tf_loader

    tf_loader.tensorflow()
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    binary = os.path.join(root, "saved_model.pb")
    try:
        if os.path.isfile(binary):
            with open(binary, "rb") as handle:
                saved_model.ParseFromString(handle.read())
        else:
            with open(os.path.join(root, "saved_model.pbtxt"), encoding="utf-8") as handle:
                text_format.Parse(handle.read(), saved_model, allow_unknown_field=True)
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError) as error:
        raise CorruptCheckpoint(f"cannot parse the SavedModel in {root}: {error}") from error
    return saved_model


def _signature(key: str, signature) -> Signature:
    return Signature(
        key=key, method=signature.method_name,
        inputs=tuple(_tensor_spec(k, signature.inputs[k]) for k in sorted(signature.inputs)),
        outputs=tuple(_tensor_spec(k, signature.outputs[k]) for k in sorted(signature.outputs)))


def _tensor_spec(key: str, info) -> TensorSpec:
    from inspectors import tf_loader

    tf = tf_loader.tensorflow()
    try:
        dtype = tf.dtypes.as_dtype(info.dtype).name
    except TypeError:
        dtype = str(info.dtype)
    shape = info.tensor_shape
    dims = None if shape.unknown_rank else tuple(d.size if d.size >= 0 else None
                                                   for d in shape.dim)
    return TensorSpec(name=key, tensor=info.name, dtype=dtype, shape=dims)
