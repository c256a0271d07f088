"""Checkpoint or model dir -> `InferenceGraph`, choosing the way.

`--via` forces one. Otherwise: `model-fn` when a model_fn is given; else the
training graph (`meta-graph`) when the checkpoint has one; else, or when that
way fails, the canned rebuild from variable names. What was chosen and why goes
into the graph's notes, which the commands print on stderr.
"""

from __future__ import annotations

import os

from inspectors.sources import paths
from inspectors.errors import TfckptError, UnsupportedSource
from migrate.rebuild.inference import CANNED, GRAPH, META_GRAPH, MODEL_FN, SAVED_MODEL, InferenceGraph
from migrate import safety
from migrate.rebuild.options import Options


def rebuild(given: str, options: Options) -> InferenceGraph:
    """The inference graph of `given`, refused if it holds risky ops (unless allowed)."""
    inference = _build(given, options)
    try:
        safety.refuse_risky_ops(inference.graph.as_graph_def(), allow=options.allow_risky_ops,
                                where=given, vetted=vetted_readers(inference))
    except TfckptError:
        inference.close()
        raise
    return inference


def vetted_readers(inference: InferenceGraph) -> frozenset[str]:
    """Nodes that read only a vocabulary file the rebuild located (and exports copy)."""
    return frozenset(asset.reader for asset in inference.assets)


def _build(given: str, options: Options) -> InferenceGraph:
    from migrate.rebuild import saved_model_source

    if options.via in (None, SAVED_MODEL) and saved_model_source.is_saved_model(given):
        return saved_model_source.build_from_saved_model(given, signature=options.signature,
                                                         assets=options.assets)
    if options.via in (None, GRAPH) and is_graph_file(given):
        from migrate.rebuild import metagraph

        return metagraph.build_from_graph_file(os.path.expanduser(given), outputs=options.outputs,
                                               features=options.features, inputs=options.inputs,
                                               assets=options.assets)
    source = paths.resolve(given)
    if source.format == "keras-h5":
        raise UnsupportedSource(f"{given} is a Keras HDF5 file; load it with tf.keras, "
                                f"or export its weights with `tfckpt export-weights`")
    way = options.via or (MODEL_FN if options.model_fn else None)
    if way == MODEL_FN:
        return _model_fn(source, options)
    if way == META_GRAPH:
        return _meta_graph(source, options)
    if way == CANNED:
        return _canned(source, options)
    return _automatic(source, options)


def candidates(given: str, options: Options) -> list[str]:
    """The ways that may rebuild `given`, in the order `export` tries them: one when the
    user forced it or the source allows only one; else the training graph, then the
    canned rebuild from variable names."""
    from migrate.rebuild import saved_model_source

    if options.via:
        return [options.via]
    if options.model_fn:
        return [MODEL_FN]
    if saved_model_source.is_saved_model(given):
        return [SAVED_MODEL]
    if is_graph_file(given):
        return [GRAPH]
    source = paths.resolve(given)
    if source.format == "keras-h5":
        return [CANNED]  # refused with its own message
    return [META_GRAPH, CANNED] if has_graph(source) else [CANNED]


def _automatic(source: paths.Source, options: Options) -> InferenceGraph:
    if not has_graph(source):
        inference = _canned(source, options)  # its first note says there is no graph
        inference.notes.insert(1, "so the canned model was rebuilt from variable names "
                                  "(--via meta-graph needs a .meta or graph.pbtxt)")
        return inference
    try:
        return _meta_graph(source, options)
    except UnsupportedSource as graph_error:
        try:
            inference = _canned(source, options)
        except TfckptError:
            raise graph_error from None
        inference.notes.insert(0, f"the meta-graph way failed ({graph_error}); "
                                  f"rebuilt the canned model from variable names instead")
        return inference


def is_graph_file(given: str) -> bool:
    """A GraphDef file on its own (a frozen graph), not a checkpoint's `.meta`."""
    path = os.path.expanduser(given)
    return os.path.isfile(path) and path.endswith((".pb", ".pbtxt")) \
        and os.path.basename(path) not in ("saved_model.pb", "saved_model.pbtxt", "graph.pbtxt")


def has_graph(source: paths.Source) -> bool:
    if source.meta_graph and os.path.isfile(source.meta_graph):
        return True
    if source.saved_model and any(os.path.isfile(os.path.join(source.saved_model, name))
                                  for name in ("saved_model.pb", "saved_model.pbtxt")):
        return True
    directory = source.model_dir or os.path.dirname(source.path)
    return os.path.isfile(os.path.join(directory, "graph.pbtxt"))


def _meta_graph(source: paths.Source, options: Options) -> InferenceGraph:
    from migrate.rebuild import metagraph

    return metagraph.build_from_graph(source, outputs=options.outputs, features=options.features,
                                      inputs=options.inputs, assets=options.assets)


def _canned(source: paths.Source, options: Options) -> InferenceGraph:
    from migrate.rebuild import canned

    return canned.build_canned(source, features=options.features, assets=options.assets)


def _model_fn(source: paths.Source, options: Options) -> InferenceGraph:
    from migrate.rebuild import model_fn as estimator_compat

    if not options.model_fn:
        raise UnsupportedSource("--via model-fn needs --model-fn module:function")
    if not options.features:
        raise UnsupportedSource("--model-fn needs the model's inputs: --features SPEC.json "
                                "(e.g. {\"x\": {\"dtype\": \"float32\", \"shape\": [3]}})")
    model_fn = estimator_compat.load_model_fn(options.model_fn)
    return estimator_compat.model_fn_inference(source, model_fn, features=options.features,
                                               params=options.params)
