"""The independent reference for the real-world cases in ../shared/real-world/.

Owns: reading `tests/real_world_cases.json`, generating reproducible inputs for a case, and
running each case's ORIGINAL artifact as its author left it, with plain TensorFlow: the
training `.meta` imported with only its input tensors replaced by placeholders and restored by
its own Saver, the author's SavedModel loaded with the TF1 loader, or the frozen GraphDef
imported as it is. Conversion tests compare what tfckpt writes against what this returns.

It imports no tfckpt code (`inspectors`, `migrate`) on purpose, and only TensorFlow, numpy and
the standard library: a reference that shared tfckpt's readers or graph surgery would share
its bugs. What it does to an artifact before running it is written in the data file
(`mends`, `drop_collections`, `feeds`, `bypass`), each with the reason, so a reader can check
that nothing but the input, dropout and what TensorFlow 2.21 refuses was touched.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
CASES_FILE = HERE / "real_world_cases.json"
REPO = HERE.parent

Case = dict[str, Any]
Spec = dict[str, Any]


class OracleError(RuntimeError):
    """The data file and the artifact disagree (a wrong tensor name, dtype or shape)."""


# --- the data file ----------------------------------------------------------------------

def real_world_root() -> Path:
    """../shared/real-world beside the checkout (CI's layout); a git worktree under
    /work/wt/NAME finds it one level further up. TFCKPT_REAL_WORLD overrides both."""
    override = os.environ.get("TFCKPT_REAL_WORLD")
    candidates = [Path(override)] if override else []
    candidates += [REPO.parent / "shared" / "real-world",
                   REPO.parent.parent / "shared" / "real-world"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    raise FileNotFoundError(
        f"no real-world folder at {', '.join(map(str, candidates))}; set TFCKPT_REAL_WORLD")


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    return json.loads(CASES_FILE.read_text(encoding="utf-8"))


def cases() -> dict[str, Case]:
    """Every case of the data file by folder name; each dict also carries its `name`."""
    return {name: dict(entry, name=name) for name, entry in _data()["cases"].items()}


def case(name: str) -> Case:
    return cases()[name]


def case_dir(case_or_name: Case | str) -> Path:
    name = case_or_name if isinstance(case_or_name, str) else case_or_name["name"]
    return real_world_root() / name


def oracle_spec(case_or_name: Case | str, which: str | None = None) -> Spec:
    """The case's main `oracle`, or one of its `other_oracles` by name."""
    entry = case(case_or_name) if isinstance(case_or_name, str) else case_or_name
    if which is None:
        spec = entry.get("oracle")
        if spec is None:
            raise OracleError(f"{entry['name']} has no oracle: {entry['oracle_excluded']}")
        return spec
    return entry["other_oracles"][which]


# --- inputs -------------------------------------------------------------------------------

def reference_inputs(case_or_name: Case | str, rows: int, seed: int = 0, *,
                     which: str | None = None) -> dict[str, np.ndarray]:
    """`rows` examples for every oracle input, keyed by input name; one RandomState(seed)
    draws the inputs in the data file's order, so the same call gives the same arrays."""
    spec = oracle_spec(case_or_name, which)
    rng = np.random.RandomState(seed)
    return {item["name"]: _generate(item, rows, rng) for item in spec["inputs"]}


def _generate(item: Spec, rows: int, rng: np.random.RandomState) -> np.ndarray:
    values = item["values"]
    size = (rows, *item["shape"])
    kind = values["kind"]
    if kind == "uniform":
        drawn = rng.uniform(np.asarray(values["low"]), np.asarray(values["high"]), size)
    elif kind == "normal":
        drawn = rng.normal(np.asarray(values["mean"]), np.asarray(values["std"]), size)
    elif kind == "integers":
        drawn = rng.randint(values["low"], values["high"], size)
    elif kind == "choices":  # numbers as they occur in the data, repeats for their weight
        drawn = np.asarray(values["values"])[rng.randint(0, len(values["values"]), size)]
    elif kind == "words":
        words = np.array([w.encode("utf-8") for w in values["words"]], dtype=object)
        return words[rng.randint(0, len(words), size)]
    else:
        raise OracleError(f"input {item['name']}: unknown value kind {kind!r}")
    return drawn.astype(item["dtype"])


# --- running the original -----------------------------------------------------------------

def run_original(case_or_name: Case | str, feeds: dict[str, np.ndarray], *,
                 which: str | None = None) -> dict[str, np.ndarray]:
    """The original artifact's outputs for `feeds` (keyed by oracle input name), keyed by
    prediction key, graph outputs and `derived` ones alike. A graph with a fixed batch runs
    in chunks of that size, the last one padded with copies of its last row and cut back."""
    entry = case(case_or_name) if isinstance(case_or_name, str) else case_or_name
    spec = oracle_spec(entry, which)
    names = [item["name"] for item in spec["inputs"]]
    if sorted(feeds) != sorted(names):
        raise OracleError(f"{entry['name']}: feeds {sorted(feeds)} but the oracle takes {names}")
    rows = _row_count(feeds)
    runner = _runner(entry["name"], spec)
    batch = spec.get("fixed_batch")
    parts = [runner(chunk) for chunk in _chunks(feeds, rows, batch)]
    result = {}
    for output in spec["outputs"]:
        joined = np.concatenate([part[output["key"]] for part in parts], axis=0)
        result[output["key"]] = joined[: rows * output.get("example_rows", 1)]
    for derived in spec.get("derived_outputs", []):
        result[derived["key"]] = DERIVED[derived["fn"]](result[derived["from"]])
    _check_outputs(entry["name"], spec, result, rows)
    return result


def _row_count(feeds: dict[str, np.ndarray]) -> int:
    counts = {len(value) for value in feeds.values()}
    if len(counts) != 1:
        raise OracleError(f"feeds disagree on the number of rows: {sorted(counts)}")
    return counts.pop()


def _chunks(feeds: dict[str, np.ndarray], rows: int, batch: int | None):
    if not batch:
        yield feeds
        return
    for start in range(0, rows, batch):
        chunk = {name: value[start:start + batch] for name, value in feeds.items()}
        missing = batch - min(batch, rows - start)
        if missing:
            chunk = {name: np.concatenate([value, np.repeat(value[-1:], missing, axis=0)])
                     for name, value in chunk.items()}
        yield chunk


def _check_outputs(name: str, spec: Spec, result: dict[str, np.ndarray], rows: int) -> None:
    """The data file states each output's dtype and per-example shape; hold the run to it so
    a wrong entry fails here and not in a conversion test far away."""
    for output in spec["outputs"] + spec.get("derived_outputs", []):
        value = result[output["key"]]
        leading = rows * output.get("example_rows", 1)
        expected = (leading, *output["shape"])
        dtype = np.dtype(object) if output["dtype"] == "string" else np.dtype(output["dtype"])
        if value.shape != expected or value.dtype != dtype:
            raise OracleError(
                f"{name}: output {output['key']} is {value.dtype}{list(value.shape)}, "
                f"the data file says {output['dtype']}{list(expected)}")


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(logits.dtype)


def _two_class_probabilities(logits: np.ndarray) -> np.ndarray:
    """softmax([0, z]) per row, as the binary heads compute probabilities from one logit."""
    positive = _sigmoid(logits)
    return np.concatenate([1.0 - positive, positive], axis=1).astype(logits.dtype)


def _two_class_ids(logits: np.ndarray) -> np.ndarray:
    """argmax([0, z]) per row: class 1 when z > 0 (ties go to 0, as argmax does)."""
    return (logits[:, 0] > 0).astype(np.int64)


DERIVED: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": _sigmoid,
    "two_class_probabilities": _two_class_probabilities,
    "two_class_ids": _two_class_ids,
}


# --- one session per case and oracle, kept for the whole test run -------------------------

_RUNNERS: dict[tuple[str, str], Callable[[dict[str, np.ndarray]], dict]] = {}
_SESSIONS: list[Any] = []
# A feed that misses a queue component the fetches need would block forever in the dequeue;
# a run that takes this long is charged to the data file, not to the test run.
RUN_TIMEOUT_MS = 120_000


def _runner(name: str, spec: Spec) -> Callable[[dict[str, np.ndarray]], dict]:
    """The session for (case, spec), built once: keyed by the spec's text, so a test that
    runs an edited copy of a spec (a bypass removed) gets a session of its own."""
    key = (name, json.dumps(spec, sort_keys=True))
    if key not in _RUNNERS:
        build = {"meta-graph": _meta_graph_runner, "saved-model": _saved_model_runner,
                 "frozen-graph": _frozen_graph_runner}[spec["artifact"]]
        _RUNNERS[key] = build(case_dir(name), spec)
    return _RUNNERS[key]


def close_sessions() -> None:
    """Close every session this module opened (tests call it once at the end)."""
    while _SESSIONS:
        _SESSIONS.pop().close()
    _RUNNERS.clear()


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _placeholders(tf, spec: Spec) -> dict[str, Any]:
    """One placeholder per input, batch dimension the graph's fixed batch or free."""
    batch = spec.get("fixed_batch")
    return {item["tensor"]: tf.compat.v1.placeholder(
                tf.as_dtype(item["dtype"]), [batch, *item["shape"]],
                name=f"oracle_input_{index}")
            for index, item in enumerate(spec["inputs"])}


def _meta_graph_runner(root: Path, spec: Spec):
    tf = _tf()
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef.FromString((root / spec["graph"]).read_bytes())
    for mend in spec.get("mends", []):
        MENDS[mend["mend"]](meta)
    for collection in spec.get("drop_collections", []):
        del meta.collection_def[collection["name"]]
    graph = tf.Graph()
    with graph.as_default():
        placeholders = _placeholders(tf, spec)
        # input_map swaps only the named input tensors (queue dequeues, embedded Consts,
        # placeholders with a declared batch); every other node is the author's.
        saver = tf.compat.v1.train.import_meta_graph(meta, input_map=placeholders,
                                                     clear_devices=True)
        if saver is None:
            raise OracleError(f"{spec['graph']} has no saver_def to restore with")
        tables = tf.compat.v1.tables_initializer() if spec.get("tables_initializer") else None
    session = _open(tf, graph)
    with graph.as_default():  # Saver.restore takes the eager path outside a graph context
        saver.restore(session, str(root / spec["checkpoint"]))
    if tables is not None:
        session.run(tables)
    return _graph_runner(tf, session, spec, placeholders)


def _saved_model_runner(root: Path, spec: Spec):
    tf = _tf()
    graph = tf.Graph()
    session = _open(tf, graph)
    with graph.as_default():
        meta = tf.compat.v1.saved_model.loader.load(session, spec["tags"],
                                                    str(root / spec["saved_model"]))
    signature = meta.signature_def[spec["signature"]]
    _check_signature(spec, signature)
    placeholders = {item["tensor"]: graph.get_tensor_by_name(item["tensor"])
                    for item in spec["inputs"]}
    return _graph_runner(tf, session, spec, placeholders)


def _check_signature(spec: Spec, signature) -> None:
    """The data names signature keys and tensors both; they must be the author's pairs."""
    for side, items in (("inputs", spec["inputs"]), ("outputs", spec["outputs"])):
        declared = {key: info.name for key, info in getattr(signature, side).items()}
        listed = {item["name" if side == "inputs" else "key"]: item["tensor"] for item in items}
        if declared != listed:
            raise OracleError(f"signature {spec['signature']} {side} are {declared}, "
                              f"the data file lists {listed}")


def _frozen_graph_runner(root: Path, spec: Spec):
    tf = _tf()
    graph_def = tf.compat.v1.GraphDef.FromString((root / spec["graph"]).read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        placeholders = _placeholders(tf, spec)
        tf.compat.v1.import_graph_def(graph_def, input_map=placeholders, name="")
    return _graph_runner(tf, _open(tf, graph), spec, placeholders)


def _open(tf, graph):
    session = tf.compat.v1.Session(graph=graph)
    _SESSIONS.append(session)
    return session


def _graph_runner(tf, session, spec: Spec, placeholders: dict[str, Any]):
    """feeds -> outputs, with constant feeds (keep_prob = 1) and bypasses (a dropout's
    output fed with its input's value, computed by a first run of the same session)."""
    graph = session.graph
    by_name = {item["name"]: placeholders[item["tensor"]] for item in spec["inputs"]}
    constant = {graph.get_tensor_by_name(feed["tensor"]): np.asarray(feed["value"], feed["dtype"])
                for feed in spec.get("feeds", [])}
    bypass = [(graph.get_tensor_by_name(item["tensor"]), graph.get_tensor_by_name(item["with"]))
              for item in spec.get("bypass", [])]
    fetches = {output["key"]: graph.get_tensor_by_name(output["tensor"])
               for output in spec["outputs"]}
    options = tf.compat.v1.RunOptions(timeout_in_ms=RUN_TIMEOUT_MS)

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed_dict = {by_name[name]: value for name, value in feeds.items()}
        feed_dict.update(constant)
        if bypass:
            values = session.run([source for _, source in bypass], feed_dict, options=options)
            feed_dict.update({target: value for (target, _), value in zip(bypass, values)})
        return session.run(fetches, feed_dict, options=options)

    return run


def _clear_tensorflow_version(meta) -> None:
    """TF 2.21's import_meta_graph parses meta_info_def.tensorflow_version and refuses
    strings that are not versions ('0.12.head'); the field is informational only."""
    meta.meta_info_def.tensorflow_version = ""


MENDS: dict[str, Callable[[Any], None]] = {
    "clear-tensorflow-version": _clear_tensorflow_version,
}
