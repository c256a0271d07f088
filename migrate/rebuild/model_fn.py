"""Run an old-style Estimator `model_fn` in PREDICT mode on TensorFlow without `tf.estimator`.

Owns the stand-ins such code touches (`tf.estimator.ModeKeys`, `EstimatorSpec`,
`tf.estimator.export.PredictOutput` / `ClassificationOutput` / `RegressionOutput`,
and contrib's `tf.contrib.learn.ModeKeys` / `ModelFnOps`), loading a model_fn from
`module:function` or `path/to/file.py:function`, reading a feature spec, and
building the `model-fn` way's `InferenceGraph`: one placeholder per feature, the
model_fn's predictions, the checkpoint restored by a Saver.

The stand-ins are put on the `tensorflow` module only while the model_fn's module
is imported and while the model_fn runs, and removed afterwards; where a real
`tf.estimator` exists (TF <= 2.15) it is left alone. While the model_fn runs, the
global `tf` of its own module also answers TF 1.x names TF 2 dropped (`tf.layers`,
`tf.get_variable`, ...) from `tf.compat.v1`, as the classic examples were written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import json
import os
import sys
import types
import uuid
import warnings
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import numpy as np

from inspectors.sources import paths
from inspectors.formats.checkpoint import open_reader
from inspectors.errors import MappingConflict, SourceNotFound, UnsupportedSource
from inspectors.tf_loader import tensorflow
from migrate.reasons import error_line
from migrate.rebuild.inference import MODEL_FN, FeatureSpec, InferenceGraph

# tf.estimator's PredictOutput keyed a lone prediction tensor `output`, and a lone
# serving input tensor `input` (ServingInputReceiver's default names).
SINGLE_PREDICTION_KEY = "output"
BARE_INPUT_KEY = "input"
DICT, BARE = "dict", "bare"  # how features reach the model_fn
DERIVED_KINDS = ("embedding", "crossed", "bucketized", "indicator")  # not raw inputs
CATEGORICAL_KINDS = ("vocabulary", "hash", "identity")


# ---------------------------------------------------------------------------------------
# Stand-ins
# ---------------------------------------------------------------------------------------

class ModeKeys:
    """tf.estimator.ModeKeys: the same string values, so comparisons behave alike."""

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"


class EstimatorSpec(NamedTuple):
    """tf.estimator.EstimatorSpec's fields in its order; nothing is validated beyond mode."""

    mode: str
    predictions: Any = None
    loss: Any = None
    train_op: Any = None
    eval_metric_ops: Any = None
    export_outputs: Any = None
    training_chief_hooks: Any = None
    training_hooks: Any = None
    scaffold: Any = None
    evaluation_hooks: Any = None
    prediction_hooks: Any = None


class PredictOutput:
    def __init__(self, outputs: Any):
        self.outputs = outputs if isinstance(outputs, dict) else {SINGLE_PREDICTION_KEY: outputs}


class ClassificationOutput:
    def __init__(self, scores: Any = None, classes: Any = None):
        self.outputs = {k: v for k, v in (("scores", scores), ("classes", classes)) if v is not None}


class RegressionOutput:
    def __init__(self, value: Any):
        self.outputs = {"outputs": value}


class ContribModeKeys:
    """tf.contrib.learn.ModeKeys (INFER is the same string as PREDICT)."""

    TRAIN = "train"
    EVAL = "eval"
    INFER = "infer"


class ModelFnOps(NamedTuple):
    """tf.contrib.learn.ModelFnOps, as contrib-era model_fns returned it."""

    mode: str
    predictions: Any = None
    loss: Any = None
    train_op: Any = None
    eval_metric_ops: Any = None
    output_alternatives: Any = None
    training_chief_hooks: Any = None
    training_hooks: Any = None
    scaffold: Any = None


def estimator_module() -> types.ModuleType:
    """A module that looks like `tensorflow.estimator` to model_fn code."""
    module = types.ModuleType("tensorflow.estimator", "tfckpt stand-ins for tf.estimator")
    export = types.ModuleType("tensorflow.estimator.export")
    export.PredictOutput, export.ClassificationOutput = PredictOutput, ClassificationOutput
    export.RegressionOutput = RegressionOutput
    module.ModeKeys, module.EstimatorSpec, module.export = ModeKeys, EstimatorSpec, export
    return module


def contrib_module() -> types.ModuleType:
    contrib = types.ModuleType("tensorflow.contrib", "tfckpt stand-ins for tf.contrib.learn")
    learn = types.ModuleType("tensorflow.contrib.learn")
    learn.ModeKeys, learn.ModelFnOps = ContribModeKeys, ModelFnOps
    contrib.learn = learn
    contrib.layers = contrib_layers_module()
    return contrib


def contrib_layers_module() -> types.ModuleType:
    """The basics of tf.contrib.layers, making the variables contrib made under its names
    (`fully_connected/weights`, `.../biases`, `Conv/weights`), so checkpoints restore."""
    tf = tensorflow()
    layers = types.ModuleType("tensorflow.contrib.layers")
    layers.fully_connected = fully_connected
    layers.linear = lambda inputs, num_outputs, **kwargs: fully_connected(
        inputs, num_outputs, activation_fn=None, **kwargs)
    layers.conv2d = conv2d
    layers.flatten = lambda inputs, scope=None, **_: tf.compat.v1.layers.flatten(inputs, name=scope)
    layers.xavier_initializer = lambda uniform=True, seed=None, dtype=None: (
        tf.compat.v1.glorot_uniform_initializer(seed=seed) if uniform
        else tf.compat.v1.glorot_normal_initializer(seed=seed))
    layers.l2_regularizer = lambda scale, scope=None: (lambda weights: scale * tf.nn.l2_loss(weights))
    return layers


def fully_connected(inputs: Any, num_outputs: int, activation_fn: Any = "relu", *,
                    normalizer_fn: Any = None, normalizer_params: dict | None = None,
                    weights_initializer: Any = None, biases_initializer: Any = "zeros",
                    trainable: bool = True, reuse: Any = None, scope: Any = None,
                    **_ignored: Any) -> Any:
    """contrib.layers.fully_connected: weights [in, out], then biases or the normalizer."""
    tf = tensorflow()
    v1 = tf.compat.v1
    with v1.variable_scope(scope, "fully_connected", [inputs], reuse=reuse):
        inputs = tf.convert_to_tensor(inputs)
        weights = v1.get_variable("weights", [inputs.shape[-1], num_outputs], dtype=inputs.dtype,
                                  initializer=weights_initializer or v1.glorot_uniform_initializer(),
                                  trainable=trainable)
        if inputs.shape.rank == 2:
            outputs = tf.matmul(inputs, weights)
        else:
            outputs = tf.tensordot(inputs, weights, [[inputs.shape.rank - 1], [0]])
        return _bias_and_activation(outputs, num_outputs, activation_fn=activation_fn,
                                    normalizer_fn=normalizer_fn, normalizer_params=normalizer_params,
                                    biases_initializer=biases_initializer, trainable=trainable)


def conv2d(inputs: Any, num_outputs: int, kernel_size: Any, stride: Any = 1, padding: str = "SAME",
           activation_fn: Any = "relu", *, normalizer_fn: Any = None,
           normalizer_params: dict | None = None, weights_initializer: Any = None,
           biases_initializer: Any = "zeros", trainable: bool = True, reuse: Any = None,
           scope: Any = None, **_ignored: Any) -> Any:
    """contrib.layers.conv2d for NHWC inputs: `Conv/weights` [h, w, in, out], `Conv/biases`."""
    tf = tensorflow()
    v1 = tf.compat.v1
    height, width = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    strides = (stride, stride) if isinstance(stride, int) else tuple(stride)
    with v1.variable_scope(scope, "Conv", [inputs], reuse=reuse):
        inputs = tf.convert_to_tensor(inputs)
        weights = v1.get_variable("weights", [height, width, inputs.shape[-1], num_outputs],
                                  dtype=inputs.dtype, trainable=trainable,
                                  initializer=weights_initializer or v1.glorot_uniform_initializer())
        outputs = tf.nn.conv2d(inputs, weights, [1, *strides, 1], padding.upper())
        return _bias_and_activation(outputs, num_outputs, activation_fn=activation_fn,
                                    normalizer_fn=normalizer_fn, normalizer_params=normalizer_params,
                                    biases_initializer=biases_initializer, trainable=trainable)


def _bias_and_activation(outputs: Any, num_outputs: int, *, activation_fn: Any, normalizer_fn: Any,
                         normalizer_params: dict | None, biases_initializer: Any,
                         trainable: bool) -> Any:
    tf = tensorflow()
    v1 = tf.compat.v1
    if normalizer_fn is not None:
        outputs = normalizer_fn(outputs, **(normalizer_params or {}))
    elif biases_initializer is not None:
        initializer = v1.zeros_initializer() if biases_initializer == "zeros" else biases_initializer
        biases = v1.get_variable("biases", [num_outputs], dtype=outputs.dtype,
                                 initializer=initializer, trainable=trainable)
        outputs = tf.nn.bias_add(outputs, biases)
    activation = tf.nn.relu if activation_fn == "relu" else activation_fn  # contrib's default
    return activation(outputs) if activation is not None else outputs


@contextlib.contextmanager
def stand_ins() -> Iterator[None]:
    """tf.estimator (and tf.contrib.learn) stand-ins on the tensorflow module, removed after."""
    tf = tensorflow()
    estimator, contrib = estimator_module(), contrib_module()
    placed: list[tuple[Any, str]] = []
    modules: list[str] = []
    for owner, attr, value in ((tf, "estimator", estimator), (tf.compat.v1, "estimator", estimator),
                               (tf, "contrib", contrib), (tf.compat.v1, "contrib", contrib)):
        if not _has(owner, attr):
            setattr(owner, attr, value)
            placed.append((owner, attr))
    for owner, attr in placed:
        if owner is tf:  # `from tensorflow.estimator import ModeKeys` needs a module entry
            value = estimator if attr == "estimator" else contrib
            for name, module in _submodules(f"tensorflow.{attr}", value):
                if name not in sys.modules:
                    sys.modules[name] = module
                    modules.append(name)
    try:
        yield
    finally:
        for owner, attr in placed:
            with contextlib.suppress(AttributeError):
                delattr(owner, attr)
        for name in modules:
            sys.modules.pop(name, None)


def _submodules(name: str, module: types.ModuleType) -> list[tuple[str, types.ModuleType]]:
    found = [(name, module)]
    for attr, value in vars(module).items():
        if isinstance(value, types.ModuleType):
            found.append((f"{name}.{attr}", value))
    return found


def _has(owner: Any, attr: str) -> bool:
    try:
        return getattr(owner, attr, None) is not None
    except Exception:  # a lazy loader that fails to import is as good as absent
        return False


class _Tf1Facade(types.ModuleType):
    """TensorFlow as a TF 1.x model_fn saw it: `tf.compat.v1` first, so that names TF 2
    kept with another meaning (`tf.train` without Optimizers, Keras-style `tf.losses` and
    `tf.metrics`) answer as they did in 1.x; then the tensorflow module (`tf.estimator`
    stand-ins, anything v1 lacks)."""

    def __init__(self, tf: types.ModuleType):
        super().__init__("tensorflow")
        object.__setattr__(self, "_tf", tf)

    def __getattr__(self, name: str) -> Any:
        tf = object.__getattribute__(self, "_tf")
        try:
            return getattr(tf.compat.v1, name)
        except AttributeError:
            return getattr(tf, name)


@contextlib.contextmanager
def tf1_names(function: Callable) -> Iterator[None]:
    """Point the model_fn module's global `tf` at the facade while it runs."""
    tf = tensorflow()
    namespace = getattr(function, "__globals__", None)
    swapped = [name for name, value in (namespace or {}).items() if value is tf]
    for name in swapped:
        namespace[name] = _Tf1Facade(tf)
    try:
        yield
    finally:
        for name in swapped:
            namespace[name] = tf


# ---------------------------------------------------------------------------------------
# Loading a model_fn
# ---------------------------------------------------------------------------------------

def load_model_fn(spec: str) -> Callable:
    """`module:function` or `path/to/file.py:function` -> the function."""
    module_part, sep, function = spec.rpartition(":")
    if not sep or not module_part or not function:
        raise UnsupportedSource(f"--model-fn {spec!r} is not module:function. Pass e.g. "
                                f"my_model:model_fn or path/to/model.py:model_fn")
    tensorflow()  # sets the environment TF 1.x layers need before the module imports TF
    with stand_ins():
        module = _import(module_part)
    found = getattr(module, function, None)
    if found is None:
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        close = difflib.get_close_matches(function, names, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnsupportedSource(f"no function {function!r} in {module_part}.{hint}")
    if not callable(found):
        raise UnsupportedSource(f"{spec} is a {type(found).__name__}, not a function")
    return found


def _import(module_part: str) -> types.ModuleType:
    is_file = module_part.endswith(".py") or os.sep in module_part
    if is_file and not os.path.isfile(module_part):
        raise SourceNotFound(f"no such model_fn file: {module_part}. Pass path/to/file.py:function")
    try:
        if is_file:
            return _import_file(module_part)
        return importlib.import_module(module_part)
    except ModuleNotFoundError as error:
        if not is_file and error.name and module_part.startswith(error.name):
            raise UnsupportedSource(f"no module named {module_part!r} (from --model-fn). Pass "
                                    f"path/to/file.py:function or put the module on PYTHONPATH") from error
        raise UnsupportedSource(f"cannot import the model_fn module {module_part}: "
                                f"{_one_line(error)}") from error
    except Exception as error:  # SyntaxError, NameError, ...: whatever the module raises
        raise UnsupportedSource(f"cannot import the model_fn module {module_part}: "
                                f"{_one_line(error)}") from error


def _import_file(path: str) -> types.ModuleType:
    """Import a .py file by path, with its folder importable for its sibling modules."""
    name = f"tfckpt_model_fn_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        sys.dont_write_bytecode = saved
        if added:
            sys.path.remove(folder)
    return module


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, SyntaxError) and error.lineno:
        text = f"{error.msg} (line {error.lineno})"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# ---------------------------------------------------------------------------------------
# Feature specs
# ---------------------------------------------------------------------------------------

def read_feature_spec(text_or_path: str) -> tuple[FeatureSpec, ...]:
    """Features from JSON (inline or a file): `{"x": {"dtype": "float32", "shape": [3]}}`.

    Also accepts a whole fixture `case.json` (its `feature_spec`). Extra keys are
    allowed; `vocabulary_list` / `hash_bucket_size` are kept; derived columns
    (embedding, crossed, ...) are not inputs and are skipped. Defaults: dtype
    float32 (string for vocabulary / hash kinds), shape [1] as numeric_column's.
    """
    where = "--features"
    text = text_or_path
    if os.path.isfile(text_or_path):
        where = text_or_path
        with open(text_or_path, encoding="utf-8") as handle:
            text = handle.read()
    elif not text_or_path.lstrip().startswith("{"):
        raise SourceNotFound(f"--features {text_or_path!r} is neither a file nor inline JSON. "
                             f"Pass e.g. '{{\"x\": {{\"dtype\": \"float32\", \"shape\": [3]}}}}'")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnsupportedSource(f"feature spec in {where} is not valid JSON: {error.msg} "
                                f"(line {error.lineno}, column {error.colno})") from error
    if isinstance(document, dict) and isinstance(document.get("feature_spec"), dict):
        document = document["feature_spec"]
    if not isinstance(document, dict) or not document:
        raise UnsupportedSource(f"feature spec in {where} must be a JSON object keyed by "
                                f"feature name, e.g. {{\"x\": {{\"dtype\": \"float32\", \"shape\": [3]}}}}")
    specs = [_feature(name, entry, where) for name, entry in document.items()]
    return tuple(spec for spec in specs if spec is not None)


def _feature(name: str, entry: Any, where: str) -> FeatureSpec | None:
    if not isinstance(entry, dict):
        raise UnsupportedSource(f"feature {name!r} in {where} must be an object with dtype "
                                f"and shape, not {json.dumps(entry)}")
    kind = entry.get("kind", "numeric")
    if kind in DERIVED_KINDS:
        return None
    dtype = entry.get("dtype", "string" if kind in ("vocabulary", "hash") else "float32")
    if not _valid_dtype(dtype):
        raise UnsupportedSource(f"feature {name!r} in {where} has an unknown dtype {dtype!r}. "
                                f"Use e.g. float32, int64 or string")
    shape = entry.get("shape", [1])
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool)
                                              and d >= -1 for d in shape):
        raise UnsupportedSource(f"feature {name!r} in {where} has shape {json.dumps(shape)}; "
                                f"give a list of sizes without the batch dimension (-1: unknown)")
    vocabulary = entry.get("vocabulary_list") or entry.get("vocabulary") or ()
    buckets = entry.get("hash_bucket_size", entry.get("hash_buckets"))
    return FeatureSpec(name=name, dtype=dtype, shape=tuple(shape),
                       vocabulary=tuple(str(v) for v in vocabulary),
                       hash_buckets=int(buckets) if buckets is not None else None)


def _valid_dtype(dtype: Any) -> bool:
    if dtype == "string":
        return True
    try:
        return isinstance(dtype, str) and np.dtype(dtype).kind in "biuf"
    except TypeError:
        return False


# ---------------------------------------------------------------------------------------
# The model-fn way
# ---------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RestorePlan:
    """Which checkpoint key fills each graph variable key."""

    by_key: dict[str, str]  # graph key -> checkpoint key
    renamed: tuple[tuple[str, str], ...]  # (checkpoint key, graph key) found by a preset
    initialized: tuple[str, ...]  # graph keys left to their initializer (global_step only)

    def to_dict(self) -> dict:
        return {"by_key": dict(self.by_key), "renamed": [list(p) for p in self.renamed],
                "initialized": list(self.initialized)}


def model_fn_inference(source: paths.Source, model_fn: Callable, *,
                       features: tuple[FeatureSpec, ...], params: dict | None,
                       presets: Sequence[str] = ()) -> InferenceGraph:
    """Build the model_fn's PREDICT graph with placeholders and restore the checkpoint."""
    tf = tensorflow()
    features = bare_named(features)
    graph, inputs, outputs, notes = build_first_that_works(model_fn, features=features,
                                                           params=params)
    with graph.as_default():
        plan = restore_plan(source, graph_keys(tf), presets=presets,
                            needed=needed_keys(outputs.values()))
        saver = tf.compat.v1.train.Saver(var_list=saver_var_list(tf, plan), sharded=False)
        leftovers = [v for v in tf.compat.v1.global_variables() if _key(v) in plan.initialized]
        init_op = tf.compat.v1.tables_initializer(name="tfckpt_init_tables")
    session = tf.compat.v1.Session(graph=graph)
    try:
        with graph.as_default():  # outside it, TF 2 would run the Saver eagerly
            saver.restore(session, source.path)
            if leftovers:
                session.run(tf.compat.v1.variables_initializer(leftovers))
            session.run(init_op)
    except tf.errors.OpError as error:
        session.close()
        raise MappingConflict(f"cannot restore {source.given} into the model_fn's graph: "
                              f"{error_line(error)}") from error
    notes = [f"model_fn {getattr(model_fn, '__name__', model_fn)} built in PREDICT mode", *notes]
    notes += [f"restored {old} as {new} (rename preset)" for old, new in plan.renamed]
    notes += [f"{key} is not in the checkpoint: left at its initial value"
              + ("" if key == "global_step" else " (no prediction depends on it)")
              for key in plan.initialized]
    return InferenceGraph(graph=graph, session=session, inputs=inputs, outputs=outputs,
                          features=tuple(features), way=MODEL_FN, init_op=init_op, notes=notes)


def bare_named(features: tuple[FeatureSpec, ...]) -> tuple[FeatureSpec, ...]:
    """A lone feature given without a name ("") is the bare tensor an input_fn returned;
    it is served under the key tf.estimator gave a lone input."""
    if len(features) == 1 and not features[0].name:
        return (dataclasses.replace(features[0], name=BARE_INPUT_KEY),)
    return tuple(features)


def build_first_that_works(model_fn: Callable, *, features: tuple[FeatureSpec, ...],
                           params: dict | None) -> tuple[Any, dict, dict, list[str]]:
    """(graph, inputs, outputs, notes) of the first way of calling the model_fn that builds.

    Estimators called model_fns in ways a PREDICT call today does not repeat: with
    the bare tensor an input_fn returned instead of a dict, and with labels their
    loss was computed from even when predicting. Each attempt builds in a fresh
    graph: features as a dict (or bare when the lone feature had no name), then the
    other form for a lone feature; labels None, then stand-in labels of each dtype.
    """
    tf = tensorflow()
    forms = [DICT, BARE] if len(features) == 1 else [DICT]
    if len(features) == 1 and features[0].name == BARE_INPUT_KEY:
        forms.reverse()
    first_error: UnsupportedSource | None = None
    for form in forms:
        for labels in (None, *LABEL_DTYPES):
            graph = tf.Graph()
            with graph.as_default():
                try:
                    inputs, outputs = build_predict_graph(model_fn, features=features,
                                                          params=params, form=form, labels=labels)
                except ModelFnFailed as error:
                    first_error = first_error or error
                    continue
            notes = [f"the model_fn got its lone feature as a bare tensor"] if form == BARE else []
            if labels is not None:
                notes.append(f"the model_fn needs labels even in PREDICT mode: given {labels} "
                             f"zeros that only its loss reads; only its predictions are kept")
            return graph, inputs, outputs, notes
    raise first_error


LABEL_DTYPES = ("float32", "int64", "int32")  # regression targets, then class ids


def build_predict_graph(model_fn: Callable, *, features: tuple[FeatureSpec, ...],
                        params: dict | None, form: str = DICT,
                        labels: str | None = None) -> tuple[dict, dict]:
    """In the current graph: placeholders, global step, model_fn(PREDICT) -> (inputs, outputs)."""
    tf = tensorflow()
    if not features:
        raise UnsupportedSource("the model_fn way needs the model's inputs: pass a feature spec "
                                "(e.g. {\"x\": {\"dtype\": \"float32\", \"shape\": [3]}})")
    inputs = {f.name: tf.compat.v1.placeholder(tf.as_dtype(f.dtype),
                                               [None, *(None if d < 0 else d for d in f.shape)],
                                               name=_op_name(f.name))
              for f in features}
    tf.compat.v1.train.get_or_create_global_step()  # as Estimator.predict does first
    given = next(iter(inputs.values())) if form == BARE else dict(inputs)
    with stand_ins(), tf1_names(model_fn):
        label_tensor = stand_in_labels(next(iter(inputs.values())), labels) if labels else None
        spec = call_model_fn(model_fn, given, params=params, labels=label_tensor)
        outputs = prediction_tensors(spec, model_fn)
    return inputs, outputs


def stand_in_labels(first_input: Any, dtype: str) -> Any:
    """Zeros, one row per example, of unknown static shape: loss code built on them
    accepts [batch] and [batch, 1] alike, and nothing that is fetched reads them."""
    tf = tensorflow()
    rows = tf.shape(first_input)[:1]
    shape = tf.concat([rows, [1]], 0) if dtype.startswith("float") else rows
    return tf.compat.v1.placeholder_with_default(tf.zeros(shape, tf.as_dtype(dtype)), shape=None,
                                                 name="tfckpt_labels")


def needed_keys(outputs: Any) -> set[str]:
    """Op names of the variables the prediction tensors depend on."""
    seen: set[str] = set()
    pending = [tensor.op for tensor in outputs]
    while pending:
        op = pending.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        pending += [tensor.op for tensor in op.inputs] + list(op.control_inputs)
    return seen


class ModelFnFailed(UnsupportedSource):
    """The model_fn raised while building its PREDICT graph."""


def call_model_fn(model_fn: Callable, features: Any, *, params: dict | None,
                  labels: Any = None) -> Any:
    """Call as Estimator did: features (and labels/targets, None) by position, then mode,
    params and config by name where the function takes them."""
    offered = {"mode": ModeKeys.PREDICT, "params": dict(params or {}), "config": None}
    try:
        accepted = list(inspect.signature(model_fn).parameters)
    except (TypeError, ValueError):
        accepted = ["features", "labels", *offered]
    args: list[Any] = [features]
    if len(accepted) > 1 and accepted[1] not in offered:
        args.append(labels)  # labels (tf.estimator) or targets (tf.contrib.learn)
    kwargs = {name: value for name, value in offered.items() if name in accepted[len(args):]}
    name = getattr(model_fn, "__name__", repr(model_fn))
    try:
        with warnings.catch_warnings():  # tf.layers' deprecation notices are not news here
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return model_fn(*args, **kwargs)
    except Exception as error:
        raise ModelFnFailed(f"model_fn {name} failed in PREDICT mode: "
                            f"{_one_line(error)}") from error


def prediction_tensors(spec: Any, model_fn: Callable) -> dict[str, Any]:
    tf = tensorflow()
    name = getattr(model_fn, "__name__", repr(model_fn))
    predictions = getattr(spec, "predictions", None)
    if isinstance(spec, tuple) and not hasattr(spec, "_fields") and spec:
        predictions = spec[0]  # contrib.learn's (predictions, loss, train_op)
    if predictions is None:
        raise UnsupportedSource(f"model_fn {name} returned no predictions in PREDICT mode "
                                f"(got {type(spec).__name__}). It must return an EstimatorSpec "
                                f"with predictions=")
    if not isinstance(predictions, dict):
        predictions = {SINGLE_PREDICTION_KEY: predictions}
    return {str(key): tf.convert_to_tensor(value) for key, value in predictions.items()}


def graph_keys(tf) -> dict[str, list]:
    """Checkpoint key -> the graph variables saved under it (partitions share a key)."""
    keys: dict[str, list] = {}
    for variable in tf.compat.v1.global_variables():
        keys.setdefault(_key(variable), []).append(variable)
    return keys


def _key(variable) -> str:
    info = getattr(variable, "_save_slice_info", None)
    return info.full_name if info else variable.op.name


def restore_plan(source: paths.Source, keys: dict[str, list], *,
                 presets: Sequence[str] = (), needed: set[str] | None = None) -> RestorePlan:
    """Match graph keys to checkpoint keys: exactly, then through rename presets.

    Keys the checkpoint lacks are left to their initializers when no prediction
    depends on them (`needed`: the op names the outputs reach), as optimizer
    slots a model_fn builds unconditionally; global_step always."""
    available = {info.name for info in open_reader(source).variables()}
    by_key = {key: key for key in keys if key in available}
    renamed = []
    if len(by_key) < len(keys) and presets:
        for old, new in preset_renames(source, presets).items():
            if new in keys and new not in by_key and old in available:
                by_key[new] = old
                renamed.append((old, new))
    missing = sorted(set(keys) - set(by_key))
    unused = {k for k in missing if needed is not None
              and not any(v.op.name in needed for v in keys[k])}
    initialized = tuple(k for k in missing if k == "global_step" or k in unused)
    missing = [k for k in missing if k not in initialized]
    if missing:
        raise MappingConflict(_missing_message(source, missing, sorted(available), presets))
    return RestorePlan(by_key=by_key, renamed=tuple(sorted(renamed)), initialized=initialized)


def preset_renames(source: paths.Source, presets: Sequence[str]) -> dict[str, str]:
    """old checkpoint name -> new name under the given rename presets (pure renames only:
    a Saver restores a key under another name, it cannot merge or fold values)."""
    from migrate.names import plan as rename_plan

    plan = rename_plan.build_plan(source.given, [rename_plan.StepSpec(kind="preset", value=p) for p in presets])
    return {entry.sources[0]: entry.new for entry in plan.entries
            if entry.is_copy and entry.new != entry.sources[0]}


def _missing_message(source: paths.Source, missing: list[str], available: list[str],
                     presets: Sequence[str]) -> str:
    shown = []
    for key in missing[:5]:
        close = difflib.get_close_matches(key, available, n=1, cutoff=0.5)
        shown.append(f"{key} (closest: {close[0]})" if close else key)
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    hint = ("Pass a rename preset that maps them (e.g. layers-weights-to-kernel)" if not presets
            else "The presets did not map them; map the checkpoint first with `tfckpt map`")
    return (f"the model_fn's graph needs {len(missing)} variable(s) that {source.given} lacks: "
            f"{', '.join(shown)}{more}. {hint}")


def saver_var_list(tf, plan: RestorePlan) -> dict[str, Any]:
    """{checkpoint key: variable or its partitions} for the keys to restore."""
    keys = graph_keys(tf)
    return {old: _saveable(keys[new]) for new, old in plan.by_key.items()}


def _saveable(variables: list) -> Any:
    """A whole variable as itself; the parts of a partitioned one (even one part) as a list."""
    if len(variables) == 1 and getattr(variables[0], "_save_slice_info", None) is None:
        return variables[0]
    return variables


def _op_name(feature: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-/" else "_" for c in feature)
    return cleaned if cleaned and cleaned[0].isalnum() else f"feature_{cleaned}"
