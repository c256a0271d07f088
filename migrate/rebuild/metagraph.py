"""The `meta-graph` way: the checkpoint's own training graph, cut down to inference.

Finds the graph that belongs to the checkpoint (its `.meta`, else the model
dir's `graph.pbtxt`), mends on the proto what TensorFlow 2.21 refuses, lets
`graph_surgery` put one placeholder per feature where the input pipeline was,
switch the model to inference and prune it to the prediction outputs, then
imports the result into a fresh `tf.compat.v1` graph, restores the variables
with a Saver over the graph's own variables (partitioned ones by their slice
info, so `…/part_0` nodes restore from full-name keys) and initializes tables.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any, Mapping

from inspectors.graphs import io as graph_io, signatures as graph_signatures
from inspectors.formats.checkpoint import open_reader
from inspectors.errors import CorruptCheckpoint, UnsupportedSource
from inspectors.graphs.io import data_inputs, node_name
from inspectors.graphs.roles import output_candidates
from inspectors.graphs.variables import VARIABLE_OPS, through_identity
from inspectors.sources.paths import Source
from inspectors.tf_loader import tensorflow
from migrate.rebuild import assets as asset_files
from migrate.rebuild import batch as batch_sizes
from migrate.rebuild import export_names
from migrate.rebuild import inputs as inputs_module
from migrate.rebuild import surgery as surgery
from migrate.reasons import initialize_tables
from migrate.rebuild.inference import GRAPH, META_GRAPH, PREDICTION_KEYS, FeatureSpec, InferenceGraph

OTHER_WAYS = "use --via canned (canned Estimators) or --via model-fn --model-fn module:function"
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.\-+]*)?$")
_TABLE_INIT_OPS = frozenset({"InitializeTable", "InitializeTableV2", "InitializeTableFromTextFile",
                             "InitializeTableFromTextFileV2", "LookupTableImport",
                             "LookupTableImportV2"})
_KEPT_COLLECTIONS = ("variables", "trainable_variables", "model_variables")
_INIT_TABLES = "init_all_tables"
_PLACEHOLDERS = ("Placeholder", "PlaceholderV2", "PlaceholderWithDefault")


def build_from_graph(source: Source, *, outputs: Mapping[str, str] | None = None,
                     features: tuple[FeatureSpec, ...] | None = None,
                     inputs: tuple[str, ...] | None = None,
                     assets: asset_files.AssetSearch = asset_files.AssetSearch()) -> InferenceGraph:
    """The inference graph of `source`'s training graph, variables restored.

    A training batch size baked into the graph is freed when running proves every
    row's result independent of the batch it came in; else the graph keeps it and
    is fed in chunks of that size (`InferenceGraph.fixed_batch`)."""
    return _built(source, training_graph_path(source), outputs=outputs, features=features,
                  inputs=inputs, assets=assets)


def build_from_graph_file(path: str, *, outputs: Mapping[str, str] | None = None,
                          features: tuple[FeatureSpec, ...] | None = None,
                          inputs: tuple[str, ...] | None = None,
                          assets: asset_files.AssetSearch = asset_files.AssetSearch()
                          ) -> InferenceGraph:
    """The `graph` way: a GraphDef with no checkpoint (a frozen graph), through the same
    surgery; its constants are its weights."""
    inference = _built(None, path, outputs=outputs, features=features, inputs=inputs,
                       assets=assets)
    inference.way = GRAPH
    return inference


def _built(source: Source | None, path: str, *, outputs: Mapping[str, str] | None,
           features: tuple[FeatureSpec, ...] | None, inputs: tuple[str, ...] | None,
           assets: asset_files.AssetSearch) -> InferenceGraph:
    inference, freed = _build(source, path, outputs=outputs, features=features, inputs=inputs,
                              assets=assets, free=True)
    if not freed:
        return inference
    why = batch_sizes.rows_independent(inference.predict, inputs_module.generate(
        inference.features, rows=_PROBE_ROWS, seed=1))
    if why is None:
        return inference
    inference.close()
    inference, _ = _build(source, path, outputs=outputs, features=features, inputs=inputs,
                          assets=assets, free=False)
    inference.notes.append(f"freeing the training batch failed ({why}): kept it")
    return inference


_PROBE_ROWS = 3  # a batch no training graph is likely to bake in


def _build(source: Source | None, path: str, *, outputs: Mapping[str, str] | None,
           features: tuple[FeatureSpec, ...] | None, inputs: tuple[str, ...] | None,
           assets: asset_files.AssetSearch, free: bool) -> tuple[InferenceGraph, bool]:
    meta, graph_def = _parse(path)
    notes = [f"meta-graph: {path}"]
    notes += mend_versions(meta)
    found = graph_signatures.signatures(meta)
    feeds = surgery.find_feeds(graph_def, aliases=_input_aliases(found))
    chosen_feeds = _named_feeds(feeds, inputs)
    wanted, completion, output_notes = _outputs(graph_def, meta, chosen_feeds, outputs, found)
    notes += output_notes
    notes += surgery.to_inference(graph_def)
    feeds = _still_fed(graph_def, feeds)
    feeds = _with_overrides(feeds, features)
    baked = batch_sizes.training_batch(graph_def, [feed.tensor for feed in feeds])
    inputs = _place_feeds(graph_def, feeds, batch=None if free or baked is None else baked.size)
    notes += _unbake(graph_def, feeds, inputs)
    freed, fixed = _batch(graph_def, baked, inputs, list(wanted.values()), free=free)
    notes += freed
    pruned, definitions, tables = _prune(graph_def, meta, list(wanted.values()))
    used = {key: name for key, name in inputs.items()
            if node_name(name) in {n.name for n in pruned.node}}
    if inputs:
        _check_named_inputs(feeds, used, chosen_feeds)
    used = _named_by_export(source, pruned, feeds, used, notes)
    used = _name_lone_input(feeds, used)
    _refuse_sparse(feeds, used)
    mend_ops(pruned)
    located = asset_files.locate(pruned, search=assets, meta=meta, near=_near(source, path))
    notes += [asset.note for asset in located]
    specs = _feature_specs(feeds, used, _vocabularies(
        graph_def, used, file_words=asset_files.vocabulary_words(pruned, located)))
    inference = _import(source, _meta_graph(meta, pruned, definitions, tables), given=path,
                        inputs=used, outputs=wanted, specs=specs, notes=notes)
    inference.assets = located
    inference.fixed_batch = fixed
    if completion:
        _complete_head(inference, completion)
    return inference, bool(freed)


def _near(source: Source | None, path: str) -> tuple[str, ...]:
    """Where to look for assets first: beside the checkpoint and in its model dir, or
    beside the graph file when there is no checkpoint."""
    if source is None:
        return (os.path.dirname(path),)
    return (os.path.dirname(source.path), source.model_dir or "")


def _batch(graph_def: Any, baked: batch_sizes.Baked | None, inputs: dict[str, str],
           outputs: list[str], *, free: bool) -> tuple[list[str], int | None]:
    """(notes on what was freed, the fixed batch the graph keeps or None)."""
    if baked is None:
        return [], None
    if not free:
        return [f"the graph needs exactly {baked.size} rows at a time ({baked.where}): "
                f"exported with that batch; predict and verify feed it in chunks of "
                f"{baked.size}, the last one padded"], baked.size
    forward = surgery.ancestors(surgery.nodes_of(graph_def), outputs, control=False)
    fed = [name for name in inputs.values() if node_name(name) in forward]
    changed = batch_sizes.free(graph_def, batch=baked.size, inputs=fed, forward=forward)
    if not changed:
        return [], None
    shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
    return [f"the training batch {baked.size} ({baked.where}) was baked into {len(changed)} "
            f"node(s) ({shown}): freed, so the export takes any batch"], None


# --- finding and parsing the graph -------------------------------------------

def training_graph_path(source: Source) -> str:
    """The checkpoint's `.meta`, else `graph.pbtxt` in its model dir, else the graph of
    the TF1 SavedModel whose variables the checkpoint is."""
    if source.meta_graph and os.path.isfile(source.meta_graph):
        return source.meta_graph
    for name in ("saved_model.pb", "saved_model.pbtxt") if source.saved_model else ():
        if os.path.isfile(os.path.join(source.saved_model, name)):
            return os.path.join(source.saved_model, name)
    directory = source.model_dir or os.path.dirname(source.path)
    pbtxt = os.path.join(directory, "graph.pbtxt")
    if os.path.isfile(pbtxt):
        return pbtxt
    raise UnsupportedSource(f"no training graph for {source.given}: no .meta beside the "
                            f"checkpoint and no graph.pbtxt in {directory or '.'}; {OTHER_WAYS}")


def _parse(path: str) -> tuple[Any, Any]:
    """(MetaGraphDef or None, a GraphDef copy to cut) of a .meta or GraphDef file."""
    loaded = graph_io.load(path)
    unit = loaded.units[0]
    if loaded.format == graph_io.SAVED_MODEL:  # its serving graph, where there are several
        serving = [u for u in loaded.units if u.meta is not None
                   and "serve" in u.meta.meta_info_def.tags]
        unit = serving[0] if serving else unit
    graph_def = type(unit.graph_def)()
    graph_def.CopyFrom(unit.graph_def)
    return unit.meta, graph_def


def mend_versions(meta: Any | None) -> list[str]:
    """Clear version strings TF 2.21 refuses (`0.12.head`): only semantic versions parse."""
    if meta is None:
        return []
    info = meta.meta_info_def
    if info.tensorflow_version and not _VERSION_RE.match(info.tensorflow_version):
        old = info.tensorflow_version
        info.tensorflow_version = ""
        info.tensorflow_git_version = ""
        return [f"cleared the meta graph's tensorflow_version {old!r}, which TF 2.21 refuses"]
    return []


# Old ops with a drop-in successor: same inputs, outputs and attrs. TF 0.x `Variable`
# still imports, but today's freezing (convert_variables_to_constants) skips it.
_RENAMED_OPS = {"Variable": "VariableV2"}


def mend_ops(graph_def: Any) -> None:
    """Refuse ops TF 2.21 lacks; rename superseded ones; drop attrs an op no longer has."""
    tensorflow()
    from tensorflow.python.framework import op_def_registry

    for node in graph_def.node:
        node.op = _RENAMED_OPS.get(node.op, node.op)

    functions = {f.signature.name for f in graph_def.library.function}
    unknown = sorted({n.op for n in graph_def.node
                      if n.op not in functions and op_def_registry.get(n.op) is None})
    if unknown:
        raise UnsupportedSource(f"the inference part of the graph uses op(s) TensorFlow 2.21 "
                                f"does not have: {', '.join(unknown)}; {OTHER_WAYS}")
    for node in graph_def.node:
        op_def = op_def_registry.get(node.op)
        if op_def is None:
            continue
        known = {attr.name for attr in op_def.attr}
        for name in [a for a in node.attr if a not in known and not a.startswith("_")]:
            del node.attr[name]


# --- inputs ------------------------------------------------------------------

def _input_aliases(found: tuple) -> dict[str, str]:
    """Tensor -> feature key from signatures; `generic` (Session Bundle) names win."""
    aliases: dict[str, str] = {}
    for signature in sorted(found, key=lambda s: s.method != "generic"):
        for spec in signature.inputs:
            aliases.setdefault(surgery.tensor_name(spec.tensor), spec.alias)
    return aliases


LONE_INPUT = "x"
_NAMED_AFTER_TENSOR = "no feature key in the graph: named after its tensor"


def _with_overrides(feeds: list[surgery.Feed], features: tuple[FeatureSpec, ...] | None
                    ) -> list[surgery.Feed]:
    """Name keyless feeds; apply the caller's specs by name, then in order to keyless feeds."""
    keyless = [feed for feed in feeds if not feed.key]
    for feed in keyless:
        node, _, index = feed.tensor.rpartition(":")
        feed.key = re.sub(r"[^A-Za-z0-9_.\-/]", "_", node if index == "0" else f"{node}_{index}")
        feed.evidence.append(_NAMED_AFTER_TENSOR)
    if not features:
        return feeds
    by_key = {feed.key: feed for feed in feeds}
    spare = [spec for spec in features if spec.name not in by_key]
    for spec in features:
        if spec.name in by_key:
            _apply_spec(by_key[spec.name], spec)
    if len(spare) > len(keyless):
        names = ", ".join(sorted(by_key))
        raise UnsupportedSource(f"feature(s) {', '.join(s.name for s in spare)} match no input "
                                f"of the graph (its inputs: {names})")
    for feed, spec in zip(keyless, spare):
        feed.key = spec.name
        _apply_spec(feed, spec)
    return feeds


def _named_by_export(source: Source | None, graph_def: Any, feeds: list[surgery.Feed],
                     used: dict[str, str], notes: list[str]) -> dict[str, str]:
    """Inputs the graph leaves unnamed take the names the model dir's own export gives
    them (export_names), when it pins them down one to one."""
    unnamed = {feed.key: used[feed.key] for feed in feeds if feed.key in used and _unnamed(feed)}
    exports = export_names.author_exports(source.model_dir or os.path.dirname(source.path)) \
        if source is not None and unnamed else []
    if not exports:
        return used
    renamed = {key: name for key, name in
               export_names.names_from_export(graph_def, unnamed, exports[0]).items()
               if name not in used}
    if not renamed:
        return used
    for feed in feeds:
        if feed.key in renamed:
            feed.evidence = [line for line in feed.evidence if line != _NAMED_AFTER_TENSOR]
            feed.evidence.append(f"named {renamed[feed.key]} by the signature of {exports[0]}")
            feed.key = renamed[feed.key]
    notes.append(export_names.rename_note(exports[0], renamed))
    return {renamed.get(key, key): tensor for key, tensor in used.items()}


_DEFAULT_NAME_RE = re.compile(r"^Placeholder(?:WithDefault)?(?:_\d+)?$")


def _unnamed(feed: surgery.Feed) -> bool:
    """Named after its tensor, or a placeholder TensorFlow named by default: the key
    says nothing of the feature."""
    return _NAMED_AFTER_TENSOR in feed.evidence or bool(_DEFAULT_NAME_RE.match(feed.key or ""))


def _name_lone_input(feeds: list[surgery.Feed], used: dict[str, str]) -> dict[str, str]:
    """The one input the model reads, when the graph gave it no key, is `x`: as
    tf.contrib.learn's fit(x=...) called it and as the canned rebuild names it, so
    both ways give SavedModels with the same input."""
    unnamed = [feed for feed in feeds if feed.key in used and _NAMED_AFTER_TENSOR in feed.evidence]
    if len(used) != 1 or len(unnamed) != 1:
        return used
    feed = unnamed[0]
    feed.evidence[feed.evidence.index(_NAMED_AFTER_TENSOR)] = (
        f"no feature key in the graph: the only input, named {LONE_INPUT}")
    tensor = used.pop(feed.key)
    feed.key = LONE_INPUT
    return {LONE_INPUT: tensor}


def _apply_spec(feed: surgery.Feed, spec: FeatureSpec) -> None:
    # A placeholder's own shape starts with the batch dimension; a spec's does not.
    feed.shape = ((-1,) if feed.origin in _PLACEHOLDERS else ()) + tuple(spec.shape)
    feed.evidence.append("shape as given")


def _named_feeds(feeds: list[surgery.Feed], names: tuple[str, ...] | None) -> list[surgery.Feed]:
    """The feeds `--inputs` names (by feature key, tensor or node); all when it names none."""
    if not names:
        return feeds
    chosen = [feed for feed in feeds if {feed.key, feed.tensor, node_name(feed.tensor)} & set(names)]
    known = {feed.tensor for feed in chosen} | {node_name(f.tensor) for f in chosen} \
        | {feed.key for feed in chosen}
    unknown = [name for name in names if name not in known]
    if unknown:
        offered = sorted({feed.key or node_name(feed.tensor) for feed in feeds})
        close = difflib.get_close_matches(unknown[0], offered, n=3)
        raise UnsupportedSource(f"--inputs names {', '.join(unknown)}, which is no input of the "
                                f"graph" + (f"; closest: {', '.join(close)}" if close else
                                            f" (its inputs: {', '.join(offered)})"))
    return chosen


def _check_named_inputs(feeds: list[surgery.Feed], used: dict[str, str],
                        chosen: list[surgery.Feed]) -> None:
    """The outputs must need only the inputs the user named."""
    allowed = {id(feed) for feed in chosen}
    extra = sorted(feed.key for feed in feeds if feed.key in used and id(feed) not in allowed)
    if extra:
        raise UnsupportedSource(f"the outputs also read input(s) {', '.join(extra)}, which "
                                f"--inputs leaves out; name them too, or pick other --outputs")


def _still_fed(graph_def: Any, feeds: list[surgery.Feed]) -> list[surgery.Feed]:
    """Feeds `to_inference` did not fix to a constant (a keep probability)."""
    ops = {node.name: node.op for node in graph_def.node}
    return [feed for feed in feeds if ops.get(node_name(feed.tensor)) == feed.origin]


def _place_feeds(graph_def: Any, feeds: list[surgery.Feed], *, batch: int | None = None
                 ) -> dict[str, str]:
    """One placeholder per pipeline / embedded-data tensor; feature key -> tensor name."""
    taken = {node.name for node in graph_def.node}
    inputs: dict[str, str] = {}
    mapping = {}
    for feed in feeds:
        key = _unique(feed.key, inputs)
        feed.key = key
        if feed.origin in _PLACEHOLDERS:
            inputs[key] = feed.tensor
            _declare_shape(graph_def, feed)
            continue
        name = key if re.match(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$", key) and key not in taken \
            else _unique_node(f"{re.sub(r'[^A-Za-z0-9_]', '_', key) or 'feature'}_input", taken)
        taken.add(name)
        shape = None if feed.shape is None else (batch or -1,) + tuple(feed.shape)
        surgery.placeholder_node(graph_def, name, dtype=feed.dtype, shape=shape)
        mapping[feed.tensor] = f"{name}:0"
        inputs[key] = f"{name}:0"
    surgery.rewire(graph_def, mapping)
    return inputs


def _declare_shape(graph_def: Any, feed: surgery.Feed) -> None:
    """A placeholder whose shape was inferred declares it, so that the export's
    signature says it and TensorFlow checks feeds against it."""
    if feed.shape is None:
        return
    node = surgery.nodes_of(graph_def)[node_name(feed.tensor)]
    shape = node.attr["shape"].shape
    shape.Clear()
    for size in feed.shape:
        shape.dim.add().size = size


def _unbake(graph_def: Any, feeds: list[surgery.Feed], inputs: dict[str, str]) -> list[str]:
    embedded = [feed for feed in feeds if feed.origin == "Const"]
    if not embedded:
        return []
    rows = int(re.search(r"holds (\d+) rows", " ".join(embedded[0].evidence)).group(1))
    count = surgery.unbake_batch(graph_def, [inputs[feed.key] for feed in embedded], rows)
    note = (f"the graph embedded its training data ({rows} rows in "
            f"{', '.join(sorted(f.tensor for f in embedded))}): replaced by placeholders")
    return [note + (f"; {count} reshape(s) to {rows} rows made batch-size free" if count else "")]


def _unique(key: str, taken: Mapping[str, Any]) -> str:
    name, index = key, 0
    while name in taken:
        index += 1
        name = f"{key}_{index}"
    return name


def _unique_node(wanted: str, taken: set[str]) -> str:
    return _unique(wanted, {name: None for name in taken})


def _refuse_sparse(feeds: list[surgery.Feed], used: dict[str, str]) -> None:
    sparse = sorted({feed.key for feed in feeds if feed.sparse and feed.key in used})
    if sparse:
        raise UnsupportedSource(f"the model reads sparse feature(s) {', '.join(sparse)} straight "
                                f"from ParseExample, which one dense input per feature cannot "
                                f"replace; {OTHER_WAYS}")


def _feature_specs(feeds: list[surgery.Feed], used: dict[str, str],
                   vocabularies: dict[str, tuple[str, ...]]) -> tuple[FeatureSpec, ...]:
    tf = tensorflow()
    specs = []
    for feed in feeds:
        if feed.key in used:
            shape = feed.shape or ()
            if feed.origin in _PLACEHOLDERS and shape:
                shape = shape[1:]  # a placeholder's own shape starts with the batch
            dtype = tf.dtypes.as_dtype(feed.dtype).name
            specs.append(FeatureSpec(name=feed.key, dtype=dtype, shape=tuple(shape),
                                     vocabulary=vocabularies.get(feed.key, ()) if dtype == "string" else (),
                                     int_high=feed.int_high if dtype.startswith(("int", "uint")) else None))
    return tuple(sorted(specs, key=lambda s: s.name))


def _vocabularies(graph_def: Any, used: dict[str, str], *,
                  file_words: Mapping[str, tuple[str, ...]] = {}) -> dict[str, tuple[str, ...]]:
    """Feature key -> the words of the Const-initialized lookup tables its values are
    looked up in (or of the vocabulary files in `file_words`, by reader node), so that
    generated inputs (export's self-check, verify) reach real vocabulary entries and
    not only the out-of-vocabulary path."""
    nodes = surgery.nodes_of(graph_def)
    words_of = {}
    for node in graph_def.node:
        if node.op in _TABLE_INIT_OPS and len(node.input) > 1:
            if node.op in asset_files.FILE_READERS:  # input 1 is the file's name, not words
                words = list(file_words.get(node.name, ()))
            else:
                words = graph_io.const_strings(nodes.get(node_name(node.input[1])))
            table = through_identity(nodes, node.input[0])
            if words and table is not None:
                words_of[table.name] = words
    features = {node_name(tensor): key for key, tensor in used.items()}
    found: dict[str, tuple[str, ...]] = {}
    for node in graph_def.node:
        if node.op not in ("LookupTableFind", "LookupTableFindV2") or len(node.input) < 2:
            continue
        table = through_identity(nodes, node.input[0])
        words = words_of.get(table.name) if table is not None else None
        reached = {features[name] for name in surgery.ancestors(nodes, [node.input[1]], control=False)
                   if name in features} if words else set()
        if len(reached) == 1:  # the one feature whose values are looked up here
            key = reached.pop()
            found[key] = tuple(dict.fromkeys(found.get(key, ()) + tuple(words)))
    return found


# --- outputs -----------------------------------------------------------------

def _outputs(graph_def: Any, meta: Any | None, feeds: list[surgery.Feed],
             given: Mapping[str, str] | None, found: tuple
             ) -> tuple[dict[str, str], str | None, list[str]]:
    """Prediction key -> tensor: as given, from a signature, a canned head, or a clear guess;
    and the head to complete (`logistic` / `softmax`) when only a loss's logits were found."""
    nodes = surgery.nodes_of(graph_def)
    if given:
        return {key: _known_tensor(nodes, tensor) for key, tensor in given.items()}, None, []
    from_signature = _signature_outputs(found)
    if from_signature:
        return from_signature, None, []
    head = surgery.head_outputs(graph_def)
    if head:
        return dict(sorted(head.items(), key=lambda kv: _key_order(kv[0]))), None, []
    return _guess(graph_def, meta, feeds, nodes)


def _key_order(key: str) -> int:
    return PREDICTION_KEYS.index(key) if key in PREDICTION_KEYS else len(PREDICTION_KEYS)


def _known_tensor(nodes: dict[str, Any], tensor: str) -> str:
    name = surgery.tensor_name(tensor)
    node, _, index = name.rpartition(":")
    if node not in nodes:
        close = difflib.get_close_matches(node, list(nodes), n=3)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise UnsupportedSource(f"--outputs names tensor {tensor}, which the graph does not "
                                f"have{hint}")
    return name


def _signature_outputs(found: tuple) -> dict[str, str]:
    """Session Bundle / signature_def outputs, one key per tensor (`generic` names first)."""
    outputs: dict[str, str] = {}
    for signature in sorted(found, key=lambda s: s.method != "generic"):
        for spec in signature.outputs:
            tensor = surgery.tensor_name(spec.tensor)
            if tensor not in outputs.values() and spec.alias not in outputs:
                outputs[spec.alias] = tensor
    return outputs


_MAX_TIED = 4  # equally likely outputs kept side by side rather than refused


def _guess(graph_def: Any, meta: Any | None, feeds: list[surgery.Feed],
           nodes: dict[str, Any]) -> tuple[dict[str, str], str | None, list[str]]:
    """The inspector's best candidate, if it depends on the inputs and clearly wins."""
    from inspectors.graphs.report import collections_of

    collections = {c.name: c.values for c in collections_of(meta)}
    ranked = output_candidates(graph_def, found_signatures=(), collections=collections, top=20)
    # Through data, not through a Shape: a centered bias tiled to the batch size is no prediction.
    fed = surgery.descendants(graph_def, [node_name(f.tensor) for f in feeds], through_shape=False)
    ranked = [c for c in ranked if c.node in fed and c.score > 0]
    if not ranked:
        raise UnsupportedSource("cannot tell the prediction outputs of this graph: nothing "
                                "that depends on its inputs looks like a result. Name them "
                                "with --outputs key=tensor, e.g. --outputs predictions=NODE:0")
    chosen: dict[str, str] = {}
    reasons = {}
    for candidate in [c for c in ranked if c.score == ranked[0].score][:_MAX_TIED]:
        key = _unique(surgery.output_key(candidate, nodes), chosen)
        chosen[key] = f"{candidate.node}:0"
        reasons[key] = candidate.reason
    others = [c for c in ranked if f"{c.node}:0" not in chosen.values()][:4]
    notes = [f"prediction outputs guessed: " + "; ".join(
        f"{key}={tensor} ({reasons[key]})" for key, tensor in chosen.items())]
    if others:
        notes.append("other candidates, not exported (name them with --outputs key=tensor): "
                     + "; ".join(f"{c.node} ({c.op}, score {c.score})" for c in others))
    completion = _logits_behind(chosen, nodes)
    if "logits" in chosen and "probabilities" not in chosen:
        completion = _loss_head(reasons.get("logits", ""))
    return chosen, completion, notes


def _logits_behind(chosen: dict[str, str], nodes: dict[str, Any]) -> str | None:
    """A guessed Softmax or Sigmoid output without its logits: its input is the logits
    (added unless already an output), and the head to complete from them."""
    if "logits" in chosen:
        return None
    for key, head in (("probabilities", "classes"), ("logistic", "logistic")):
        node = nodes.get(node_name(chosen.get(key, "")))
        if node is None or node.op not in ("Softmax", "Sigmoid") or not data_inputs(node):
            continue
        logits = surgery.tensor_name(data_inputs(node)[0])
        if logits not in chosen.values():
            chosen["logits"] = logits
            return head
    return None


def _loss_head(reason: str) -> str | None:
    """The head a loss on the logits implies: sigmoid (binary) or softmax (classes)."""
    if "SoftmaxCrossEntropyWithLogits" in reason:
        return "softmax"
    if "logistic_loss" in reason or "SigmoidCrossEntropy" in reason:
        return "logistic"
    return None


def _complete_head(inference: InferenceGraph, kind: str) -> None:
    """Add what the old head predicted from its logits, as contrib.learn classifiers did."""
    tf = tensorflow()
    logits = inference.outputs["logits"]
    with inference.graph.as_default(), tf.name_scope("tfckpt_head"):
        if kind == "logistic":
            logistic = tf.sigmoid(logits, name="logistic")
            two_class = tf.concat([tf.zeros_like(logits), logits], axis=-1)
            inference.outputs["logistic"] = logistic
            inference.outputs["probabilities"] = tf.nn.softmax(two_class, name="probabilities")
            inference.outputs["classes"] = tf.argmax(two_class, axis=-1, name="classes")
        elif kind == "classes":  # the graph's own softmax stays the probabilities
            inference.outputs["classes"] = tf.argmax(inference.outputs["probabilities"],
                                                     axis=-1, name="classes")
        else:
            inference.outputs["probabilities"] = tf.nn.softmax(logits, name="probabilities")
            inference.outputs["classes"] = tf.argmax(logits, axis=-1, name="classes")
    if kind == "classes":
        inference.notes.append("the graph's softmax is the probabilities; its input exported as "
                               "the logits, and their argmax as the classes")
        return
    inference.notes.append(f"the graph computes only the logits; added the {kind} head's "
                           f"probabilities and classes (as tf.contrib.learn classifiers predicted)")


# --- pruning with variables and tables ---------------------------------------

def _prune(graph_def: Any, meta: Any | None, outputs: list[str]) -> tuple[Any, list, list[str]]:
    """(pruned GraphDef, VariableDefs of its variables, table initializer nodes)."""
    first = surgery.prune(graph_def, outputs)
    kept = {n.name for n in first.node}
    variables = {n.name for n in first.node if n.op in VARIABLE_OPS}
    definitions = _variable_defs(graph_def, meta, variables)
    tables = [n.name for n in graph_def.node if n.op in _TABLE_INIT_OPS
              and n.input and node_name(n.input[0]) in kept]
    roots = list(outputs) + tables
    for definition in definitions:
        roots += [name for name in (definition.initializer_name, definition.snapshot_name,
                                    definition.initial_value_name) if name]
    return surgery.prune(graph_def, roots), definitions, tables


def _variable_defs(graph_def: Any, meta: Any | None, variables: set[str]) -> list:
    """VariableDefs from the meta graph's collections, synthesized for the rest."""
    from tensorflow.core.framework import variable_pb2

    found = {}
    if meta is not None:
        for collection in _KEPT_COLLECTIONS[:1] + ("trainable_variables",):
            if collection not in meta.collection_def:
                continue
            for raw in meta.collection_def[collection].bytes_list.value:
                definition = variable_pb2.VariableDef()
                definition.ParseFromString(raw)
                name = node_name(definition.variable_name)
                if name in variables:
                    found.setdefault(name, definition)
    missing = sorted(variables - set(found))
    if missing:
        slices = _saved_slices(graph_def)
        for name in missing:
            found[name] = _synthesized(graph_def, name, slices.get(name))
    return [found[name] for name in sorted(found)]


def _saved_slices(graph_def: Any) -> dict[str, tuple[str, str]]:
    """Variable node -> (checkpoint key, slice spec) from the Saver's save op."""
    from inspectors.graphs.io import const_strings, data_inputs
    from inspectors.graphs.variables import SAVE_OPS, _variable_behind

    nodes = surgery.nodes_of(graph_def)
    found = {}
    for op in graph_def.node:
        if op.op not in SAVE_OPS or len(data_inputs(op)) < 3:
            continue
        tensors = data_inputs(op)
        keys = const_strings(through_identity(nodes, tensors[1]))
        specs = const_strings(through_identity(nodes, tensors[2])) if op.op != "Save" else []
        for index, tensor in enumerate(tensors[SAVE_OPS[op.op]:]):
            variable = _variable_behind(nodes, tensor)
            if variable and index < len(keys):
                found[variable] = (keys[index], specs[index] if index < len(specs) else "")
    return found


def _synthesized(graph_def: Any, name: str, saved: tuple[str, str] | None) -> Any:
    """A VariableDef for a variable node no collection lists (graph.pbtxt has none)."""
    from tensorflow.core.framework import variable_pb2

    nodes = surgery.nodes_of(graph_def)
    node = nodes[name]
    definition = variable_pb2.VariableDef(variable_name=f"{name}:0",
                                          is_resource=node.op == "VarHandleOp")
    assigns = [n.name for n in graph_def.node if n.op in ("Assign", "AssignVariableOp")
               and n.input and node_name(n.input[0]) == name]
    preferred = [a for a in assigns if a.startswith(name + "/")] or assigns
    if not preferred:
        raise UnsupportedSource(f"variable {name} has no initializer in the graph, so it cannot "
                                f"be rebuilt as a variable; {OTHER_WAYS}")
    definition.initializer_name = preferred[0]
    read = f"{name}/read" if node.op != "VarHandleOp" else f"{name}/Read/ReadVariableOp"
    definition.snapshot_name = f"{read}:0" if read in nodes else f"{name}:0"
    if saved and saved[1]:
        _slice_info(definition, saved)
    return definition


def _slice_info(definition: Any, saved: tuple[str, str]) -> None:
    """`full shape` + `offset,length:...` (the save op's spec) -> SaveSliceInfoDef."""
    key, spec = saved
    *full, slices = spec.split(" ")
    info = definition.save_slice_info_def
    info.full_name = key
    info.full_shape.extend(int(d) for d in full)
    for part in slices.split(":"):
        start, _, length = part.partition(",")
        info.var_offset.append(0 if start == "-" else int(start))
        info.var_shape.append(int(length) if length not in ("", "-") else 0)


def _meta_graph(meta: Any | None, pruned: Any, definitions: list, tables: list[str]) -> Any:
    from tensorflow.core.protobuf import meta_graph_pb2

    result = meta_graph_pb2.MetaGraphDef()
    if meta is not None:
        result.meta_info_def.CopyFrom(meta.meta_info_def)
        result.meta_info_def.ClearField("stripped_op_list")
    result.graph_def.CopyFrom(pruned)
    trainable = set()
    if meta is not None and "trainable_variables" in meta.collection_def:
        from tensorflow.core.framework import variable_pb2

        for raw in meta.collection_def["trainable_variables"].bytes_list.value:
            trainable.add(variable_pb2.VariableDef.FromString(raw).variable_name)
    for definition in definitions:
        result.collection_def["variables"].bytes_list.value.append(definition.SerializeToString())
        if definition.variable_name in trainable or not meta:
            result.collection_def["trainable_variables"].bytes_list.value.append(
                definition.SerializeToString())
    for name in tables:
        result.collection_def["table_initializer"].node_list.value.append(name)
    return result


# --- import and restore ------------------------------------------------------

def _import(source: Source | None, meta: Any, *, given: str, inputs: dict[str, str],
            outputs: dict[str, str], specs: tuple[FeatureSpec, ...], notes: list[str]
            ) -> InferenceGraph:
    tf = tensorflow()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        try:
            v1.train.import_meta_graph(meta, clear_devices=True)
        except (ValueError, TypeError, tf.errors.OpError) as error:
            raise UnsupportedSource(f"TensorFlow 2.21 cannot import the cut graph of "
                                    f"{source.given if source else given}: "
                                    f"{_first_line(error)}; {OTHER_WAYS}") from error
        variables = v1.global_variables()
        init_op = None
        if v1.get_collection(v1.GraphKeys.TABLE_INITIALIZERS):
            init_op = v1.tables_initializer(name=_INIT_TABLES)
        saver = v1.train.Saver(var_list=variables) if variables else None
    session = v1.Session(graph=graph)
    try:
        with graph.as_default():
            if saver is not None and source is None:
                raise UnsupportedSource(f"{given} holds variables but no checkpoint goes with "
                                        f"it: pass the checkpoint (its .meta beside it) instead")
            if saver is not None:
                _check_keys(source, variables)
                _restore(source, saver, session, tf)
            if init_op is not None:
                initialize_tables(session, init_op, where=source.given if source else given)
        return InferenceGraph(
            graph=graph, session=session,
            inputs={key: graph.get_tensor_by_name(name) for key, name in sorted(inputs.items())},
            outputs={key: graph.get_tensor_by_name(name) for key, name in outputs.items()},
            features=specs, way=META_GRAPH, init_op=init_op, notes=notes)
    except BaseException:
        session.close()
        raise


def checkpoint_key(variable: Any) -> str:
    info = getattr(variable, "_save_slice_info", None)
    return info.full_name if info is not None else variable.op.name


def _check_keys(source: Source, variables: list) -> None:
    have = [info.name for info in open_reader(source).variables()]
    missing = sorted({checkpoint_key(v) for v in variables} - set(have))
    if missing:
        shown = "; ".join(_closest(name, have) for name in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise UnsupportedSource(f"checkpoint {source.given} lacks {len(missing)} variable(s) the "
                                f"graph needs: {shown}{more}. Rename them with `tfckpt rename`, "
                                f"or pass the checkpoint this graph was saved with")


def _closest(name: str, have: list[str]) -> str:
    close = difflib.get_close_matches(name, have, n=2, cutoff=0.5)
    return f"{name} (closest: {', '.join(close)})" if close else name


def _restore(source: Source, saver: Any, session: Any, tf: Any) -> None:
    try:
        saver.restore(session, source.path)
    except (tf.errors.OpError, ValueError) as error:
        raise CorruptCheckpoint(f"cannot restore {source.given} into its graph: "
                                f"{_first_line(error)}") from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
