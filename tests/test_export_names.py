"""Inputs a training graph leaves unnamed take the names of the author's own export in the
model dir (migrate/rebuild/export_names.py), matched by where they enter the model, never
by node name: here the serving graph's placeholders are created in the other order, so
matching by name would swap the two features and the predictions would show it."""

from __future__ import annotations

import numpy as np

WEIGHTS = np.array([[3.0], [-0.5]], dtype=np.float32)  # width counts 3, height -0.5


def _training_graph(tf, model_dir):
    """Two bare placeholders (width first) concatenated in a scoped model node."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        width = v1.placeholder(tf.float32, [None, 1])  # node "Placeholder"
        height = v1.placeholder(tf.float32, [None, 1])  # node "Placeholder_1"
        labels = v1.placeholder(tf.float32, [None, 1], name="labels")
        with v1.variable_scope("model"):
            joined = tf.concat([width, height], axis=1, name="concat")
            weights = v1.get_variable("w", initializer=WEIGHTS)
            bias = v1.get_variable("b", initializer=np.array([0.25], dtype=np.float32))
            y = tf.add(tf.matmul(joined, weights), bias, name="y")
        loss = tf.reduce_mean(tf.square(y - labels))
        v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            v1.train.Saver().save(session, str(model_dir / "model.ckpt"))
            return session.run(y, {width: [[1.0], [2.0]], height: [[10.0], [4.0]]})


def _author_export(tf, model_dir):
    """The serving graph: height's placeholder made first, each named by the signature."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        height = v1.placeholder(tf.float32, [None, 1])  # node "Placeholder" here
        width = v1.placeholder(tf.float32, [None, 1])  # node "Placeholder_1" here
        with v1.variable_scope("model"):
            joined = tf.concat([width, height], axis=1, name="concat")
            weights = v1.get_variable("w", shape=[2, 1])
            bias = v1.get_variable("b", shape=[1])
            y = tf.add(tf.matmul(joined, weights), bias, name="y")
        with v1.Session(graph=graph) as session:
            v1.train.Saver().restore(session, str(model_dir / "model.ckpt"))
            builder = v1.saved_model.Builder(str(model_dir / "export" / "1515258162"))
            signature = v1.saved_model.signature_def_utils.predict_signature_def(
                {"width": width, "height": height}, {"y": y})
            builder.add_meta_graph_and_variables(session, ["serve"],
                                                 signature_def_map={"serving_default": signature})
            builder.save()


def test_unnamed_inputs_take_the_names_of_the_authors_export(tfckpt, tf, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    expected = _training_graph(tf, model_dir)
    _author_export(tf, model_dir)
    out = tmp_path / "out"
    run = tfckpt("export", model_dir / "model.ckpt", out)
    assert run.code == 0, run.err
    assert "Placeholder -> width, Placeholder_1 -> height" in run.err
    served = tf.saved_model.load(str(out)).signatures["serving_default"]
    assert sorted(served.structured_input_signature[1]) == ["height", "width"]
    got = served(width=tf.constant([[1.0], [2.0]]), height=tf.constant([[10.0], [4.0]]))
    np.testing.assert_array_equal(got["y"].numpy(), expected)


def test_without_an_export_the_inputs_keep_their_tensor_names(tfckpt, tf, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    _training_graph(tf, model_dir)
    out = tmp_path / "out"
    run = tfckpt("export", model_dir / "model.ckpt", out)
    assert run.code == 0, run.err
    served = tf.saved_model.load(str(out)).signatures["serving_default"]
    assert sorted(served.structured_input_signature[1]) == ["Placeholder", "Placeholder_1"]
