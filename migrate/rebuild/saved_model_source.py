"""The `saved-model` way: a TF1 SavedModel given as the source, loaded as it is.

Nothing to cut: the author's own signature says which tensors go in and out.
The TF1 loader restores its variables into a session, so export writes it
again for TensorFlow 2.21 (one `serving_default`, verified like every other
way) and freeze turns its variables into constants.
"""

from __future__ import annotations

import os

from inspectors.errors import UnsupportedSource
from inspectors.tf_loader import tensorflow
from migrate.rebuild.inference import SAVED_MODEL, SERVING_DEFAULT, FeatureSpec, InferenceGraph

MARKERS = ("saved_model.pb", "saved_model.pbtxt")


def is_saved_model(given: str) -> bool:
    path = os.path.expanduser(given)
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name)) for name in MARKERS)


def build_from_saved_model(given: str, *, signature: str = SERVING_DEFAULT) -> InferenceGraph:
    tf = tensorflow()
    v1 = tf.compat.v1
    graph = tf.Graph()
    session = v1.Session(graph=graph)
    try:
        with graph.as_default():
            try:
                meta = v1.saved_model.loader.load(session, [v1.saved_model.tag_constants.SERVING],
                                                  os.path.expanduser(given))
            except (RuntimeError, ValueError, OSError, tf.errors.OpError) as error:
                raise UnsupportedSource(f"{given}: the TF1 loader cannot load this SavedModel "
                                        f"(tag serve): {str(error).strip().splitlines()[0]}") from None
            chosen = _signature(meta, signature, given)
            inputs = {key: graph.get_tensor_by_name(info.name) for key, info in sorted(chosen.inputs.items())}
            outputs = {key: graph.get_tensor_by_name(info.name) for key, info in chosen.outputs.items()}
            init = (v1.get_collection("saved_model_main_op") or v1.get_collection("legacy_init_op")
                    or [None])[0]
            for collection in ("saved_model_main_op", "legacy_init_op"):  # the export adds its own
                graph.clear_collection(collection)
            if not v1.get_collection(v1.GraphKeys.TABLE_INITIALIZERS):
                init = None  # it only set variables the loader has set (an asset's path)
        features = tuple(_feature(key, tensor) for key, tensor in inputs.items())
        return InferenceGraph(graph=graph, session=session, inputs=inputs, outputs=outputs,
                              features=features, way=SAVED_MODEL, init_op=init,
                              notes=[f"saved-model: {given} loaded as it is (signature "
                                     f"{signature if signature in meta.signature_def else 'predict'}"
                                     f"), its variables re-saved for TF 2.21"])
    except BaseException:
        session.close()
        raise


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
