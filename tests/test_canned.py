"""migrate.canned: canned Estimators rebuilt from their checkpoints predict what the
real Estimators predicted (fixtures), what the original training graphs compute
(real-world model dirs), and refuse what they cannot rebuild with one clear message."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import REAL_WORLD
from fixture_cases import assert_same_outputs, case_dir, load_case, load_predictions, split_predictions
from inspectors.sources import paths
from inspectors.errors import UnsupportedSource

CANNED_CASES = ["dnn-classifier-v1", "dnn-classifier-v2", "dnn-regressor", "linear-classifier",
                "wide-deep", "contrib-learn-names"]


def _canned():
    from migrate.rebuild import canned

    return canned


def _spec_features(case: str):
    return _canned().features_from_spec(load_case(case)["feature_spec"])


def assert_predicts(graph, case: str) -> None:
    """Every recorded output (and no other), same shapes and dtypes (see assert_same_outputs)."""
    x, expected = split_predictions(load_predictions(case))
    assert_same_outputs(expected, graph.predict(x), atol=1e-5)


@pytest.mark.parametrize("case", CANNED_CASES)
def test_fixture_rebuilt_predicts_recorded_estimator_output(tf, case):
    features = _spec_features(case) if case == "contrib-learn-names" else None
    graph = _canned().build_canned(paths.resolve(str(case_dir(case) / "model_dir")),
                                   features=features)
    try:
        assert graph.way == "canned" and graph.init_op is None
        assert_predicts(graph, case)
    finally:
        graph.close()


def test_placeholders_variables_and_outputs_are_what_exporters_need(tf):
    graph = _canned().build_canned(paths.resolve(str(case_dir("wide-deep") / "model_dir")))
    try:
        inputs = {k: (t.op.name, t.dtype.name, t.shape.as_list()) for k, t in graph.inputs.items()}
        assert inputs == {"age": ("age", "float32", [None, 1]),
                          "hours": ("hours", "float32", [None, 1]),
                          "color": ("color", "string", [None, 1]),
                          "city": ("city", "string", [None, 1])}
        outputs = {k: t.dtype.name for k, t in graph.outputs.items()}
        assert outputs == {"logits": "float32", "logistic": "float32", "probabilities": "float32",
                           "class_ids": "int64", "classes": "string", "all_class_ids": "int32",
                           "all_classes": "string"}
        with graph.graph.as_default():
            names = sorted(v.op.name for v in tf.compat.v1.global_variables())
        assert names == sorted([
            "dnn/hiddenlayer_0/kernel", "dnn/hiddenlayer_0/bias", "dnn/hiddenlayer_1/kernel",
            "dnn/hiddenlayer_1/bias", "dnn/logits/kernel", "dnn/logits/bias",
            "dnn/input_from_feature_columns/input_layer/color_embedding/embedding_weights",
            "linear/linear_model/city/weights", "linear/linear_model/city_X_color/weights",
            "linear/linear_model/color/weights", "linear/linear_model/bias_weights"])
        graph_def = graph.graph.as_graph_def()
        assert not [n.name for n in graph_def.node if n.op.startswith(("HashTable", "Lookup"))]
        assert {f.name: f.vocabulary for f in graph.features}["color"] == (
            "red", "green", "blue", "yellow", "black", "white")
    finally:
        graph.close()


def test_partitioned_linear_weights_are_joined_into_one_variable(tf):
    source = paths.resolve(str(case_dir("linear-classifier") / "model_dir"))
    graph = _canned().build_canned(source)
    try:
        with graph.graph.as_default():
            color = next(v for v in tf.compat.v1.global_variables()
                         if v.op.name == "linear/linear_model/color/weights")
        assert color.shape.as_list() == [6, 1]
        want = tf.train.load_checkpoint(str(case_dir("linear-classifier") / "model_dir")).get_tensor(
            "linear/linear_model/color/weights")
        got = graph.session.run(color)
        assert (got.dtype, got.shape, got.tobytes()) == (want.dtype, want.shape, want.tobytes())
    finally:
        graph.close()


def _without_graph(tmp_path, case: str):
    model_dir = tmp_path / "model_dir"
    shutil.copytree(case_dir(case) / "model_dir", model_dir,
                    ignore=shutil.ignore_patterns("*.meta", "graph.pbtxt"))
    return paths.resolve(str(model_dir))


def test_linear_model_without_graph_takes_columns_from_the_feature_spec(tf, tmp_path):
    """Names alone cannot tell a binary head from a regressor: the caller's Estimator
    record says it; the feature spec gives the columns' kinds and vocabularies."""
    import dataclasses

    from inspectors.formats.checkpoint import open_reader
    from inspectors.estimator import recognize

    source = _without_graph(tmp_path, "linear-classifier")
    recognized = dataclasses.replace(recognize(open_reader(source).variables()),
                                     task="classifier", head="binary", n_classes=2)
    graph = _canned().build_canned(source, features=_spec_features("linear-classifier"),
                                   estimator=recognized)
    try:
        assert_predicts(graph, "linear-classifier")
        assert graph.notes[0] == "no graph (.meta or graph.pbtxt) beside the checkpoint"
        assert "color: vocabulary from the given features" in graph.notes
    finally:
        graph.close()


def test_contrib_names_without_graph_note_every_assumption(tf):
    graph = _canned().build_canned(paths.resolve(str(case_dir("contrib-learn-names") / "model_dir")),
                                   features=_spec_features("contrib-learn-names"))
    try:
        assert graph.notes == [
            "no graph (.meta or graph.pbtxt) beside the checkpoint",
            "DNN input columns: the given numeric features (petal_length, petal_width, "
            "sepal_length, sepal_width), sorted by name",
            "hiddenlayer_0: activation not shown by a graph; assumed relu (the canned default)",
            "hiddenlayer_1: activation not shown by a graph; assumed relu (the canned default)",
            "centered_bias_weight is added to the logits (tf.contrib.learn)",
            "classes are the class ids as strings (no label vocabulary in a graph)"]
    finally:
        graph.close()


def test_centered_bias_is_added_to_the_logits(tf, tmp_path):
    """contrib-learn-names stores zeros; a non-zero centered bias must shift every logit."""
    canned = _canned()
    source = paths.resolve(str(case_dir("contrib-learn-names") / "model_dir"))
    graph = canned.build_canned(source, features=_spec_features("contrib-learn-names"))
    try:
        x, expected = split_predictions(load_predictions("contrib-learn-names"))
        with graph.graph.as_default():
            bias = next(v for v in tf.compat.v1.global_variables()
                        if v.op.name == "centered_bias_weight")
        shift = np.array([0.5, -1.0, 2.0], np.float32)
        graph.session.run(bias.initializer, {bias.initializer.inputs[1]: shift})
        np.testing.assert_allclose(graph.predict(x)["logits"], expected["logits"] + shift,
                                   rtol=0, atol=1e-5)
    finally:
        graph.close()


def test_feature_specs_for_lists_raw_keys(tf):
    specs = _canned().feature_specs_for(paths.resolve(str(case_dir("linear-classifier")
                                                          / "model_dir")))
    assert [s.to_dict() for s in specs] == [
        {"name": "age", "dtype": "float32", "shape": [1], "vocabulary": [], "hash_buckets": None,
         "int_high": None},
        {"name": "city", "dtype": "string", "shape": [1], "vocabulary": [], "hash_buckets": 30,
         "int_high": None},
        {"name": "color", "dtype": "string", "shape": [1],
         "vocabulary": ["red", "green", "blue", "yellow", "black", "white"],
         "hash_buckets": None, "int_high": None}]


# --- real-world model dirs, against their original training graphs ------------------------

def _run_original(tf, graph_file, checkpoint: str, fetch: str, feeds: dict) -> np.ndarray:
    """Run the original graph's `fetch` with the checkpoint's values fed at every
    variable's read and the inputs fed where the feature columns took them. Plain
    TensorFlow only: the text GraphDef parsed by protobuf, values from
    `tf.train.load_checkpoint` (a one-part `part_0` variable is stored under its full name)."""
    from google.protobuf import text_format

    graph_def = text_format.Parse(Path(graph_file).read_text(), tf.compat.v1.GraphDef(),
                                  allow_unknown_field=True)
    needed = tf.compat.v1.graph_util.extract_sub_graph(graph_def, [fetch])
    reader = tf.train.load_checkpoint(checkpoint)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(needed, name="")
    values = dict(feeds)
    present = {node.name for node in needed.node}
    for node in needed.node:
        if node.op in ("Variable", "VariableV2") and node.name + "/read" in present:
            name = node.name[: -len("/part_0")] if node.name.endswith("/part_0") else node.name
            values[node.name + "/read:0"] = reader.get_tensor(name)
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run(fetch + ":0", feed_dict=values)


def test_real_world_contrib_iris_dnn_matches_its_graph(tf):
    model_dir = REAL_WORLD / "contrib-learn-iris-dnn-tf1.14-part0" / "iris_model"
    x = np.random.RandomState(0).uniform(0.0, 8.0, (120, 4)).astype(np.float32)
    original = _run_original(tf, model_dir / "graph.pbtxt", str(model_dir),
                             "dnn/logits/BiasAdd", {"Const:0": x})
    graph = _canned().build_canned(paths.resolve(str(model_dir)))
    try:
        assert [f.to_dict() for f in graph.features] == [
            {"name": "x", "dtype": "float32", "shape": [4], "vocabulary": [], "hash_buckets": None,
             "int_high": None}]
        got = graph.predict({"x": x})
        np.testing.assert_allclose(got["logits"], original, rtol=0, atol=1e-5)
        assert got["class_ids"][:, 0].tolist() == original.argmax(axis=1).tolist()
        assert any("unnamed dense tensor of width 4" in note for note in graph.notes)
    finally:
        graph.close()


def test_real_world_contrib_linear_tf011_matches_its_graph(tf):
    model_dir = REAL_WORLD / "contrib-learn-v1-sharded-tf0.11" / "model"
    # graph.pbtxt embeds the training columns as constants Const..Const_5 (457 rows each),
    # fed to the weights in this order:
    order = ["gdp_change", "manufacture_orders_change", "manufacture_durable_orders_change",
             "spy_change", "gld_change", "slv_change"]
    rng = np.random.RandomState(1)
    x = {key: rng.normal(size=457).astype(np.float32) for key in order}
    feeds = {f"Const{'' if i == 0 else f'_{i}'}:0": x[key] for i, key in enumerate(order)}
    original = _run_original(tf, model_dir / "graph.pbtxt", str(model_dir), "BiasAdd", feeds)
    graph = _canned().build_canned(paths.resolve(str(model_dir)))
    try:
        got = graph.predict(x)
        np.testing.assert_allclose(got["logits"], original, rtol=0, atol=1e-5)
        np.testing.assert_allclose(got["logistic"], 1 / (1 + np.exp(-original)), atol=1e-5)
        assert got["class_ids"][:, 0].tolist() == (original[:, 0] > 0).astype(int).tolist()
    finally:
        graph.close()


def test_real_world_estimator_linear_wide_matches_its_graph(tf):
    model_dir = REAL_WORLD / "estimator-linear-wide-2017" / "model"
    x = np.random.RandomState(2).uniform(-1, 1, (8, 1920)).astype(np.float32)
    original = _run_original(tf, model_dir / "graph.pbtxt", str(model_dir),
                             "linear/linear_model/weighted_sum", {"IteratorGetNext:0": x})
    graph = _canned().build_canned(paths.resolve(str(model_dir)))
    try:
        got = graph.predict({"x": x})
        np.testing.assert_allclose(got["logits"], original, rtol=0, atol=1e-4)
        assert got["probabilities"].shape == (8, 2)
    finally:
        graph.close()


# --- bad input ----------------------------------------------------------------------------

def test_non_canned_checkpoint_is_refused_naming_what_was_recognized(tf):
    with pytest.raises(UnsupportedSource) as error:
        _canned().build_canned(paths.resolve(str(case_dir("saver-v1"))))
    message = str(error.value)
    assert "is not a canned Estimator checkpoint: recognized a custom model" in message
    assert "Use --via meta-graph or --model-fn" in message
    assert "\n" not in message


def test_missing_feature_facts_ask_for_a_feature_spec(tf):
    with pytest.raises(UnsupportedSource) as error:
        _canned().build_canned(paths.resolve(str(case_dir("contrib-learn-names") / "model_dir")))
    assert str(error.value) == (
        "feature column facts missing for the DNN input (width 4): no graph, and no features "
        "were given; pass --features SPEC.json (feature key -> kind, dtype, shape, vocabulary)")


def test_undecidable_head_without_graph_is_refused(tf, tmp_path):
    source = _without_graph(tmp_path, "linear-classifier")
    with pytest.raises(UnsupportedSource) as error:
        _canned().build_canned(source, features=_spec_features("linear-classifier"))
    assert str(error.value) == (
        f"{source.given}: cannot tell classifier from regressor (1 logit: binary classifier or "
        f"regressor; no graph or head name tells which). Put the training graph (.meta or "
        f"graph.pbtxt) beside the checkpoint")


def test_missing_linear_column_facts_name_the_columns(tf, tmp_path):
    import dataclasses

    from inspectors.formats.checkpoint import open_reader
    from inspectors.estimator import recognize

    source = _without_graph(tmp_path, "linear-classifier")
    recognized = dataclasses.replace(recognize(open_reader(source).variables()),
                                     task="classifier", head="binary", n_classes=2)
    with pytest.raises(UnsupportedSource) as error:
        _canned().build_canned(source, estimator=recognized)
    assert str(error.value) == (
        "feature column facts missing for age, city, color: the checkpoint names them but "
        "neither a graph nor the given features tell their kind, vocabulary or hash buckets; "
        "pass --features SPEC.json (feature key -> kind, dtype, shape, vocabulary)")


def test_features_that_do_not_fill_the_dnn_input_are_refused(tf):
    from migrate.rebuild.inference import FeatureSpec

    wrong = (FeatureSpec("petal_length", "float32", (1,)), FeatureSpec("petal_width", "float32", (2,)))
    with pytest.raises(UnsupportedSource) as error:
        _canned().build_canned(paths.resolve(str(case_dir("contrib-learn-names") / "model_dir")),
                               features=wrong)
    assert str(error.value).startswith("the DNN input is 4 wide but its columns make 3: "
                                       "petal_length (1), petal_width (2); ")


# --- legacy env: real Estimators with every other column kind ----------------------------

def _legacy_estimator_module():
    from fixture_cases import use_keras_2_in_legacy_env

    use_keras_2_in_legacy_env()
    return pytest.importorskip("tensorflow_estimator").estimator


def _train_and_predict(tf, estimator, x: dict, y: np.ndarray) -> dict:
    inputs = tf.compat.v1.estimator.inputs
    estimator.train(inputs.numpy_input_fn(x, y, batch_size=8, num_epochs=None, shuffle=True),
                    steps=30)
    rows = list(estimator.predict(inputs.numpy_input_fn(x, batch_size=8, shuffle=False)))
    return {key: np.stack([row[key] for row in rows]) for key in rows[0]}


def _many_columns(tf, tmp_path):
    fc = tf.feature_column
    vocabulary_file = tmp_path / "fruit.txt"
    vocabulary_file.write_text("apple\npear\nplum\n")
    return [
        fc.bucketized_column(fc.numeric_column("x"), boundaries=[-1.0, 0.0, 1.0]),
        fc.indicator_column(fc.categorical_column_with_vocabulary_list(
            "color", ["red", "green", "blue"], num_oov_buckets=2)),
        fc.embedding_column(fc.categorical_column_with_hash_bucket("city", 10), 2,
                            combiner="sqrtn"),
        fc.embedding_column(fc.categorical_column_with_identity("level", 5, default_value=0),
                            2, combiner="sum"),
        fc.embedding_column(fc.categorical_column_with_vocabulary_file(
            "fruit", str(vocabulary_file), vocabulary_size=3), 2),
        fc.numeric_column("z", shape=(2,)),
    ]


def _many_inputs(rows: int = 24) -> dict:
    rng = np.random.RandomState(3)
    return {"x": rng.uniform(-2, 2, rows).astype(np.float32),
            "color": rng.choice(["red", "green", "blue", "pink", ""], rows).astype(object),
            "city": rng.choice(["a", "b", "c", "d"], rows).astype(object),
            "level": rng.choice([0, 1, 2, 4, 7], rows).astype(np.int64),
            "fruit": rng.choice(["apple", "pear", "plum", "kiwi"], rows).astype(object),
            "z": rng.normal(size=(rows, 2)).astype(np.float32),
            "code": rng.choice([3, 5, 11, 12], rows).astype(np.int64),
            "size": rng.choice([1, 2, 3, 9], rows).astype(np.int64)}


def _assert_same(got: dict, expected: dict) -> None:
    for key, want in expected.items():
        if np.asarray(want).dtype.kind == "f":
            np.testing.assert_allclose(got[key], want, rtol=0, atol=1e-5, err_msg=key)
        else:
            assert np.asarray(got[key]).tolist() == np.asarray(want).tolist(), key


@pytest.mark.legacy
def test_dnn_with_every_dense_column_kind_matches_a_real_estimator(tf, tmp_path):
    estimators = _legacy_estimator_module()
    x = _many_inputs()
    y = np.array(["a", "b", "c"] * 8, dtype=object)
    model = estimators.DNNClassifier(
        hidden_units=[6], feature_columns=_many_columns(tf, tmp_path), n_classes=3,
        label_vocabulary=["a", "b", "c"], activation_fn=tf.nn.elu,
        model_dir=str(tmp_path / "dnn"), config=estimators.RunConfig(tf_random_seed=1))
    expected = _train_and_predict(tf, model, {k: x[k] for k in x if k not in ("code", "size")},
                                  y)
    graph = _canned().build_canned(paths.resolve(str(tmp_path / "dnn")))
    try:
        _assert_same(graph.predict({k: x[k] for k in graph.inputs}), expected)
        assert "hiddenlayer_0: activation" not in " ".join(graph.notes)  # elu read from graph
    finally:
        graph.close()


@pytest.mark.legacy
def test_linear_with_categorical_crosses_and_int_keys_matches_a_real_estimator(tf, tmp_path):
    estimators = _legacy_estimator_module()
    fc = tf.feature_column
    x = _many_inputs()
    bucketized = fc.bucketized_column(fc.numeric_column("x"), boundaries=[-1.0, 0.0, 1.0])
    color = fc.categorical_column_with_vocabulary_list("color", ["red", "green", "blue"])
    columns = [bucketized, fc.crossed_column([color, bucketized], 16),
               fc.crossed_column(["city", "code"], 12),
               fc.categorical_column_with_hash_bucket("code", 7, dtype=tf.int64),
               fc.categorical_column_with_vocabulary_list("size", [1, 2, 3], num_oov_buckets=1),
               fc.numeric_column("z", shape=(2,))]
    model = estimators.LinearRegressor(feature_columns=columns, model_dir=str(tmp_path / "lin"),
                                       config=estimators.RunConfig(tf_random_seed=1))
    y = np.random.RandomState(4).normal(size=(24, 1)).astype(np.float32)
    keys = ("x", "color", "city", "code", "size", "z")
    expected = _train_and_predict(tf, model, {k: x[k] for k in keys}, y)
    graph = _canned().build_canned(paths.resolve(str(tmp_path / "lin")))
    try:
        assert sorted(graph.inputs) == sorted(keys)
        _assert_same(graph.predict({k: x[k] for k in graph.inputs}), expected)
        # Both raw keys of city_X_code are expanded in the cross's own scope, so the graph
        # cannot tell which is which: the sorted order is assumed (true here) and said.
        assert any(note.startswith("city_X_code: the crossed keys' hashing order")
                   for note in graph.notes)
        assert not any(note.startswith("color_X_x_bucketized") for note in graph.notes)
    finally:
        graph.close()
