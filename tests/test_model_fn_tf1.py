"""Old model_fns as their authors wrote them, run by `export --model-fn` on TF 2.21.

Each model_fn below is written the TF 1.x way (`import tensorflow as tf`, then
`tf.layers.dense`, `tf.get_variable`, `tf.train.*Optimizer`, `tf.losses`) and shows
one idiom: features as a bare tensor, a loss computed from `labels` even when
predicting, predictions as a bare tensor, EstimatorSpec in positional form. The
checkpoint is written by plain TensorFlow; the expected predictions are computed
with numpy from the values TensorFlow's own reader returns.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from conftest import only_line

X = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0], [0.0, 0.0, 0.0]], np.float32)

MODEL_FNS = '''
import tensorflow as tf


def bare_features(features, labels, mode, params):
    hidden = tf.layers.dense(features, 1)  # features is the input_fn's lone tensor
    return tf.estimator.EstimatorSpec(mode, predictions={"y": tf.squeeze(hidden, 1)})


def loss_always(features, labels, mode, params):
    x = features["x"]
    kernel = tf.get_variable("dense/kernel", [3, 1])
    bias = tf.get_variable("dense/bias", [1])
    predictions = tf.squeeze(tf.matmul(x, kernel) + bias, 1)
    loss = tf.losses.mean_squared_error(labels, predictions)  # labels even in PREDICT
    optimizer = tf.train.AdamOptimizer(0.01)  # its slots are not in the checkpoint
    train_op = optimizer.minimize(loss, global_step=tf.train.get_global_step())
    tf.summary.scalar("loss", loss)
    return tf.estimator.EstimatorSpec(mode, {"y": predictions}, loss, train_op)


def class_ids_loss(features, labels, mode):
    logits = tf.layers.dense(features["x"], 1)
    two = tf.concat([tf.zeros_like(logits), logits], 1)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, two)  # integer labels
    return tf.estimator.EstimatorSpec(mode=mode, predictions={"y": logits[:, 0]}, loss=loss)


def bare_predictions(features, labels, mode, params):
    with tf.variable_scope("dense"):
        kernel = tf.get_variable("kernel", [3, 1])
        bias = tf.get_variable("bias", [1])
    return tf.estimator.EstimatorSpec(mode, tf.matmul(features["x"], kernel) + bias)


def contrib_layers(features, labels, mode):
    from tensorflow.contrib import layers
    hidden = tf.contrib.layers.fully_connected(features["x"], 2)  # relu by default
    logits = layers.linear(hidden, 1, scope="logits")
    return tf.estimator.EstimatorSpec(mode, predictions={"y": logits[:, 0]})


def contrib_tuple(features, targets):
    logits = tf.layers.dense(features, 1)
    return logits, None, None
'''


@pytest.fixture
def model(tf, tmp_path):
    """A checkpoint holding dense/kernel, dense/bias and global_step, as tf.layers names them."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        v1.get_variable("dense/kernel", initializer=np.array([[0.5], [-1.0], [2.0]], np.float32))
        v1.get_variable("dense/bias", initializer=np.array([0.25], np.float32))
        v1.train.get_or_create_global_step()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            (tmp_path / "model").mkdir()
            v1.train.Saver().save(session, str(tmp_path / "model" / "model.ckpt"), global_step=7)
    (tmp_path / "fns.py").write_text(textwrap.dedent(MODEL_FNS))
    reader = tf.train.load_checkpoint(str(tmp_path / "model"))
    expected = X @ reader.get_tensor("dense/kernel") + reader.get_tensor("dense/bias")
    return tmp_path, expected


def _export(tfckpt, root, function: str, features: dict, *extra: str):
    out = root / f"out-{function}"
    run = tfckpt("export", root / "model", out, "--model-fn", f"{root / 'fns.py'}:{function}",
                 "--features", json.dumps(features), "--format", "json", *extra)
    return run, out


def _served(tf, out, key: str, name: str):
    loaded = tf.saved_model.load(str(out)).signatures["serving_default"]
    return loaded(**{key: tf.constant(X)})[name].numpy()


X_SPEC = {"dtype": "float32", "shape": [3]}


@pytest.mark.parametrize("key", ["", "x"])
def test_bare_tensor_features_in_tf1_style(tfckpt, tf, model, key):
    root, expected = model
    run, out = _export(tfckpt, root, "bare_features", {key: X_SPEC})
    assert run.code == 0, run.err
    assert "note: the model_fn got its lone feature as a bare tensor" in run.err
    served_key = key or "input"
    assert [spec["name"] for spec in json.loads(run.out)["inputs"]] == [served_key]
    np.testing.assert_allclose(_served(tf, out, served_key, "y"), expected[:, 0], rtol=1e-6)


def test_loss_from_labels_in_predict_mode_with_an_optimizer(tfckpt, tf, model):
    root, expected = model
    run, out = _export(tfckpt, root, "loss_always", {"x": X_SPEC})
    assert run.code == 0, run.err
    assert ("note: the model_fn needs labels even in PREDICT mode: given float32 zeros that only "
            "its loss reads; only its predictions are kept") in run.err
    assert "note: dense/kernel/Adam is not in the checkpoint: left at its initial value " \
           "(no prediction depends on it)" in run.err
    assert json.loads(run.out)["outputs"] == ["y"]
    np.testing.assert_allclose(_served(tf, out, "x", "y"), expected[:, 0], rtol=1e-6)


def test_loss_on_integer_labels(tfckpt, tf, model):
    root, expected = model
    run, out = _export(tfckpt, root, "class_ids_loss", {"x": X_SPEC})
    assert run.code == 0, run.err
    assert "given int64 zeros" in run.err
    np.testing.assert_allclose(_served(tf, out, "x", "y"), expected[:, 0], rtol=1e-6)


def test_bare_predictions_are_keyed_output(tfckpt, tf, model):
    root, expected = model
    run, out = _export(tfckpt, root, "bare_predictions", {"x": X_SPEC})
    assert run.code == 0, run.err
    assert json.loads(run.out)["outputs"] == ["output"]
    np.testing.assert_allclose(_served(tf, out, "x", "output"), expected, rtol=1e-6)


def test_contrib_learn_tuple_return(tfckpt, tf, model):
    root, expected = model
    run, out = _export(tfckpt, root, "contrib_tuple", {"": X_SPEC})
    assert run.code == 0, run.err
    np.testing.assert_allclose(_served(tf, out, "input", "output"), expected, rtol=1e-6)


def test_tf1_names_do_not_leak(tfckpt, tf, model):
    root, _ = model
    run, _ = _export(tfckpt, root, "loss_always", {"x": X_SPEC})
    assert run.code == 0, run.err
    for name in ("layers", "get_variable", "variable_scope", "placeholder", "estimator", "contrib"):
        assert not hasattr(tf, name), name
    assert not hasattr(tf.train, "AdamOptimizer")
    from migrate.rebuild import model_fn as compat

    function = compat.load_model_fn(f"{root / 'fns.py'}:loss_always")
    assert function.__globals__["tf"] is tf


def test_model_fn_failing_every_way_reports_the_first_reason(tfckpt, tf, model, tmp_path):
    root, _ = model
    (root / "broken.py").write_text("def fn(features, labels, mode):\n    return features['nope']\n")
    run = tfckpt("export", root / "model", tmp_path / "o", "--model-fn", f"{root / 'broken.py'}:fn",
                 "--features", json.dumps({"x": X_SPEC}))
    assert run.code == 2
    assert only_line(run.err) == ("tfckpt: error: model_fn fn failed in PREDICT mode: "
                                  "KeyError: 'nope'")


def test_contrib_layers_basics_restore_contrib_names(tfckpt, tf, tmp_path):
    v1 = tf.compat.v1
    values = {"fully_connected/weights": np.array([[1.0, -1.0], [0.5, 2.0], [-2.0, 0.25]], np.float32),
              "fully_connected/biases": np.array([0.1, -0.3], np.float32),
              "logits/weights": np.array([[1.5], [-0.5]], np.float32),
              "logits/biases": np.array([0.2], np.float32)}
    graph = tf.Graph()
    with graph.as_default():
        for name, value in values.items():
            v1.get_variable(name, initializer=value)
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            (tmp_path / "model").mkdir()
            v1.train.Saver().save(session, str(tmp_path / "model" / "model.ckpt"))
    (tmp_path / "fns.py").write_text(textwrap.dedent(MODEL_FNS))
    reader = tf.train.load_checkpoint(str(tmp_path / "model"))
    hidden = np.maximum(X @ reader.get_tensor("fully_connected/weights")
                        + reader.get_tensor("fully_connected/biases"), 0)
    expected = hidden @ reader.get_tensor("logits/weights") + reader.get_tensor("logits/biases")
    run, out = _export(tfckpt, tmp_path, "contrib_layers", {"x": X_SPEC})
    assert run.code == 0, run.err
    np.testing.assert_allclose(_served(tf, out, "x", "y"), expected[:, 0], rtol=1e-6)
    assert not hasattr(tf, "contrib")
