"""`tfckpt export SRC OUT.onnx`: the inference graph through tf2onnx, run back by ONNX
Runtime. First the idioms alone on small generated graphs (a vocabulary lookup becomes
CategoryMapper; a hashed column is refused by name), then every Estimator fixture
against what the real Estimator predicted, then the real-world model dirs."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from migrate import verify
from migrate.predictors import GraphPredictor, OnnxPredictor, kind_of_artifact
from migrate.rebuild import inputs
from migrate.rebuild.inference import FeatureSpec, InferenceGraph
from migrate.targets import onnx as onnx_target
from tests.conftest import REAL_WORLD, only_line
from tests.fixture_cases import FIXTURES, load_case
from tests.test_convert import (CANNED_CASES, GRAPH_CASES, MODEL_FN_CASES, REAL_WORLD_EXPORTS,
                                assert_reproduces, features_arg, graph_args)
from tests.test_export import small_classifier

# Fixtures whose feature columns hash strings (TF's FarmHash fingerprint) or cross them:
# ONNX has neither op, so these are refused, naming the ops.
REFUSED = {"linear-classifier": "StringToHashBucketFast (hashed feature columns)",
           "wide-deep": "SparseCross (crossed feature columns), StringToHashBucketFast (hashed "
                        "feature columns)"}


def write_onnx(inference: InferenceGraph, path) -> OnnxPredictor:
    model = onnx_target.onnx_model(inference, name="small")
    path.write_bytes(model.SerializeToString())
    return OnnxPredictor(str(path))


def test_vocabulary_lookup_becomes_category_mapper_and_predicts_the_same(tf, tmp_path):
    model = small_classifier(tf)
    try:
        converted = onnx_target.onnx_model(model, name="small")
        ops = {(node.domain, node.op_type) for node in converted.graph.node}
        assert ("ai.onnx.ml", "CategoryMapper") in ops
        assert onnx_target.foreign_ops(converted) == []
        (tmp_path / "m.onnx").write_bytes(converted.SerializeToString())
        onnx = OnnxPredictor(str(tmp_path / "m.onnx"))
        assert [(s.name, s.dtype, s.shape) for s in onnx.features] == [
            ("color", "string", (1,)), ("x", "float32", (2,))]
        feeds = inputs.generate(model.features, rows=40, seed=5)
        assert inputs.OOV_WORD.encode() in set(feeds["color"].reshape(-1))
        expected = model.predict(feeds)  # plain TF session on the same graph
        got = onnx.predict(feeds)
        assert sorted(got) == sorted(expected)
        np.testing.assert_array_equal(got["class_ids"], expected["class_ids"])
        np.testing.assert_array_equal(got["classes"], expected["classes"])
        np.testing.assert_array_equal(got["all_classes"], expected["all_classes"])
        np.testing.assert_allclose(got["logits"], expected["logits"], atol=1e-6, rtol=0)
        np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-6, rtol=0)
    finally:
        model.close()


def hashed_model(tf) -> InferenceGraph:
    """y = w[hash(word) % 7]: a hashed categorical column's core, alone."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        word = v1.placeholder(tf.string, [None], name="word")
        buckets = tf.strings.to_hash_bucket_fast(word, 7)
        weights = v1.get_variable("w", initializer=np.arange(7, dtype=np.float32))
        y = tf.gather(weights, buckets)
        session = v1.Session(graph=graph)
        session.run(v1.global_variables_initializer())
    return InferenceGraph(graph=graph, session=session, inputs={"word": word}, outputs={"y": y},
                          features=(FeatureSpec("word", "string", ()),), way="canned")


def test_hashed_strings_are_refused_naming_the_op(tf):
    model = hashed_model(tf)
    try:
        with pytest.raises(onnx_target.UnsupportedSource) as refused:
            onnx_target.onnx_model(model, name="hashed")
    finally:
        model.close()
    assert str(refused.value) == (
        "hashed cannot be written as ONNX: ONNX has no op for StringToHashBucketFast (hashed "
        "feature columns). Export a SavedModel instead")


def test_bucketize_becomes_standard_ops_with_tf_boundary_semantics(tf, tmp_path):
    """Bucketized columns: values on a boundary go up, int64 and float inputs alike."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        n = v1.placeholder(tf.int64, [None], name="n")
        outputs = {"b": tf.raw_ops.Bucketize(input=x, boundaries=[-1.0, 0.0, 2.5]),
                   "c": tf.raw_ops.Bucketize(input=n, boundaries=[0.0, 10.0])}
        session = v1.Session(graph=graph)
    model = InferenceGraph(graph=graph, session=session, inputs={"x": x, "n": n},
                           outputs=outputs, way="canned",
                           features=(FeatureSpec("n", "int64", ()), FeatureSpec("x", "float32", (1,))))
    try:
        onnx = write_onnx(model, tmp_path / "b.onnx")
        feeds = {"x": np.array([[-5], [-1], [-0.5], [0], [2.4], [2.5], [9]], np.float32),
                 "n": np.array([-1, 0, 5, 10, 11, 0, 3], np.int64)}
        expected = model.predict(feeds)
    finally:
        model.close()
    got = onnx.predict(feeds)
    for key in ("b", "c"):
        assert got[key].dtype == expected[key].dtype == np.int32
        np.testing.assert_array_equal(got[key], expected[key])
    np.testing.assert_array_equal(got["b"].ravel(), [0, 1, 1, 2, 2, 3, 3])  # upper_bound


def test_a_bucketized_feature_column_predicts_the_same(tf, tmp_path):
    """The idiom as Estimators build it: input_layer over a bucketized numeric column."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        age = v1.placeholder(tf.float32, [None, 1], name="age")
        column = tf.feature_column.bucketized_column(tf.feature_column.numeric_column("age"),
                                                     boundaries=[18.0, 30.0, 65.0])
        one_hot = v1.feature_column.input_layer({"age": age}, [column])
        weights = v1.get_variable("w", initializer=np.array([[1.0], [-2.0], [3.5], [0.25]], np.float32))
        outputs = {"predictions": tf.matmul(one_hot, weights)}
        session = v1.Session(graph=graph)
        session.run(v1.global_variables_initializer())
    model = InferenceGraph(graph=graph, session=session, inputs={"age": age}, outputs=outputs,
                           features=(FeatureSpec("age", "float32", (1,)),), way="canned")
    try:
        onnx = write_onnx(model, tmp_path / "age.onnx")
        feeds = {"age": np.array([[0], [18], [29.9], [30], [64], [65], [99]], np.float32)}
        expected = model.predict(feeds)["predictions"]
    finally:
        model.close()
    np.testing.assert_array_equal(onnx.predict(feeds)["predictions"], expected)
    np.testing.assert_array_equal(expected.ravel(), [1.0, -2.0, -2.0, 3.5, 3.5, 0.25, 0.25])


def test_a_converter_failure_is_one_line_and_writes_nothing(tfckpt, tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        raise ValueError("make_sure failure: Cannot find node\nwith details")

    monkeypatch.setattr(onnx_target, "_convert", failing)
    source = FIXTURES / "dnn-regressor" / "model_dir"
    run = tfckpt("export", source, tmp_path / "m.onnx")
    assert run.code == 2
    assert only_line(run.err) == (f"tfckpt: error: tf2onnx cannot convert {source}: make_sure "
                                  f"failure: Cannot find node. Export a SavedModel instead")
    assert os.listdir(tmp_path) == []


def test_onnx_files_are_a_kind_of_artifact(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"")
    assert kind_of_artifact(str(path)) == "onnx"


def export_onnx(tfckpt, case: str, out, *extra: str):
    return tfckpt("export", FIXTURES / case / "model_dir", out, *extra)


def fixture_runs():
    """(case, way, extra arguments) for every way test_convert exports each fixture."""
    runs = [(case, "canned", ("--via", "canned", *features_arg(case))) for case in CANNED_CASES]
    runs += [(case, "meta-graph", ("--via", "meta-graph", *graph_args(case)))
             for case in GRAPH_CASES]
    for case, function in sorted(MODEL_FN_CASES.items()):
        params = json.dumps(load_case(case)["estimator"]["params"])
        runs.append((case, "model-fn", ("--model-fn", f"{FIXTURES / 'generate.py'}:{function}",
                                        "--params", params, *features_arg(case))))
    return runs


@pytest.mark.parametrize("case,way,extra", fixture_runs(),
                         ids=[f"{case}-{way}" for case, way, _ in fixture_runs()])
def test_fixture_exports_to_onnx_and_reproduces_the_estimator(tfckpt, tmp_path, case, way, extra):
    out = tmp_path / "model.onnx"
    run = export_onnx(tfckpt, case, out, *extra)
    if case in REFUSED:
        assert run.code == 2
        assert only_line(run.err) == (
            f"tfckpt: error: {FIXTURES / case / 'model_dir'} cannot be written as ONNX: ONNX has "
            f"no op for {REFUSED[case]}. Export a SavedModel instead")
        assert os.listdir(tmp_path) == []
        return
    assert run.code == 0, run.err
    assert run.out.startswith(f"wrote {out} (way: {way})")
    assert run.out.rstrip().endswith("outputs match on 32 rows")
    onnx = OnnxPredictor(str(out))
    assert sorted(s.name for s in onnx.features) == sorted(load_case(case)["feature_spec"])
    assert_reproduces(case, onnx.predict)


def test_verify_and_predict_take_onnx_files(tfckpt, tmp_path):
    out = tmp_path / "iris.onnx"
    assert export_onnx(tfckpt, "dnn-classifier-v2", out).code == 0
    recorded = FIXTURES / "dnn-classifier-v2" / "predictions.npz"
    run = tfckpt("verify", out, recorded, "--format", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    with np.load(recorded) as want:
        rows = len(want["y:class_ids"])
    assert report["result"] == "PASS" and report["rows"] == rows
    assert report["inputs"].startswith("recorded")
    predicted = tfckpt("predict", out, "--input", recorded, "--output", tmp_path / "p.npz")
    assert predicted.code == 0, predicted.err
    with np.load(recorded) as want, np.load(tmp_path / "p.npz") as got:
        np.testing.assert_array_equal(got["y:class_ids"], want["y:class_ids"])
        np.testing.assert_allclose(got["y:probabilities"], want["y:probabilities"], atol=1e-5, rtol=0)


def test_to_names_the_target_and_must_agree_with_the_extension(tfckpt, tmp_path):
    source = FIXTURES / "dnn-regressor" / "model_dir"
    keras = tfckpt("export", source, tmp_path / "m.keras")
    assert keras.code == 2 and only_line(keras.err) == (
        "tfckpt: error: export --to keras is not available yet. Export a SavedModel "
        "(a directory) or an .onnx file")
    clash = tfckpt("export", source, tmp_path / "m.onnx", "--to", "saved-model")
    assert clash.code == 2 and only_line(clash.err) == (
        f"tfckpt: error: --to saved-model does not match the output {tmp_path / 'm.onnx'}, "
        f"whose extension names onnx. Pass --to onnx or rename the output")
    assert os.listdir(tmp_path) == []
    parsing = tfckpt("export", source, tmp_path / "m.onnx", "--signature", "parsing")
    assert parsing.code == 2 and only_line(parsing.err) == (
        "tfckpt: error: --signature parsing is a SavedModel signature; an ONNX model takes "
        "the features themselves. Drop --signature")
    assert os.listdir(tmp_path) == []
    named = tfckpt("export", source, tmp_path / "model.bin", "--to", "onnx")
    assert named.code == 0, named.err
    assert kind_of_artifact(str(tmp_path / "model.bin")) == "checkpoint"  # not .onnx: by --to
    assert OnnxPredictor(str(tmp_path / "model.bin")).output_keys == ("predictions",)


def test_onnx_export_that_fails_verification_keeps_nothing(tfckpt, tmp_path, monkeypatch):
    """An ONNX model that predicts differently (its weights scaled) is not kept."""
    import onnx.numpy_helper

    real = onnx_target.onnx_model

    def sabotaged(inference, *, name):
        model = real(inference, name=name)
        for tensor in model.graph.initializer:
            value = onnx.numpy_helper.to_array(tensor)
            if value.dtype == np.float32 and value.size > 1:
                tensor.CopyFrom(onnx.numpy_helper.from_array(value * 1.5, tensor.name))
        return model

    monkeypatch.setattr(onnx_target, "onnx_model", sabotaged)
    run = export_onnx(tfckpt, "dnn-regressor", tmp_path / "m.onnx", "--via", "canned")
    assert run.code == 1
    assert "m.onnx was not written: it does not predict what" in run.err
    assert os.listdir(tmp_path) == []


# The real-world model dirs `export` converts: test_convert's, and the taxi LinearRegressor
# (queue-fed training graph, five numeric columns) that converts as well.
ONNX_REAL_WORLD = {**REAL_WORLD_EXPORTS,
                   "estimator-linearregressor-taxi-queue-tf1.8": "taxi_trained"}


@pytest.mark.parametrize("case", sorted(ONNX_REAL_WORLD))
def test_real_world_exports_to_onnx_and_verifies_against_its_original_graph(tfckpt, tmp_path, case):
    source = REAL_WORLD / case / ONNX_REAL_WORLD[case]
    out = tmp_path / "model.onnx"
    run = tfckpt("export", source, out, "--format", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["way"] == "meta-graph"
    again = tfckpt("verify", source, out, "--format", "json")
    assert again.code == 0, again.err
    report = json.loads(again.out)
    assert report["result"] == "PASS" and report["only_in_a"] == report["only_in_b"] == []
    if "half_plus_two" in case:
        x = np.array([-2.0, 0.0, 1.5, 1000.0], np.float32)
        np.testing.assert_array_equal(OnnxPredictor(str(out)).predict({"x": x})["y"], x * 0.5 + 2)
