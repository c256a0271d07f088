"""InferenceGraph -> SavedModel that TF 2.21's `tf.saved_model.load` serves.

Signatures: `serving_default` and `predict` take the raw features (one input
per feature key) and return every prediction key. With `parsing`, a serialized
`tf.Example` input (`examples`) is added the way the Estimator's parsing
receiver did: `parsing` (all outputs), and `classification` or `regression`
where the head fits. The examples path reuses the model's variables: the part
of the graph that depends on the feature placeholders is imported a second
time with the parsed features in their place.

Files the graph reads (vocabularies, `InferenceGraph.assets`) are copied into
the SavedModel's `assets/` and wired as its asset files, so the export serves
after the model dir it came from is moved or deleted.
"""

from __future__ import annotations

from typing import Any

from inspectors.errors import UnsupportedSource
from inspectors.tf_loader import tensorflow
from migrate.rebuild.inference import FeatureSpec, InferenceGraph
from migrate.rebuild.inference import SERVING_DEFAULT

PREDICT, PARSING, CLASSIFICATION, REGRESSION = "predict", "parsing", "classification", "regression"
EXAMPLES = "examples"


def write_saved_model(inference: InferenceGraph, path: str, *, parsing: bool = False) -> tuple[str, ...]:
    """Write the SavedModel into `path` (which must not exist); return its signature names."""
    tf = tensorflow()
    v1 = tf.compat.v1
    with inference.graph.as_default():
        signatures = {SERVING_DEFAULT: _predict_signature(inference.inputs, inference.outputs),
                      PREDICT: _predict_signature(inference.inputs, inference.outputs)}
        if parsing:
            signatures.update(_parsing_signatures(inference))
        builder = v1.saved_model.Builder(path)
        # Asset tensors: the Builder copies the files they name into assets/ and the
        # loader feeds their new paths to the table initializers (self-contained).
        assets = [inference.graph.get_tensor_by_name(asset.node + ":0")
                  for asset in inference.assets] or None
        builder.add_meta_graph_and_variables(
            inference.session, [v1.saved_model.tag_constants.SERVING],
            signature_def_map=signatures, main_op=inference.init_op, assets_collection=assets,
            strip_default_attrs=True, clear_devices=True)
        builder.save()
    return tuple(sorted(signatures))


def _predict_signature(inputs: dict[str, Any], outputs: dict[str, Any]) -> Any:
    tf = tensorflow()
    return tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
        inputs=inputs, outputs=outputs)


def _parsing_signatures(inference: InferenceGraph) -> dict[str, Any]:
    tf = tensorflow()
    utils = tf.compat.v1.saved_model.signature_def_utils
    examples = tf.compat.v1.placeholder(tf.string, shape=[None], name="input_example_tensor")
    parsed = tf.io.parse_example(examples, {spec.name: _example_feature(spec)
                                            for spec in inference.features})
    outputs = reimport_with_inputs(inference, parsed, scope="parsing")
    signatures = {PARSING: utils.predict_signature_def({EXAMPLES: examples}, outputs)}
    scores = outputs.get("probabilities")
    classes = outputs.get("all_classes")
    if scores is not None and classes is not None:
        signatures[CLASSIFICATION] = utils.classification_signature_def(examples, classes, scores)
    elif "predictions" in outputs:
        signatures[REGRESSION] = utils.regression_signature_def(examples, outputs["predictions"])
    return signatures


def _example_feature(spec: FeatureSpec) -> Any:
    tf = tensorflow()
    if any(dim < 0 for dim in spec.shape):
        raise UnsupportedSource(f"feature {spec.name} has shape {list(spec.shape)}: a parsing "
                                f"signature needs every dimension known")
    dtype = {"string": tf.string, "int64": tf.int64, "int32": tf.int64}.get(spec.dtype, tf.float32)
    return tf.io.FixedLenFeature(list(spec.shape), dtype)


def reimport_with_inputs(inference: InferenceGraph, replacements: dict[str, Any], *,
                         scope: str) -> dict[str, Any]:
    """Copy the part of the graph fed by the placeholders, with `replacements` as inputs.

    Nodes that do not depend on a placeholder (variables, their reads, constants,
    tables) are not copied: the copy refers to the originals, so one set of
    variables serves both paths.
    """
    tf = tensorflow()
    graph_def = inference.graph.as_graph_def()
    placeholders = {tensor.op.name: name for name, tensor in inference.inputs.items()}
    downstream = _downstream(graph_def, set(placeholders))
    copied = tf.compat.v1.GraphDef()
    copied.versions.CopyFrom(graph_def.versions)
    input_map = {}
    for node in graph_def.node:
        if node.name not in downstream or node.name in placeholders:
            continue
        copy = copied.node.add()
        copy.CopyFrom(node)
        del copy.input[:]
        if "_class" in copy.attr:  # colocation with nodes that stay outside the copy
            del copy.attr["_class"]
        for name in node.input:
            source = name.lstrip("^").split(":")[0]
            if source in placeholders:
                tensor = replacements[placeholders[source]]
                input_map[name] = _cast_like(tensor, inference.inputs[placeholders[source]])
            elif source not in downstream:
                if name.startswith("^"):
                    continue  # an ordering edge to a shared node: not needed for inference
                input_map[name] = inference.graph.get_tensor_by_name(_tensor_name(name))
            copy.input.append(name)
    wanted = {key: tensor.name for key, tensor in inference.outputs.items()
              if tensor.op.name in downstream}
    results = tf.compat.v1.import_graph_def(copied, input_map=input_map,
                                            return_elements=list(wanted.values()), name=scope)
    copies = dict(zip(wanted, results))
    # An output no feature feeds (a constant) is shared as it is.
    return {key: copies.get(key, tensor) for key, tensor in inference.outputs.items()}


def _downstream(graph_def: Any, roots: set[str]) -> set[str]:
    users: dict[str, list[str]] = {}
    for node in graph_def.node:
        for name in node.input:
            users.setdefault(name.lstrip("^").split(":")[0], []).append(node.name)
    seen, todo = set(roots), list(roots)
    while todo:
        for user in users.get(todo.pop(), []):
            if user not in seen:
                seen.add(user)
                todo.append(user)
    return seen


def _cast_like(tensor: Any, placeholder: Any) -> Any:
    tf = tensorflow()
    if tensor.dtype != placeholder.dtype:
        tensor = tf.cast(tensor, placeholder.dtype)
    return tensor


def _tensor_name(name: str) -> str:
    return name if ":" in name else name + ":0"
