"""export / freeze / verify machinery on a small hand-built inference graph:
a classifier with a numeric input and a vocabulary lookup table, so that the
SavedModel's main op and the frozen graph's table initializer are exercised."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from migrate.targets import saved_model as export, frozen as freeze
from migrate.rebuild import inputs
from migrate import verify
from migrate.rebuild.inference import FeatureSpec, InferenceGraph
from migrate.predictors import FrozenGraphPredictor, GraphPredictor, SavedModelPredictor

VOCABULARY = ("red", "green", "blue")


def small_classifier(tf, *, scale: float = 1.0) -> InferenceGraph:
    """logits = x @ W + emb[color] + b, three classes."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        color = v1.placeholder(tf.string, [None, 1], name="color")
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(list(VOCABULARY), [0, 1, 2], value_dtype=tf.int64), -1)
        ids = table.lookup(tf.reshape(color, [-1]))
        weights = v1.get_variable("w", initializer=np.arange(6, dtype=np.float32).reshape(2, 3) * scale)
        rows = v1.get_variable("rows", initializer=np.eye(4, 3, dtype=np.float32))
        bias = v1.get_variable("b", initializer=np.array([0.1, -0.2, 0.3], np.float32))
        known = tf.cast(ids >= 0, tf.float32)[:, None]
        logits = tf.matmul(x, weights) + tf.gather(rows, tf.maximum(ids, 0)) * known + bias
        probabilities = tf.nn.softmax(logits)
        class_ids = tf.argmax(logits, axis=1)[:, None]
        names = tf.constant([b"0", b"1", b"2"])
        outputs = {"logits": logits, "probabilities": probabilities, "class_ids": class_ids,
                   "classes": tf.gather(names, class_ids),
                   "all_classes": tf.tile(names[None, :], [tf.shape(x)[0], 1])}
        session = v1.Session(graph=graph)
        init_tables = v1.tables_initializer()
        session.run([v1.global_variables_initializer(), init_tables])
    features = (FeatureSpec("color", "string", (1,), vocabulary=VOCABULARY),
                FeatureSpec("x", "float32", (2,)))
    return InferenceGraph(graph=graph, session=session, inputs={"x": x, "color": color},
                          outputs=outputs, features=features, way="canned", init_op=init_tables)


@pytest.fixture
def model(tf):
    inference = small_classifier(tf)
    yield inference
    inference.close()


def test_generated_inputs_are_deterministic_and_cover_oov(model):
    first = inputs.generate(model.features, rows=40, seed=3)
    again = inputs.generate(model.features, rows=40, seed=3)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert first["x"].shape == (40, 2) and first["x"].dtype == np.float32
    assert set(first["color"].reshape(-1)) == {b"red", b"green", b"blue", inputs.OOV_WORD.encode()}


def test_saved_model_round_trip_predicts_the_same(model, tmp_path):
    path = str(tmp_path / "sm")
    assert export.write_saved_model(model, path) == ("predict", "serving_default")
    loaded = SavedModelPredictor(path)
    assert [(s.name, s.dtype, s.shape) for s in loaded.features] == [
        ("color", "string", (1,)), ("x", "float32", (2,))]
    feeds = inputs.generate(model.features, seed=1)
    report = verify.compare(GraphPredictor(model, description="src"), loaded, feeds, inputs_from="gen")
    assert report.passed and [c.key for c in report.checks] == [
        "all_classes", "class_ids", "classes", "logits", "probabilities"]
    assert all(c.mismatched == 0 for c in report.checks)


def test_parsing_signature_reads_tf_examples(model, tmp_path, tf):
    path = str(tmp_path / "sm")
    names = export.write_saved_model(model, path, parsing=True)
    assert names == ("classification", "parsing", "predict", "serving_default")
    feeds = inputs.generate(model.features, rows=5, seed=2)
    examples = [tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=feeds["x"][i])),
        "color": tf.train.Feature(bytes_list=tf.train.BytesList(value=feeds["color"][i]))}))
        .SerializeToString() for i in range(5)]
    loaded = tf.saved_model.load(path)
    parsed = loaded.signatures["parsing"](examples=tf.constant(examples))
    expected = model.predict(feeds)
    np.testing.assert_array_equal(parsed["logits"].numpy(), expected["logits"])
    classified = loaded.signatures["classification"](inputs=tf.constant(examples))
    np.testing.assert_array_equal(classified["scores"].numpy(), expected["probabilities"])
    np.testing.assert_array_equal(classified["classes"].numpy(), expected["all_classes"])


def test_frozen_graph_predicts_the_same_and_keeps_table_init(model, tmp_path):
    graph_def, names = freeze.frozen_graph_def(model)
    assert names == {key: key for key in model.outputs}
    ops = {node.op for node in graph_def.node}
    assert not ops & {"VariableV2", "VarHandleOp", "Assign", "AssignVariableOp"}
    assert "init_all_tables" in {node.name for node in graph_def.node}
    path = tmp_path / "frozen.pb"
    path.write_bytes(graph_def.SerializeToString())
    frozen = FrozenGraphPredictor(str(path))
    assert sorted(frozen.output_keys) == sorted(model.outputs)
    feeds = inputs.generate(model.features, seed=4)
    report = verify.compare(GraphPredictor(model, description="src"), frozen, feeds, inputs_from="gen")
    assert report.passed
    frozen.close()


def test_verify_reports_the_smallest_passing_tolerance(tf):
    a = small_classifier(tf)
    b = small_classifier(tf, scale=1.001)
    feeds = inputs.generate(a.features, seed=0)
    report = verify.compare(GraphPredictor(a, description="a"), GraphPredictor(b, description="b"),
                            feeds, inputs_from="gen", tolerance=verify.Tolerance(atol=1e-6, rtol=0))
    logits = {c.key: c for c in report.checks}["logits"]
    expected = np.abs(a.predict(feeds)["logits"].astype(np.float64) - b.predict(feeds)["logits"])
    assert logits.status == "FAIL" and logits.max_abs == pytest.approx(expected.max())
    assert logits.needed_atol == pytest.approx(expected.max())
    assert logits.mismatched == int(np.count_nonzero(expected > 1e-6))
    wide = verify.compare(GraphPredictor(a, description="a"), GraphPredictor(b, description="b"),
                          feeds, inputs_from="gen",
                          tolerance=verify.Tolerance(atol=1e-6, rtol=0, per_output=(
                              ("logits", logits.needed_atol * 1.01, 0.0),
                              ("probabilities", 1.0, 0.0))))
    assert {c.key: c.status for c in wide.checks}["logits"] == "PASS"
    a.close()
    b.close()


def test_compare_output_strings_and_shapes():
    same = verify.compare_output("classes", np.array([[b"a"], [b"b"]]), np.array([[b"a"], [b"c"]]), 0, 0)
    assert (same.status, same.mismatched) == ("FAIL", 1)
    shape = verify.compare_output("logits", np.zeros((2, 3)), np.zeros((2, 2)), 0, 0)
    assert shape.status == "FAIL" and shape.problem == "shape [2, 3] vs [2, 2]"


def test_saved_model_cli_show_and_run(model, tmp_path):
    path = str(tmp_path / "sm")
    export.write_saved_model(model, path)
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", path, "--all"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "signature_def['serving_default']" in shown.stdout and "inputs['color']" in shown.stdout
    ran = subprocess.run([cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def",
                          "serving_default", "--input_exprs",
                          "x=[[1.0, 2.0]];color=[['green']]"], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    expected = model.predict({"x": np.array([[1.0, 2.0]], np.float32), "color": np.array([[b"green"]])})
    assert f"[[{expected['class_ids'][0][0]}]]" in ran.stdout.replace(" ", "")
