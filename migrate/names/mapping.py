"""Map a checkpoint onto the variables another graph expects, and prove it restores there.

Owns `tfckpt map`: loading the TARGET (a `.meta` / MetaGraphDef file, another
checkpoint, or an old `model_fn` built in PREDICT mode), finding which source
variable fills each target key (exact name, then the rename presets, then a unique
shape match within similar scopes), writing the mapped checkpoint (streamed, verified
bit for bit) and restoring it into the target graph with a Saver before it appears.

A target's keys are what a default Saver on its graph saves: every global variable
under its own name, the parts of a partitioned variable under their full name.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from inspectors.sources import paths
from inspectors.formats.checkpoint import VariableInfo, kind_of, open_reader
from inspectors.errors import EXIT_DIFFERENT, MappingConflict, UnsupportedSource, VerificationFailed
from inspectors.progress import Progress, tracked
from inspectors.tf_loader import tensorflow

EXACT, SHAPE = "exact", "shape"
# Presets tried in this order when none are named; strip-optimizer only drops names.
DEFAULT_PRESETS = ("contrib-learn-to-estimator", "rnn-1.0-to-1.2", "layers-weights-to-kernel",
                   "merge-partitions", "tf1-slots-to-keras")
SCOPE_SIMILARITY = 0.5


class UnmappedTargets(MappingConflict):
    """Target variables no source variable maps to (exit 1: the mapping is incomplete)."""

    exit_code = EXIT_DIFFERENT


@dataclass(frozen=True)
class TargetVariable:
    key: str
    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict:
        return {"key": self.key, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Target:
    """What the checkpoint is mapped onto, and how to rebuild its graph for the proof."""

    given: str
    kind: str  # "graph" | "checkpoint" | "model-fn"
    variables: tuple[TargetVariable, ...]
    build: Callable[[], Any] = dataclasses.field(repr=False, compare=False)  # in a fresh graph


@dataclass(frozen=True)
class Assignment:
    target: str
    source: str  # the source variable(s), comma-joined only for display of folds and merges
    how: str  # exact | preset NAME | shape
    dtype: str
    shape: tuple[int, ...]
    entry: Any = dataclasses.field(default=None, repr=False, compare=False)  # rename PlanEntry

    def to_dict(self) -> dict:
        sources = list(self.entry.sources) if self.entry is not None else [self.source]
        return {"target": self.target, "source": self.source, "sources": sources,
                "how": self.how, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class MapPlan:
    source: str
    target: str
    target_kind: str
    assignments: tuple[Assignment, ...]
    unmatched_targets: tuple[TargetVariable, ...]  # the target expects them, no source fills them
    unused_sources: tuple[str, ...]  # source variables the target does not take
    presets: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for assignment in self.assignments:
            how = assignment.how.split()[0]
            counts[how] = counts.get(how, 0) + 1
        return counts

    def to_dict(self) -> dict:
        return {"source": self.source, "target": self.target, "target_kind": self.target_kind,
                "assignments": [a.to_dict() for a in self.assignments],
                "unmatched_targets": [t.to_dict() for t in self.unmatched_targets],
                "unused_sources": list(self.unused_sources), "presets": list(self.presets),
                "counts": self.counts(), "notes": list(self.notes)}


@dataclass(frozen=True)
class MapResult:
    plan: MapPlan
    output: str
    checkpoint: str
    written: int
    nbytes: int
    restored: int  # target keys a Saver on the target graph restored from the output
    missing_in_restore: int

    def to_dict(self) -> dict:
        return {"plan": self.plan.to_dict(), "output": self.output, "checkpoint": self.checkpoint,
                "written": self.written, "nbytes": self.nbytes,
                "proof": {"restored": self.restored, "missing": self.missing_in_restore}}


# ---------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------

def load_target(given: str, *, features=None, params: dict | None = None) -> Target:
    """A `.meta`/graph file, a `module:function` model_fn, or another checkpoint."""
    if _is_model_fn_spec(given):
        return _model_fn_target(given, features=features, params=params)
    path = os.path.expanduser(given)
    if path.endswith((".meta", ".pb", ".pbtxt")) and os.path.isfile(path):
        return _graph_target(given, path)
    return _checkpoint_target(given)


def _is_model_fn_spec(given: str) -> bool:
    module, sep, function = given.rpartition(":")
    return bool(sep and module and function) and not os.path.exists(given) and "/" not in function


def _graph_target(given: str, path: str) -> Target:
    from inspectors.graphs import io as graph_io

    loaded = graph_io.load(path)
    meta = loaded.units[0].meta if loaded.units else None
    if meta is None:
        raise UnsupportedSource(f"target {given} is a GraphDef without variables or Saver "
                                f"(a frozen or inference graph). Pass the training .meta file")

    def build() -> None:
        from migrate.rebuild import metagraph

        tf = tensorflow()
        copy = type(meta)()
        copy.CopyFrom(meta)
        metagraph.mend_versions(copy)
        try:
            return tf.compat.v1.train.import_meta_graph(copy, clear_devices=True)
        except (ValueError, TypeError, KeyError, tf.errors.OpError) as error:
            raise UnsupportedSource(f"TensorFlow cannot import the target graph {given}: "
                                    f"{_first_line(error)}") from error

    return Target(given=given, kind="graph", variables=_variables_of(build), build=build)


def _model_fn_target(given: str, *, features, params: dict | None) -> Target:
    from migrate.rebuild import model_fn as estimator_compat

    if not features:
        raise UnsupportedSource(f"target {given} is a model_fn: pass its inputs with --features "
                                f"(e.g. '{{\"x\": {{\"dtype\": \"float32\", \"shape\": [3]}}}}')")
    model_fn = estimator_compat.load_model_fn(given)

    def build() -> None:
        estimator_compat.build_predict_graph(model_fn, features=features, params=params)

    return Target(given=given, kind="model-fn", variables=_variables_of(build), build=build)


def _checkpoint_target(given: str) -> Target:
    source = paths.resolve(given)
    infos = [i for i in open_reader(source).variables()]
    variables = tuple(TargetVariable(i.name, i.dtype, i.shape) for i in infos)

    def build() -> None:
        tf = tensorflow()
        for variable in variables:  # a graph whose default Saver expects exactly those keys
            tf.compat.v1.get_variable(variable.key, shape=variable.shape,
                                      dtype=tf.as_dtype(variable.dtype),
                                      initializer=tf.compat.v1.zeros_initializer(),
                                      use_resource=False)

    return Target(given=given, kind="checkpoint", variables=variables, build=build)


def _variables_of(build: Callable[[], Any]) -> tuple[TargetVariable, ...]:
    tf = tensorflow()
    with tf.Graph().as_default():
        build()
        return tuple(sorted((TargetVariable(key, parts[0].dtype.base_dtype.name, _full_shape(parts))
                             for key, parts in graph_keys(tf).items()), key=lambda v: v.key))


def graph_keys(tf) -> dict[str, list]:
    """Saver key -> the graph variables saved under it (partitions share their full name)."""
    keys: dict[str, list] = {}
    for variable in tf.compat.v1.global_variables():
        info = getattr(variable, "_save_slice_info", None)
        keys.setdefault(info.full_name if info else variable.op.name, []).append(variable)
    return keys


def _full_shape(parts: list) -> tuple[int, ...]:
    info = getattr(parts[0], "_save_slice_info", None)
    if info is not None:
        return tuple(int(d) for d in info.full_shape)
    return tuple(int(d) if d is not None else -1 for d in parts[0].shape.as_list())


# ---------------------------------------------------------------------------------------
# Assignment
# ---------------------------------------------------------------------------------------

def plan_map(src: str, target: Target, *, presets: Sequence[str] | None = None) -> MapPlan:
    """Which source variable fills each target key: exact, presets, unique shape match."""
    source = paths.resolve(src)
    reader = open_reader(source)
    infos = {info.name: info for info in reader.variables()}
    wanted = {v.key: v for v in target.variables}
    chosen = tuple(DEFAULT_PRESETS if presets is None else presets)
    assignments: dict[str, Assignment] = {}
    used: set[str] = set()
    notes: list[str] = list(source.notes)
    for key, variable in wanted.items():
        info = infos.get(key)
        if info is not None and _fits(info.dtype, info.shape, variable):
            assignments[key] = Assignment(key, key, EXACT, info.dtype, info.shape)
            used.add(key)
    for name in chosen:
        _by_preset(name, reader, wanted, assignments, used, notes)
    _by_shape(infos, wanted, assignments, used)
    unmatched = tuple(v for k, v in sorted(wanted.items()) if k not in assignments)
    unused = tuple(sorted(set(infos) - used))
    return MapPlan(source=src, target=target.given, target_kind=target.kind,
                   assignments=tuple(assignments[k] for k in sorted(assignments)),
                   unmatched_targets=unmatched, unused_sources=unused, presets=chosen,
                   notes=tuple(notes))


def _fits(dtype: str, shape: tuple[int, ...], variable: TargetVariable) -> bool:
    return dtype == variable.dtype and len(shape) == len(variable.shape) and all(
        t in (-1, s) for s, t in zip(shape, variable.shape))


def _by_preset(name: str, reader, wanted: dict, assignments: dict, used: set, notes: list) -> None:
    from migrate.names import plan, presets

    try:
        plan = plan.plan_for_reader(reader, [presets.get(name).step()])
    except MappingConflict as error:
        if name not in DEFAULT_PRESETS:
            raise
        notes.append(f"preset {name} not used: {error}")
        return
    for entry in plan.written:
        variable = wanted.get(entry.new)
        if variable is None or entry.new in assignments or used.intersection(entry.sources):
            continue
        dtype = entry.new_dtype or entry.dtype
        shape = entry.new_shape or entry.shape
        if not _fits(dtype, shape, variable):
            continue
        assignments[entry.new] = Assignment(entry.new, ", ".join(entry.sources),
                                            f"preset {name}", dtype, tuple(shape), entry=entry)
        used.update(entry.sources)


def _by_shape(infos: dict[str, VariableInfo], wanted: dict, assignments: dict, used: set) -> None:
    """Pair leftovers whose dtype, shape and kind agree and whose scopes look alike, when
    the pairing is unique both ways; repeat, as each pairing can make another unique."""
    while True:
        targets = [v for k, v in sorted(wanted.items()) if k not in assignments]
        sources = [i for n, i in sorted(infos.items()) if n not in used]
        candidates = {t.key: [s.name for s in sources if _alike(s, t)] for t in targets}
        takers: dict[str, list[str]] = {}
        for key, names in candidates.items():
            for name in names:
                takers.setdefault(name, []).append(key)
        pairs = [(key, names[0]) for key, names in candidates.items()
                 if len(names) == 1 and len(takers[names[0]]) == 1]
        if not pairs:
            return
        for key, name in pairs:
            info = infos[name]
            assignments[key] = Assignment(key, name, SHAPE, info.dtype, info.shape)
            used.add(name)


def _alike(info: VariableInfo, target: TargetVariable) -> bool:
    if not _fits(info.dtype, info.shape, target) or info.kind != kind_of(target.key):
        return False
    a, b = _scope(info.name), _scope(target.key)
    return a == b or difflib.SequenceMatcher(None, a, b).ratio() >= SCOPE_SIMILARITY


def _scope(name: str) -> str:
    return name.rpartition("/")[0]


def refuse_unmatched(plan: MapPlan) -> None:
    if not plan.unmatched_targets:
        return
    names = list(plan.unused_sources)
    shown = []
    for variable in plan.unmatched_targets[:5]:
        close = difflib.get_close_matches(variable.key, names, n=1, cutoff=0.5)
        shown.append(f"{variable.key} (closest unused source: {close[0]})" if close else variable.key)
    more = f" and {len(plan.unmatched_targets) - 5} more" if len(plan.unmatched_targets) > 5 else ""
    raise UnmappedTargets(
        f"{len(plan.unmatched_targets)} variable(s) of the target {plan.target} have no source "
        f"in {plan.source}: {', '.join(shown)}{more}. Pass --allow-missing to leave them to "
        f"their initializers, or --preset / a rename first")


# ---------------------------------------------------------------------------------------
# Writing and the proof
# ---------------------------------------------------------------------------------------

def write_map(plan: MapPlan, target: Target, output: str, *, force: bool = False,
              progress: Progress = None) -> MapResult:
    """Write the mapped checkpoint into the directory `output`, proven to restore into TARGET."""
    from migrate.write.staged import Staged, check_output, fsync_tree
    from migrate.write.rewrite import (output_basename, verify_against, write_bundle, write_state_file)

    source = paths.resolve(plan.source)
    inputs = [p for p in (source.given, source.path, source.model_dir) if p]
    if target.kind != "model-fn":
        inputs.append(target.given)
    check_output(output, inputs, force=force)
    reader = open_reader(source)
    basename = output_basename(source)
    with Staged(output, force=force, is_dir=True) as staged:
        prefix = os.path.join(staged.path, basename)
        entries = write_bundle(prefix, tracked(_values(plan, reader), len(plan.assignments), progress))
        verify_against(prefix, _values(plan, reader))
        restored = prove(target, prefix, [a.target for a in plan.assignments])
        write_state_file(staged.path, basename)
        fsync_tree(staged.path)
        staged.commit()
    nbytes = sum(entry.size for entry in entries.values())
    return MapResult(plan=plan, output=os.path.abspath(output),
                     checkpoint=os.path.join(os.path.abspath(output), basename),
                     written=len(entries), nbytes=nbytes, restored=restored,
                     missing_in_restore=0)


def _values(plan: MapPlan, reader):
    from migrate.write.rewrite import materialize

    for assignment in plan.assignments:
        if assignment.entry is not None:
            yield assignment.target, materialize(assignment.entry, reader)
        else:
            yield assignment.target, np.asarray(reader.read(assignment.source))


def prove(target: Target, prefix: str, keys: Sequence[str]) -> int:
    """Restore `prefix` into a fresh build of the target graph with a Saver over `keys`
    (and, when every key is there, with the .meta graph's own Saver as well)."""
    tf = tensorflow()
    graph = tf.Graph()
    with graph.as_default():
        own_saver = target.build()  # a .meta graph's own Saver, if it has one
        found = graph_keys(tf)
        absent = sorted(set(keys) - set(found))
        if absent:
            raise VerificationFailed(f"the rebuilt target graph lacks {absent[0]!r}; nothing was kept")
        var_list = {key: _saveable(found[key]) for key in keys}
        saver = tf.compat.v1.train.Saver(var_list=var_list)
        with tf.compat.v1.Session(graph=graph) as session:
            try:
                saver.restore(session, prefix)
                if own_saver is not None and len(keys) == len(found):
                    own_saver.restore(session, prefix)  # what the graph's owner would run
            except (tf.errors.OpError, ValueError) as error:
                raise VerificationFailed(f"the mapped checkpoint does not restore into "
                                         f"{target.given}: {_first_line(error)}; nothing was "
                                         f"kept") from error
    return len(var_list)


def _saveable(variables: list) -> Any:
    if len(variables) == 1 and getattr(variables[0], "_save_slice_info", None) is None:
        return variables[0]
    return variables


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__

