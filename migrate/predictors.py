"""Anything that predicts, behind one interface: a checkpoint or model dir (rebuilt
into an `InferenceGraph` by one of the ways), a SavedModel (loaded with TF 2.21's
`tf.saved_model.load`), a frozen GraphDef or an ONNX model (run by ONNX Runtime).

`verify`, `predict` and the self-checks of `export` and `freeze` only call
`features`, `output_keys`, `predict(feeds)` and `close()`.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Protocol

import numpy as np

from inspectors.errors import SourceNotFound, UnsupportedSource
from migrate.rebuild.inputs import BadInput
from inspectors.tf_loader import tensorflow
from migrate.rebuild.inference import INIT_TABLES, SERVING_DEFAULT, FeatureSpec, InferenceGraph, batch_shaped
from migrate.rebuild.assets import AssetSearch
from migrate.rebuild.options import Options
from migrate.reasons import error_line, initialize_tables

# Ops that end a graph without being a result.
_NOT_RESULTS = {"NoOp", "Assert", "Print", "PrintV2", "Save", "SaveV2", "SaveSlices",
                "Restore", "RestoreV2", "Assign", "AssignVariableOp", "InitializeTableV2",
                "InitializeTable", "InitializeTableFromTextFileV2", "Const", "Placeholder",
                "PlaceholderWithDefault", "VariableV2", "VarHandleOp", "HashTableV2",
                "MutableHashTableV2"}


class Predictor(Protocol):
    description: str
    features: tuple[FeatureSpec, ...]
    notes: list[str]

    @property
    def output_keys(self) -> tuple[str, ...]: ...

    def predict(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


def kind_of_artifact(given: str) -> str:
    """`saved-model`, `frozen-graph`, `onnx`, `recorded` or `checkpoint`, from the file
    system alone."""
    path = os.path.expanduser(given)
    if os.path.isfile(path) and path.endswith(".npz"):
        return "recorded"
    if os.path.isfile(path) and path.endswith(".onnx"):
        return "onnx"
    if os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name))
                                   for name in ("saved_model.pb", "saved_model.pbtxt")):
        return "saved-model"
    if os.path.isfile(path) and path.endswith((".pb", ".pbtxt")) and not path.endswith(".meta"):
        return "frozen-graph"
    if not os.path.exists(path) and "@" not in os.path.basename(path) and not _prefix_exists(path):
        raise SourceNotFound(f"no such file or directory: {given}")
    return "checkpoint"


def _prefix_exists(path: str) -> bool:
    directory = os.path.dirname(path) or "."
    base = os.path.basename(path)
    return os.path.isdir(directory) and any(name.startswith(base + ".") for name in os.listdir(directory))


def open_predictor(given: str, options: Options | None = None) -> Predictor:
    options = options or Options()
    kind = kind_of_artifact(given)
    if kind == "saved-model":
        return SavedModelPredictor(given, signature=options.signature)
    if kind == "recorded":
        return RecordedPredictions(given)
    if kind == "onnx":
        return OnnxPredictor(given)
    if kind == "frozen-graph":
        return FrozenGraphPredictor(given, outputs=options.outputs,
                                    allow_risky_ops=options.allow_risky_ops, assets=options.assets)
    from migrate.rebuild import choose as rebuild

    return GraphPredictor(rebuild.rebuild(given, options), description=given)


class GraphPredictor:
    """A rebuilt checkpoint (any way)."""

    def __init__(self, inference: InferenceGraph, *, description: str):
        self.inference = inference
        self.description = description
        self.features = inference.features
        self.notes = inference.notes

    @property
    def output_keys(self) -> tuple[str, ...]:
        return tuple(self.inference.outputs)

    def predict(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        inference = self.inference
        return fixed_width(inference.run(lambda chunk: run_session(
            inference.session, inference.outputs, inference.feed_dict(chunk),
            where=self.description), dict(feeds)))

    def close(self) -> None:
        self.inference.close()


class SavedModelPredictor:
    """A SavedModel as today's TensorFlow serves it: `tf.saved_model.load` + a signature."""

    def __init__(self, path: str, *, signature: str = SERVING_DEFAULT):
        tf = tensorflow()
        self.description = f"{path} (signature {signature})"
        self.notes: list[str] = []
        try:
            self._loaded = tf.saved_model.load(path)
        except Exception as error:  # TF raises many kinds for a broken SavedModel
            raise UnsupportedSource(f"{path}: TensorFlow cannot load this SavedModel: "
                                    f"{_first_line(error)}") from None
        signatures = self._loaded.signatures
        if signature not in signatures:
            raise UnsupportedSource(f"{path} has no signature {signature!r} "
                                    f"(it has: {', '.join(sorted(signatures)) or 'none'})")
        self._function = signatures[signature]
        specs = self._function.structured_input_signature[1]
        self.features = tuple(_feature_of(name, spec) for name, spec in sorted(specs.items()))
        self._dtypes = {name: spec.dtype for name, spec in specs.items()}
        self.fixed_batch = declared_batch(specs.values())

    @property
    def output_keys(self) -> tuple[str, ...]:
        return tuple(sorted(self._function.structured_outputs))

    def predict(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from migrate.rebuild.batch import predict_in_chunks

        if self.fixed_batch:
            return predict_in_chunks(self._predict, feeds, self.fixed_batch)
        return self._predict(feeds)

    def _predict(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        tf = tensorflow()
        specs = {spec.name: spec for spec in self.features}
        try:
            arguments = {name: tf.constant(batch_shaped(feeds[name], specs[name]), dtype=dtype)
                         for name, dtype in self._dtypes.items()}
            results = self._function(**arguments)
        except (ValueError, TypeError, tf.errors.OpError) as error:
            raise BadInput(f"{self.description} cannot run on these inputs: "
                           f"{error_line(error)}") from None
        return fixed_width({key: value.numpy() for key, value in results.items()})

    def close(self) -> None:
        self._loaded = self._function = None


def _dropout_off(graph_def: Any) -> list[str]:
    """An author's frozen graph may still take its dropout's keep probability: it is
    fed 1 (the mask is then all ones), so predictions are the model's, not noise."""
    from migrate.rebuild.surgery import fix_keep_prob

    fixed = fix_keep_prob(graph_def)
    return [f"keep-probability input(s) set to 1 (dropout is then the identity): "
            f"{', '.join(fixed)}"] if fixed else []


class FrozenGraphPredictor:
    """A frozen GraphDef: placeholders in, the named (or sink) tensors out."""

    def __init__(self, path: str, *, outputs: Mapping[str, str] | None = None,
                 allow_risky_ops: bool = False, assets: AssetSearch = AssetSearch()):
        from inspectors.graphs import io as graph_io
        from migrate import safety
        from migrate.rebuild import assets as asset_files

        tf = tensorflow()
        self.description = path
        loaded = graph_io.load(path)
        graph_def = type(loaded.units[0].graph_def)()
        graph_def.CopyFrom(loaded.units[0].graph_def)
        # Its vocabulary files, where they are now (a frozen graph names them by path).
        found = asset_files.locate(graph_def, search=assets,
                                   near=(os.path.dirname(os.path.abspath(path)),))
        self.notes: list[str] = [asset.note for asset in found]
        self.notes += _dropout_off(graph_def)
        safety.refuse_risky_ops(graph_def, allow=allow_risky_ops, where=path,
                                vetted=frozenset(asset.reader for asset in found))
        self.graph = tf.Graph()
        with self.graph.as_default():
            try:
                tf.compat.v1.import_graph_def(graph_def, name="")
            except (ValueError, tf.errors.OpError) as error:
                raise UnsupportedSource(f"{path}: TensorFlow cannot import this graph: "
                                        f"{_first_line(error)}") from None
        self._inputs = {node.name: self.graph.get_tensor_by_name(node.name + ":0")
                        for node in graph_def.node if node.op == "Placeholder"}
        self.features = tuple(_feature_of(name, tensor) for name, tensor in sorted(self._inputs.items()))
        self.fixed_batch = declared_batch(self._inputs.values())
        self._outputs = self._output_tensors(graph_def, outputs)
        self.session = tf.compat.v1.Session(graph=self.graph)
        if any(node.name == INIT_TABLES for node in graph_def.node):
            initialize_tables(self.session, self.graph.get_operation_by_name(INIT_TABLES),
                              where=path)

    def _output_tensors(self, graph_def: Any, outputs: Mapping[str, str] | None) -> dict[str, Any]:
        names = dict(outputs) if outputs else {name: name for name in _sinks(graph_def)}
        if not names:
            raise UnsupportedSource(f"{self.description}: no output found. Name them with "
                                    f"--outputs KEY=TENSOR")
        tensors = {}
        for key, name in names.items():
            tensor_name = name if ":" in name else name + ":0"
            try:
                tensors[key] = self.graph.get_tensor_by_name(tensor_name)
            except (KeyError, ValueError):
                raise UnsupportedSource(f"{self.description} has no tensor {tensor_name}") from None
        return tensors

    @property
    def output_keys(self) -> tuple[str, ...]:
        return tuple(self._outputs)

    def predict(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from migrate.rebuild.batch import predict_in_chunks

        specs = {spec.name: spec for spec in self.features}

        def run(chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            feed_dict = {tensor: batch_shaped(chunk[name], specs[name])
                         for name, tensor in self._inputs.items()}
            return run_session(self.session, self._outputs, feed_dict, where=self.description)

        if self.fixed_batch:
            return fixed_width(predict_in_chunks(run, feeds, self.fixed_batch))
        return fixed_width(run(feeds))

    def close(self) -> None:
        self.session.close()


# ONNX tensor element types -> the dtype names FeatureSpec uses.
_ONNX_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64",
                "tensor(float16)": "float16", "tensor(int64)": "int64", "tensor(int32)": "int32",
                "tensor(int16)": "int16", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
                "tensor(bool)": "bool", "tensor(string)": "string"}


class OnnxPredictor:
    """An ONNX model as ONNX Runtime serves it (CPU): inputs and outputs by name."""

    def __init__(self, path: str):
        import onnxruntime

        self.description = path
        self.notes: list[str] = []
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: warnings would reach the user's stderr
        try:
            self._session = onnxruntime.InferenceSession(path, options,
                                                         providers=["CPUExecutionProvider"])
        except Exception as error:  # ORT raises its own Fail/InvalidGraph/... kinds
            raise UnsupportedSource(f"{path}: ONNX Runtime cannot load this model: "
                                    f"{_first_line(error)}") from None
        self._inputs = {arg.name: arg for arg in self._session.get_inputs()}
        self.features = tuple(_onnx_feature(arg) for name, arg in sorted(self._inputs.items()))

    @property
    def output_keys(self) -> tuple[str, ...]:
        return tuple(arg.name for arg in self._session.get_outputs())

    def predict(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        specs = {spec.name: spec for spec in self.features}
        arguments = {name: _onnx_value(batch_shaped(feeds[name], specs[name],
                                                    rank=len(arg.shape)), specs[name].dtype)
                     for name, arg in self._inputs.items()}
        try:
            results = self._session.run(None, arguments)
        except Exception as error:  # ORT's InvalidArgument/Fail are not exported types
            raise BadInput(f"{self.description} cannot run on these inputs: "
                           f"{_first_line(error)}") from None
        return {key: _from_onnx(value) for key, value in zip(self.output_keys, results)}

    def close(self) -> None:
        self._session = None


def _onnx_feature(arg: Any) -> FeatureSpec:
    dtype = _ONNX_DTYPES.get(arg.type)
    if dtype is None:
        raise UnsupportedSource(f"input {arg.name} has ONNX type {arg.type}, which tfckpt "
                                f"cannot feed")
    dims = list(arg.shape)[1:]
    return FeatureSpec(name=arg.name, dtype=dtype,
                       shape=tuple(dim if isinstance(dim, int) else -1 for dim in dims))


def _onnx_value(values: np.ndarray, dtype: str) -> np.ndarray:
    """ONNX Runtime takes strings as Python str, numbers in the input's exact dtype."""
    if dtype == "string":
        text = [item.decode("utf-8") if isinstance(item, bytes) else str(item)
                for item in np.asarray(values, dtype=object).ravel()]
        return np.array(text, dtype=object).reshape(np.shape(values))
    return np.asarray(values, dtype=np.dtype(dtype))


def _from_onnx(value: Any) -> np.ndarray:
    """String outputs come back as str objects; make them bytes like TensorFlow's."""
    array = np.asarray(value)
    if array.dtype.kind in "OU":
        encoded = [item.encode("utf-8") if isinstance(item, str) else bytes(item)
                   for item in array.ravel()]
        return np.array(encoded, dtype=bytes).reshape(array.shape)
    return array


class RecordedPredictions:
    """What a model once predicted, saved as npz: `x:<feature>` inputs, `y:<key>` outputs.

    It "predicts" only its own inputs: verifying against it means running the
    other model on exactly those rows.
    """

    def __init__(self, path: str):
        self.description = path
        self.notes: list[str] = []
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (ValueError, OSError) as error:
            raise UnsupportedSource(f"{path} cannot be read as npz: {error}") from None
        self.inputs = {key[2:]: value for key, value in arrays.items() if key.startswith("x:")}
        self.outputs = {key[2:]: value for key, value in arrays.items() if key.startswith("y:")}
        if not self.inputs or not self.outputs:
            raise UnsupportedSource(f"{path} holds no recorded predictions: expected arrays "
                                    f"named x:<feature> and y:<output>")
        self.features = tuple(FeatureSpec(name=name, dtype=_dtype_name(value),
                                          shape=tuple(value.shape[1:]))
                              for name, value in sorted(self.inputs.items()))

    @property
    def output_keys(self) -> tuple[str, ...]:
        return tuple(self.outputs)

    def predict(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, recorded in self.inputs.items():
            given = np.asarray(feeds[name])
            if given.size != recorded.size or not np.array_equal(given.reshape(recorded.shape), recorded):
                raise UnsupportedSource(f"{self.description} holds predictions for its own inputs "
                                        f"only; verify against it without --input")
        return dict(self.outputs)

    def close(self) -> None:
        pass


def run_session(session: Any, fetches: Any, feed_dict: dict, *, where: str) -> Any:
    """session.run, with TensorFlow's complaints about the inputs as one-line errors."""
    tf = tensorflow()
    try:
        return session.run(fetches, feed_dict=feed_dict)
    except (ValueError, TypeError, tf.errors.OpError) as error:
        raise BadInput(f"{where} cannot run on these inputs: {error_line(error)}") from None


def declared_batch(specs: Any) -> int | None:
    """The batch every input declares as its fixed first dimension (None: any batch)."""
    firsts = {spec.shape.as_list()[0] if spec.shape.rank else None for spec in specs}
    first = firsts.pop() if len(firsts) == 1 else None
    return first if isinstance(first, int) and first > 0 else None


def _dtype_name(value: np.ndarray) -> str:
    return "string" if value.dtype.kind in "SUO" else str(value.dtype)


def fixed_width(outputs: dict[str, Any]) -> dict[str, np.ndarray]:
    """Strings come out of TensorFlow as object arrays; make them `S` arrays like the
    fixtures' (they compare element-wise and save without pickle)."""
    return {key: np.asarray(value).astype(bytes) if np.asarray(value).dtype.kind == "O"
            else np.asarray(value) for key, value in outputs.items()}


def _sinks(graph_def: Any) -> list[str]:
    """Nodes whose outputs nothing consumes: the results of a frozen inference graph."""
    used = {name.lstrip("^").split(":")[0] for node in graph_def.node for name in node.input}
    return sorted(node.name for node in graph_def.node
                  if node.name not in used and node.op not in _NOT_RESULTS)


def _feature_of(name: str, spec: Any) -> FeatureSpec:
    dims = spec.shape.as_list() if spec.shape.rank is not None else [None, -1]
    return FeatureSpec(name=name, dtype=spec.dtype.name,
                       shape=tuple(-1 if dim is None else dim for dim in dims[1:]))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
