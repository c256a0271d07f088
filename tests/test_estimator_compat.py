"""estimator_compat: old-style model_fns run in PREDICT mode on TF 2.21 (no tf.estimator) and
reproduce the predictions the real Estimator recorded; stand-ins never leak; bad input is one line."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

from conftest import FIXTURES
from fixture_cases import GENERATOR, assert_same_outputs, load_case, load_predictions, split_predictions
from inspectors.errors import EXIT_BAD_INPUT, MappingConflict, SourceNotFound, UnsupportedSource
from inspectors.sources.paths import resolve
from migrate.rebuild import model_fn as compat
from migrate.rebuild.inference import FeatureSpec

CASES = {"custom-linear-regression": "linear_regression_model_fn",
         "custom-softmax-classifier": "softmax_classifier_model_fn"}

# The fixtures' model_fns written as an r1.4-era user module would: `tf.layers`,
# `tf.get_variable`, tf.estimator at import time, a single prediction tensor.
OLD_STYLE = '''
import tensorflow as tf
from tensorflow.estimator import ModeKeys

PREDICT = tf.estimator.ModeKeys.PREDICT


def regression(features, labels, mode, params):
    x = tf.cast(features["x"], tf.float32)
    weights = tf.get_variable("weights", [params["n_inputs"], 1])
    bias = tf.get_variable("bias", [1], initializer=tf.zeros_initializer())
    predictions = tf.squeeze(tf.matmul(x, weights) + bias, axis=1)
    assert mode == ModeKeys.PREDICT == PREDICT and labels is None
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions,
        export_outputs={"serving_default": tf.estimator.export.PredictOutput(predictions)})


def classifier(features, mode, params):
    logits = tf.layers.dense(tf.cast(features["x"], tf.float32), params["n_classes"])
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode=mode, predictions={
            "probabilities": tf.nn.softmax(logits), "classes": tf.argmax(logits, axis=1)})
    raise AssertionError("PREDICT only")


def contrib_regression(features, targets, mode):
    from tensorflow.contrib import learn
    x = features["x"]
    weights = tf.get_variable("weights", [3, 1])
    bias = tf.get_variable("bias", [1])
    assert mode == tf.contrib.learn.ModeKeys.INFER
    return learn.ModelFnOps(mode, predictions=tf.squeeze(tf.matmul(x, weights) + bias, axis=1))


def misnamed(features, labels, mode, params):
    weights = tf.get_variable("weight", [3, 1])
    bias = tf.get_variable("bias_term", [1])
    return tf.estimator.EstimatorSpec(mode, predictions=tf.matmul(features["x"], weights) + bias)


def no_predictions(features, labels, mode, params):
    return tf.estimator.EstimatorSpec(mode, loss=tf.constant(0.0))


def broken(features, labels, mode, params):
    return features["nope"]


not_a_function = 3
'''


def model_module(tmp_path, text: str = OLD_STYLE, name: str = "old_model.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def predict(case: str, model_fn, *, features=None, params=None):
    info = load_case(case)
    features = features or compat.read_feature_spec(str(FIXTURES / case / "case.json"))
    inference = compat.model_fn_inference(
        resolve(str(FIXTURES / case / "model_dir")), model_fn, features=features,
        params=info["estimator"]["params"] if params is None else params)
    x, _ = split_predictions(load_predictions(case))
    try:
        return inference, inference.predict(x)
    finally:
        inference.close()


def recorded(case: str) -> dict:
    return split_predictions(load_predictions(case))[1]


# ---------------------------------------------------------------------------------------
# Predictions
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(CASES))
def test_fixture_model_fns_reproduce_the_estimator_predictions(tf, case):
    assert not hasattr(tf, "estimator")  # TF 2.21: the stand-ins are what makes this run
    model_fn = compat.load_model_fn(f"{GENERATOR}:{CASES[case]}")
    inference, got = predict(case, model_fn)
    assert inference.way == "model-fn"
    assert sorted(inference.outputs) == sorted(load_case(case)["prediction_keys"])
    assert_same_outputs(recorded(case), got)


def test_old_style_module_runs_and_a_single_tensor_is_keyed_output(tf, tmp_path):
    model_fn = compat.load_model_fn(model_module(tmp_path) + ":regression")
    inference, got = predict("custom-linear-regression", model_fn)
    assert list(inference.outputs) == ["output"]  # tf.estimator's PredictOutput name
    assert inference.inputs["x"].shape.as_list() == [None, 3]
    # The fixture's own model_fn keyed the same tensor `predictions`.
    assert_same_outputs(recorded("custom-linear-regression"), {"predictions": got["output"]})


def test_model_fn_taking_only_features_mode_params(tf, tmp_path):
    model_fn = compat.load_model_fn(model_module(tmp_path) + ":classifier")
    _, got = predict("custom-softmax-classifier", model_fn)
    assert_same_outputs(recorded("custom-softmax-classifier"), got)


def test_contrib_learn_model_fn_with_model_fn_ops(tf, tmp_path):
    model_fn = compat.load_model_fn(model_module(tmp_path) + ":contrib_regression")
    _, got = predict("custom-linear-regression", model_fn, params={})
    assert_same_outputs(recorded("custom-linear-regression"), {"predictions": got["output"]})


def test_stand_ins_do_not_leak(tf, tmp_path):
    path = model_module(tmp_path)
    model_fn = compat.load_model_fn(path + ":regression")
    predict("custom-linear-regression", model_fn)
    assert not hasattr(tf, "estimator") and not hasattr(tf.compat.v1, "estimator")
    assert not hasattr(tf, "contrib")
    assert "tensorflow.estimator" not in sys.modules and "tensorflow.contrib" not in sys.modules
    assert model_fn.__globals__["tf"] is tf  # the TF 1.x facade is gone again
    with pytest.raises(AttributeError):
        tf.estimator.ModeKeys  # noqa: B018


def test_global_step_missing_from_the_checkpoint_is_initialized(tf, tmp_path):
    from migrate.write.rewrite import write_bundle

    source = resolve(str(FIXTURES / "custom-linear-regression" / "model_dir"))
    reader = tf.train.load_checkpoint(source.path)
    (tmp_path / "ckpt").mkdir()
    prefix = str(tmp_path / "ckpt" / "model.ckpt")
    write_bundle(prefix, [(n, reader.get_tensor(n)) for n in ("bias", "weights")])
    model_fn = compat.load_model_fn(f"{GENERATOR}:linear_regression_model_fn")
    inference = compat.model_fn_inference(
        resolve(prefix), model_fn, features=(FeatureSpec("x", "float32", (3,)),),
        params={"n_inputs": 3})
    x, _ = split_predictions(load_predictions("custom-linear-regression"))
    assert_same_outputs(recorded("custom-linear-regression"), inference.predict(x))
    assert "global_step is not in the checkpoint: left at its initial value" in inference.notes


# ---------------------------------------------------------------------------------------
# Bad model_fns and specs: one line, exit code 2
# ---------------------------------------------------------------------------------------

def raises(kind, call) -> str:
    with pytest.raises(kind) as caught:
        call()
    assert caught.value.exit_code == EXIT_BAD_INPUT
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("spec", ["no_colon", ":fn", "module:"])
def test_spec_without_module_and_function(spec):
    assert raises(UnsupportedSource, lambda: compat.load_model_fn(spec)) == (
        f"--model-fn {spec!r} is not module:function. Pass e.g. my_model:model_fn or "
        f"path/to/model.py:model_fn")


def test_broken_module_reports_its_import_error(tmp_path):
    path = model_module(tmp_path, "import tensorflow as tf\n\ndef model_fn(:\n    pass\n", "bad.py")
    assert raises(UnsupportedSource, lambda: compat.load_model_fn(path + ":model_fn")) == (
        f"cannot import the model_fn module {path}: SyntaxError: invalid syntax (line 3)")
    path = model_module(tmp_path, "import no_such_package_here\n", "missing_dep.py")
    assert raises(UnsupportedSource, lambda: compat.load_model_fn(path + ":model_fn")) == (
        f"cannot import the model_fn module {path}: ModuleNotFoundError: No module named "
        f"'no_such_package_here'")
    path = model_module(tmp_path, "X = 1 / 0\n", "raises.py")
    assert raises(UnsupportedSource, lambda: compat.load_model_fn(path + ":model_fn")) == (
        f"cannot import the model_fn module {path}: ZeroDivisionError: division by zero")


def test_missing_module_file_and_function(tmp_path):
    assert raises(SourceNotFound, lambda: compat.load_model_fn(f"{tmp_path}/nope.py:fn")) == (
        f"no such model_fn file: {tmp_path}/nope.py. Pass path/to/file.py:function")
    assert raises(UnsupportedSource, lambda: compat.load_model_fn("no_such_module_x:fn")) == (
        "no module named 'no_such_module_x' (from --model-fn). Pass path/to/file.py:function "
        "or put the module on PYTHONPATH")
    path = model_module(tmp_path)
    assert raises(UnsupportedSource, lambda: compat.load_model_fn(path + ":regresion")) == (
        f"no function 'regresion' in {path}. Did you mean: regression, contrib_regression?")
    assert raises(UnsupportedSource, lambda: compat.load_model_fn(path + ":not_a_function")) == (
        f"{path}:not_a_function is a int, not a function")


def test_model_fn_that_fails_or_predicts_nothing(tf, tmp_path):
    path = model_module(tmp_path)
    features = (FeatureSpec("x", "float32", (3,)),)
    source = resolve(str(FIXTURES / "custom-linear-regression" / "model_dir"))

    def run(name):
        return lambda: compat.model_fn_inference(source, compat.load_model_fn(f"{path}:{name}"),
                                                 features=features, params={})

    assert raises(UnsupportedSource, run("broken")) == (
        "model_fn broken failed in PREDICT mode: KeyError: 'nope'")
    assert raises(UnsupportedSource, run("no_predictions")) == (
        "model_fn no_predictions returned no predictions in PREDICT mode (got EstimatorSpec). "
        "It must return an EstimatorSpec with predictions=")
    assert not hasattr(tf, "estimator")


def test_variables_the_checkpoint_lacks_are_listed_with_closest_matches(tf, tmp_path):
    source = resolve(str(FIXTURES / "custom-linear-regression" / "model_dir"))
    model_fn = compat.load_model_fn(model_module(tmp_path) + ":misnamed")
    message = raises(MappingConflict, lambda: compat.model_fn_inference(
        source, model_fn, features=(FeatureSpec("x", "float32", (3,)),), params={}))
    assert message == (
        f"the model_fn's graph needs 2 variable(s) that {source.given} lacks: bias_term "
        f"(closest: bias), weight (closest: weights). Pass a rename preset that maps them "
        f"(e.g. layers-weights-to-kernel)")


def test_no_features():
    source = resolve(str(FIXTURES / "custom-linear-regression" / "model_dir"))
    assert raises(UnsupportedSource, lambda: compat.model_fn_inference(
        source, lambda features, mode: None, features=(), params={})).startswith(
        "the model_fn way needs the model's inputs: pass a feature spec")


# ---------------------------------------------------------------------------------------
# Feature specs
# ---------------------------------------------------------------------------------------

def test_feature_spec_inline_file_and_case_json(tmp_path):
    inline = '{"x": {"dtype": "float32", "shape": [3]}, "n": {"dtype": "int64", "shape": []}}'
    want = (FeatureSpec("x", "float32", (3,)), FeatureSpec("n", "int64", ()))
    assert compat.read_feature_spec(inline) == want
    (tmp_path / "spec.json").write_text(inline)
    assert compat.read_feature_spec(str(tmp_path / "spec.json")) == want
    wide = compat.read_feature_spec(str(FIXTURES / "wide-deep" / "case.json"))
    assert [f.name for f in wide] == ["age", "hours", "color", "city"]  # derived columns skipped
    color, city = wide[2], wide[3]
    assert color.dtype == "string" and color.vocabulary[:2] == ("red", "green")
    assert city.hash_buckets == 20 and city.shape == (1,)


def test_feature_spec_defaults():
    spec = compat.read_feature_spec('{"a": {}, "w": {"kind": "vocabulary", "vocabulary_list": ["x"]}}')
    assert spec == (FeatureSpec("a", "float32", (1,)), FeatureSpec("w", "string", (1,), ("x",)))


@pytest.mark.parametrize("text, message", [
    ('{"x": ', "feature spec in --features is not valid JSON: Expecting value (line 1, column 7)"),
    ('{}', 'feature spec in --features must be a JSON object keyed by feature name, e.g. '
           '{"x": {"dtype": "float32", "shape": [3]}}'),
    ('{"x": 3}', "feature 'x' in --features must be an object with dtype and shape, not 3"),
    ('{"x": {"dtype": "floot32"}}', "feature 'x' in --features has an unknown dtype 'floot32'. "
                                    "Use e.g. float32, int64 or string"),
    ('{"x": {"shape": [3, "a"]}}', "feature 'x' in --features has shape [3, \"a\"]; give a list "
                                   "of sizes without the batch dimension (-1: unknown)"),
    ("spec.json", "--features 'spec.json' is neither a file nor inline JSON. Pass e.g. "
                  "'{\"x\": {\"dtype\": \"float32\", \"shape\": [3]}}'"),
])
def test_bad_feature_specs(text, message):
    kind = SourceNotFound if text == "spec.json" else UnsupportedSource
    assert raises(kind, lambda: compat.read_feature_spec(text)) == message


def test_feature_spec_to_dict_round_trips_through_json():
    spec = compat.read_feature_spec(str(FIXTURES / "wide-deep" / "case.json"))
    assert json.loads(json.dumps([f.to_dict() for f in spec]))[2]["vocabulary"][0] == "red"
    assert np.dtype(spec[0].dtype) == np.float32


def test_rename_presets_restore_old_names(tf, tmp_path):
    from migrate.write.rewrite import write_bundle

    source = resolve(str(FIXTURES / "custom-softmax-classifier" / "model_dir"))
    reader = tf.train.load_checkpoint(source.path)
    (tmp_path / "old").mkdir()
    prefix = str(tmp_path / "old" / "model.ckpt-40")
    write_bundle(prefix, [("dense/biases", reader.get_tensor("dense/bias")),
                          ("dense/weights", reader.get_tensor("dense/kernel")),
                          ("global_step", reader.get_tensor("global_step"))])
    model_fn = compat.load_model_fn(f"{GENERATOR}:softmax_classifier_model_fn")
    features = (FeatureSpec("x", "float32", (8,)),)
    message = raises(MappingConflict, lambda: compat.model_fn_inference(
        resolve(prefix), model_fn, features=features, params={"n_classes": 10}))
    assert message == (f"the model_fn's graph needs 2 variable(s) that {prefix} lacks: dense/bias "
                       f"(closest: dense/biases), dense/kernel (closest: dense/biases). Pass a "
                       f"rename preset that maps "
                       f"them (e.g. layers-weights-to-kernel)")
    inference = compat.model_fn_inference(resolve(prefix), model_fn, features=features,
                                          params={"n_classes": 10},
                                          presets=("layers-weights-to-kernel",))
    assert "restored dense/weights as dense/kernel (rename preset)" in inference.notes
    x, _ = split_predictions(load_predictions("custom-softmax-classifier"))
    assert_same_outputs(recorded("custom-softmax-classifier"), inference.predict(x))
    inference.close()
