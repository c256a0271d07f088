"""The `saved-model` way: a TF1 SavedModel given as the source, loaded as it is.

Nothing to cut: the author's own signature says which tensors go in and out.
Its serving meta graph is imported and its variables restored into a session,
so export writes it again for TensorFlow 2.21 (one `serving_default`, verified
like every other way) and freeze turns its variables into constants.
"""

from __future__ import annotations

import os

from inspectors.errors import UnsupportedSource
from inspectors.graphs import io as graph_io
from inspectors.tf_loader import tensorflow
from migrate.reasons import initialize_tables
from migrate.rebuild import assets as asset_files
from migrate.rebuild.inference import SAVED_MODEL, SERVING_DEFAULT, FeatureSpec, InferenceGraph

MARKERS = ("saved_model.pb", "saved_model.pbtxt")


def is_saved_model(given: str) -> bool:
    path = os.path.expanduser(given)
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name)) for name in MARKERS)


def build_from_saved_model(given: str, *, signature: str = SERVING_DEFAULT,
                           assets: asset_files.AssetSearch = asset_files.AssetSearch()
                           ) -> InferenceGraph:
    """Its serving meta graph imported as it is and restored from its variables. The
    files it reads are found first (its own assets/, else where --assets says) and its
    filename constants pointed at them: the TF1 loader would feed those paths only to
    its own main op, and the re-export runs the table initializers itself."""
    tf = tensorflow()
    v1 = tf.compat.v1
    path = os.path.expanduser(given)
    meta = _serving_meta(path, given)
    located = asset_files.locate(meta.graph_def, search=assets, meta=meta, near=(path,))
    graph = tf.Graph()
    session = v1.Session(graph=graph)
    try:
        with graph.as_default():
            _restore(v1, session, meta, path, given, tf)
            chosen = _signature(meta, signature, given)
            inputs = {key: graph.get_tensor_by_name(info.name) for key, info in sorted(chosen.inputs.items())}
            outputs = {key: graph.get_tensor_by_name(info.name) for key, info in chosen.outputs.items()}
            init = (v1.get_collection("saved_model_main_op") or v1.get_collection("legacy_init_op")
                    or [None])[0]
            for collection in ("saved_model_main_op", "legacy_init_op"):  # the export adds its own
                graph.clear_collection(collection)
            if not v1.get_collection(v1.GraphKeys.TABLE_INITIALIZERS):
                init = None  # it only set variables the loader has set (an asset's path)
            elif init is not None:
                initialize_tables(session, init, where=given)
        features = tuple(_feature(key, tensor) for key, tensor in inputs.items())
        notes = [f"saved-model: {given} loaded as it is (signature "
                 f"{signature if signature in meta.signature_def else 'predict'}"
                 f"), its variables re-saved for TF 2.21"]
        return InferenceGraph(graph=graph, session=session, inputs=inputs, outputs=outputs,
                              features=features, way=SAVED_MODEL, init_op=init,
                              notes=notes + [asset.note for asset in located], assets=located)
    except BaseException:
        session.close()
        raise


def _serving_meta(path: str, given: str):
    """The MetaGraphDef tagged `serve` (the first one when none is)."""
    loaded = graph_io.load(path)
    units = [unit for unit in loaded.units if unit.meta is not None]
    serving = [unit for unit in units if "serve" in unit.meta.meta_info_def.tags]
    if not (serving or units):
        raise UnsupportedSource(f"{given}: its saved_model.pb holds no meta graph")
    return (serving or units)[0].meta


def _restore(v1, session, meta, path: str, given: str, tf) -> None:
    """import_meta_graph, then its own Saver (or a new one) restores variables/variables."""
    try:
        saver = v1.train.import_meta_graph(meta, clear_devices=True)
    except (ValueError, TypeError, tf.errors.OpError) as error:
        raise UnsupportedSource(f"{given}: TensorFlow 2.21 cannot import its serving graph: "
                                f"{str(error).strip().splitlines()[0]}") from None
    if not v1.global_variables():
        return
    saver = saver or v1.train.Saver()
    prefix = os.path.join(path, "variables", "variables")
    try:
        saver.restore(session, prefix)
    except (ValueError, tf.errors.OpError) as error:
        raise UnsupportedSource(f"{given}: cannot restore its variables from {prefix}: "
                                f"{str(error).strip().splitlines()[0]}") from None


def _signature(meta, wanted: str, given: str):
    signatures = meta.signature_def
    if wanted in signatures:
        return signatures[wanted]
    predicting = sorted(key for key, value in signatures.items()
                        if value.method_name.endswith("/predict") and value.inputs)
    if predicting:
        return signatures[predicting[0]]
    raise UnsupportedSource(f"{given} has no signature {wanted!r} and none that predicts "
                            f"(it has: {', '.join(sorted(signatures)) or 'none'})")


def _feature(key: str, tensor) -> FeatureSpec:
    dims = tensor.shape.as_list() if tensor.shape.rank is not None else [None]
    return FeatureSpec(name=key, dtype=tensor.dtype.name,
                       shape=tuple(-1 if dim is None else dim for dim in dims[1:]))
