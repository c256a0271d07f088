"""The meta-graph way: training graphs cut to inference reproduce what the old models predicted."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import FIXTURES, REAL_WORLD
from fixture_cases import assert_same_outputs, load_predictions, split_predictions
from inspectors.graphs import io as graph_io
from inspectors.sources import paths
from inspectors.errors import UnsupportedSource
from migrate.rebuild import surgery as graph_surgery, metagraph
from migrate.rebuild.inference import META_GRAPH, FeatureSpec

CANNED = ["dnn-classifier-v1", "dnn-classifier-v2", "dnn-regressor", "linear-classifier",
          "wide-deep"]


def build(given, **options):
    return metagraph.build_from_graph(paths.resolve(str(given)), **options)


def predicts_recorded(case: str, inference) -> None:
    x, y = split_predictions(load_predictions(case))
    try:
        assert_same_outputs(y, inference.predict(x), atol=1e-5)
    finally:
        inference.close()


@pytest.mark.parametrize("case", CANNED)
def test_canned_estimators_reproduce_their_predictions(case, tf):
    inference = build(FIXTURES / case / "model_dir")
    assert inference.way == META_GRAPH
    x, _ = split_predictions(load_predictions(case))
    assert sorted(inference.inputs) == sorted(x)
    assert {spec.name for spec in inference.features} == set(x)
    predicts_recorded(case, inference)


@pytest.mark.parametrize("case", ["linear-classifier", "wide-deep"])
def test_vocabulary_columns_carry_their_words_for_generated_inputs(case, tf):
    """Generated inputs (export's self-check, verify) must reach real vocabulary entries."""
    import json

    from migrate.rebuild.inputs import OOV_WORD, generate

    spec = json.loads((FIXTURES / case / "case.json").read_text())["feature_spec"]
    inference = build(FIXTURES / case / "model_dir")
    try:
        features = {s.name: s for s in inference.features}
        assert features["color"].vocabulary == tuple(spec["color"]["vocabulary_list"])
        assert features["city"].vocabulary == ()  # hashed: no table to read words from
        words = set(generate(inference.features)["color"].reshape(-1).tolist())
        assert {OOV_WORD.encode()} < words <= {w.encode() for w in spec["color"]["vocabulary_list"]} | {
            OOV_WORD.encode()}
    finally:
        inference.close()


def test_dropout_and_batch_norm_switched_to_inference(tf):
    inference = build(FIXTURES / "dnn-classifier-v2" / "model_dir")
    assert "dropout switched off (2 dropout op(s) bypassed)" in inference.notes
    assert "batch normalization on its moving statistics (2 layer(s))" in inference.notes
    graph_def = inference.graph.as_graph_def()
    nodes = graph_surgery.nodes_of(graph_def)
    needed = graph_surgery.ancestors(nodes, [t.op.name for t in inference.outputs.values()])
    assert "RandomUniform" in {node.op for node in graph_def.node}  # the kernels' initializers
    assert not {nodes[name].op for name in needed} & {
        "RandomUniform", "AssignSubVariableOp", "IteratorGetNext", "Mean", "SquaredDifference"}
    # Inference is deterministic: a second run gives the same numbers.
    x, _ = split_predictions(load_predictions("dnn-classifier-v2"))
    first, second = inference.predict(x), inference.predict(x)
    np.testing.assert_array_equal(first["logits"], second["logits"])
    predicts_recorded("dnn-classifier-v2", inference)


def test_graph_pbtxt_without_meta_restores_one_part_partitions(tmp_path, tf):
    """TF1 canned DNN: `…/part_0` nodes, full-name keys; no collections in graph.pbtxt."""
    source = FIXTURES / "dnn-classifier-v1" / "model_dir"
    for name in ("checkpoint", "graph.pbtxt", "model.ckpt-40.index",
                 "model.ckpt-40.data-00000-of-00001"):
        shutil.copy(source / name, tmp_path / name)
    inference = build(tmp_path)
    assert inference.notes[0] == f"meta-graph: {tmp_path / 'graph.pbtxt'}"
    assert any(v.op.name.endswith("/part_0") for v in inference.graph.get_collection("variables"))
    predicts_recorded("dnn-classifier-v1", inference)


def test_partitioned_linear_variables_restore_from_their_slices(tf):
    inference = build(FIXTURES / "linear-classifier" / "model_dir")
    keys = {metagraph.checkpoint_key(v) for v in inference.graph.get_collection("variables")}
    assert "linear/linear_model/color/weights" in keys
    parts = [v for v in inference.graph.get_collection("variables")
             if metagraph.checkpoint_key(v) == "linear/linear_model/color/weights"]
    assert len(parts) == 3
    predicts_recorded("linear-classifier", inference)


def test_custom_regression_output_found_from_its_loss(tf):
    # The graph cannot tell the feature's key (a bare dict entry); the caller names it.
    inference = build(FIXTURES / "custom-linear-regression" / "model_dir",
                      features=(FeatureSpec("x", "float32", (3,)),))
    assert list(inference.outputs) == ["predictions"]
    assert inference.outputs["predictions"].name == "Squeeze:0"
    predicts_recorded("custom-linear-regression", inference)


def test_custom_softmax_with_named_outputs(tf):
    inference = build(FIXTURES / "custom-softmax-classifier" / "model_dir",
                      outputs={"probabilities": "Softmax", "classes": "ArgMax:0"},
                      features=(FeatureSpec("x", "float32", (8,)),))
    predicts_recorded("custom-softmax-classifier", inference)


def test_keyless_input_is_named_after_its_tensor(tf):
    inference = build(FIXTURES / "custom-linear-regression" / "model_dir")
    assert list(inference.inputs) == ["x"]  # a custom model_fn's graph keeps no feature key
    assert inference.features == (FeatureSpec("x", "float32", (3,)),)
    inference.close()


@pytest.mark.parametrize("case", ["saver-v1", "saver-v2-sharded"])
def test_plain_saver_graphs(case, tf):
    inference = build(FIXTURES / case)
    assert list(inference.inputs) == ["x"] and list(inference.outputs) == ["y"]
    assert inference.inputs["x"].name == "x:0" and inference.outputs["y"].name == "y:0"
    assert inference.features == (FeatureSpec("x", "float32", (4,)),)
    predicts_recorded(case, inference)


# --- real-world --------------------------------------------------------------

@pytest.mark.parametrize("case", ["serving-half_plus_two-v1", "serving-half_plus_two-v2-export"])
def test_half_plus_two(case, tf):
    inference = build(REAL_WORLD / case / "00000123" / "export")
    assert list(inference.inputs) == ["x"] and list(inference.outputs) == ["y"]
    x = np.array([0.0, 1.0, 2.0, -4.0, 10.0], dtype=np.float32)
    np.testing.assert_array_equal(inference.predict({"x": x})["y"], 0.5 * x + 2)
    if case.endswith("v2-export"):
        assert ("cleared the meta graph's tensorflow_version '0.12.head', which TF 2.21 "
                "refuses") in inference.notes
    inference.close()


def original_outputs(meta_path, checkpoint, fetches, feeds=None):
    """Run the untouched training graph (its embedded data, or `feeds` in its place)."""
    from inspectors.tf_loader import tensorflow

    tf = tensorflow()
    meta = graph_io.load(str(meta_path)).units[0].meta
    metagraph.mend_versions(meta)
    graph = tf.Graph()
    with graph.as_default():
        saver = tf.compat.v1.train.import_meta_graph(meta, clear_devices=True)
        with tf.compat.v1.Session(graph=graph) as session:
            saver.restore(session, checkpoint)
            return session.run(fetches, feed_dict=feeds)


def embedded_data(meta_path) -> dict[str, np.ndarray]:
    """The training data a graph carries as Consts, by the feature key we gave it."""
    from inspectors.tf_loader import tensorflow

    tf = tensorflow()
    graph_def = graph_io.load(str(meta_path)).units[0].graph_def
    nodes = graph_surgery.nodes_of(graph_def)
    feeds = graph_surgery.find_feeds(graph_def, aliases={})
    return {feed.key or feed.tensor.split(":")[0]: tf.make_ndarray(
        nodes[feed.tensor.split(":")[0]].attr["value"].tensor) for feed in feeds}


def test_contrib_learn_iris_on_embedded_data(tf):
    model = REAL_WORLD / "contrib-learn-iris-dnn-tf1.14-part0" / "iris_model"
    inference = build(model)
    assert list(inference.inputs) == ["x"]  # real_valued_column(""): no key in the graph
    assert inference.features == (FeatureSpec("x", "float32", (4,)),)
    data = embedded_data(model / "model.ckpt-2000.meta")["Const"]
    got = inference.predict({"x": data})
    assert sorted(got) == ["classes", "logits", "probabilities"]
    assert got["probabilities"].shape == (120, 3) and got["classes"].dtype == np.int64
    np.testing.assert_allclose(got["probabilities"].sum(axis=1), 1, atol=1e-6)
    want = original_outputs(model / "model.ckpt-2000.meta", str(model / "model.ckpt-2000"),
                            {"logits": "dnn/logits/BiasAdd:0",
                             "probabilities": "dnn/multi_class_head/predictions/probabilities:0",
                             "classes": "dnn/multi_class_head/predictions/classes:0"})
    assert_same_outputs(want, got, atol=1e-6)
    inference.close()


def test_contrib_learn_tf011_linear_on_embedded_data(tf):
    model = REAL_WORLD / "contrib-learn-v1-sharded-tf0.11" / "model"
    inference = build(model)
    keys = ["gdp_change", "gld_change", "manufacture_durable_orders_change",
            "manufacture_orders_change", "slv_change", "spy_change"]
    assert sorted(inference.inputs) == keys  # named by the linear weights they meet
    assert sorted(inference.outputs) == ["classes", "logistic", "logits", "probabilities"]
    assert any("457 rows" in note for note in inference.notes)
    # TF 0.x `Variable` ops become `VariableV2`, which today's freezing converts.
    variable_ops = {op.type for op in inference.graph.get_operations() if "Variable" in op.type}
    assert variable_ops == {"VariableV2"}
    rows = np.random.RandomState(0).uniform(-2, 2, size=(457, len(keys))).astype(np.float32)
    got = inference.predict({key: rows[:, i] for i, key in enumerate(keys)})
    np.testing.assert_allclose(got["probabilities"].sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(got["logistic"][:, 0], got["probabilities"][:, 1], atol=1e-6)
    meta = model / "model.ckpt-4.meta"
    consts = {key: f"{node}:0" for key, node in _const_of_key(meta).items()}
    want = original_outputs(meta, str(model / "model.ckpt-4-?????-of-00001"), "BiasAdd:0",
                            {consts[key]: rows[:, i] for i, key in enumerate(keys)})
    np.testing.assert_allclose(got["logits"], want, atol=1e-6)
    # Any batch size: the data's 457 rows were baked into reshapes.
    small = inference.predict({key: rows[:3, i] for i, key in enumerate(keys)})
    np.testing.assert_allclose(small["logits"], want[:3], atol=1e-6)
    inference.close()


def _const_of_key(meta_path) -> dict[str, str]:
    graph_def = graph_io.load(str(meta_path)).units[0].graph_def
    return {feed.key: feed.tensor.split(":")[0]
            for feed in graph_surgery.find_feeds(graph_def, aliases={}) if feed.key}


def test_estimator_linear_wide_2017(tf):
    inference = build(REAL_WORLD / "estimator-linear-wide-2017" / "model")
    # The dataset's map functions (PyFunc inside) stay behind with the input pipeline.
    assert not inference.graph.as_graph_def().library.function
    assert inference.features == (FeatureSpec("x", "float32", (1920,)),)
    assert list(inference.outputs) == ["logits", "logistic", "probabilities", "class_ids",
                                       "classes"]
    x = np.random.RandomState(1).uniform(0, 1, size=(5, 1920)).astype(np.float32)
    got = inference.predict({"x": x})
    assert got["probabilities"].shape == (5, 2) and got["class_ids"].shape == (5, 1)
    np.testing.assert_allclose(got["probabilities"].sum(axis=1), 1, atol=1e-6)
    np.testing.assert_array_equal(got["class_ids"][:, 0], got["probabilities"].argmax(axis=1))
    assert got["classes"].astype("S").tolist() == got["class_ids"].astype("S").tolist()
    inference.close()


# --- bad input ---------------------------------------------------------------

def error_of(given, **options) -> UnsupportedSource:
    with pytest.raises(UnsupportedSource) as caught:
        build(given, **options)
    assert caught.value.exit_code == 2
    return caught.value


def test_equally_likely_outputs_are_all_exported_and_listed_in_a_note(tf):
    # ArgMax, Softmax and the logits score the same: all three are kept (each by its
    # role), not refused, and they predict what the Estimator predicted.
    inference = build(FIXTURES / "custom-softmax-classifier" / "model_dir")
    assert sorted(inference.outputs) == ["classes", "logits", "probabilities"]
    assert [note for note in inference.notes if note.startswith("prediction outputs guessed")]
    x, y = split_predictions(load_predictions("custom-softmax-classifier"))
    try:
        got = inference.predict(x)
        assert_same_outputs(y, {key: got[key] for key in y}, atol=1e-5)
    finally:
        inference.close()


def test_unknown_output_tensor_gets_closest_matches(tf):
    error = error_of(FIXTURES / "saver-v1", outputs={"y": "yy:0"})
    assert str(error) == "--outputs names tensor yy:0, which the graph does not have; closest: y"


def test_model_dir_without_graph(tf):
    model = FIXTURES / "contrib-learn-names" / "model_dir"
    error = error_of(model)
    assert str(error) == (f"no training graph for {model}: no .meta beside the checkpoint and no "
                          f"graph.pbtxt in {model}; use --via canned (canned Estimators) or "
                          f"--via model-fn --model-fn module:function")


def _copy_saver_v1(tmp_path):
    for name in ("checkpoint", "model.ckpt-50", "model.ckpt-50.meta"):
        shutil.copy(FIXTURES / "saver-v1" / name, tmp_path / name)
    return tmp_path / "model.ckpt-50.meta"


def test_unknown_ops_are_named(tmp_path, tf):
    meta_path = _copy_saver_v1(tmp_path)
    loaded = graph_io.load(str(meta_path)).units[0].meta
    for node in loaded.graph_def.node:
        if node.name == "y":
            node.op = "OldContribOp"
    meta_path.write_bytes(loaded.SerializeToString())
    error = error_of(tmp_path)
    assert str(error) == ("the inference part of the graph uses op(s) TensorFlow 2.21 does not "
                          "have: OldContribOp; use --via canned (canned Estimators) or --via "
                          "model-fn --model-fn module:function")


def test_missing_variables_listed_with_closest_matches(tmp_path, tf):
    """The graph's .meta beside a checkpoint whose variables were named otherwise."""
    meta_path = _copy_saver_v1(tmp_path)
    reader = tf.train.load_checkpoint(str(tmp_path / "model.ckpt-50"))
    renamed = tmp_path / "renamed"
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.Variable(reader.get_tensor(name), name=_misspelt(name))
                     for name in reader.get_variable_to_shape_map()]
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver(variables).save(session, str(renamed / "model.ckpt-50"),
                                                     write_meta_graph=False)
    shutil.copy(meta_path, renamed / "model.ckpt-50.meta")
    error = error_of(renamed / "model.ckpt-50")
    assert str(error) == (
        f"checkpoint {renamed / 'model.ckpt-50'} lacks 4 variable(s) the graph needs: "
        f"layer1/biases (closest: layer1_x/biases, layer2_x/biases); layer1/weights (closest: "
        f"layer1_x/weights, layer2_x/weights); layer2/biases (closest: layer2_x/biases, "
        f"layer1_x/biases); layer2/weights (closest: layer2_x/weights, layer1_x/weights). Rename "
        f"them with `tfckpt rename`, or pass the checkpoint this graph was saved with")


def _misspelt(name: str) -> str:
    return name.replace("/", "_x/", 1) if "/" in name else name + "_x"


def test_feature_override_for_no_input(tf):
    error = error_of(FIXTURES / "saver-v1", features=(FeatureSpec("pixels", "float32", (4,)),))
    assert str(error) == "feature(s) pixels match no input of the graph (its inputs: target, x)"


# --- inference switches on graphs built here -----------------------------------

def _train_and_save(tf, directory, *, fused: bool, switch: bool) -> None:
    """x -> batch norm (training) -> TF <= 1.12 dropout (x/keep * floor(keep + U)) -> dense -> y."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(7)
        x = v1.placeholder(tf.float32, [None, 1, 1, 4], name="x")
        training = v1.placeholder_with_default(True, [], name="is_training") if switch else True
        normed = v1.layers.batch_normalization(x, training=training, fused=fused, momentum=0.5,
                                               name="bn")
        flat = tf.reshape(normed, [-1, 4])
        with tf.name_scope("dropout"):
            keep = tf.constant(0.5, name="keep_prob")
            noise = keep + tf.random.uniform(tf.shape(flat), name="random_uniform")
            dropped = tf.math.divide(flat, keep) * tf.floor(noise)
        y = tf.identity(v1.layers.dense(dropped, 2, name="out"), name="y")
        loss = tf.reduce_mean(tf.square(y))
        updates = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
        with tf.control_dependencies(updates):
            train = v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        data = np.random.RandomState(3).normal(2, 3, size=(32, 1, 1, 4)).astype(np.float32)
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            for _ in range(5):
                session.run(train, {x: data})
            v1.train.Saver().save(session, str(directory / "model.ckpt"), global_step=5)


def _inference_by_hand(tf, prefix: str, x: np.ndarray) -> np.ndarray:
    reader = tf.train.load_checkpoint(prefix)
    get = reader.get_tensor
    normed = (x.reshape(-1, 4) - get("bn/moving_mean")) / np.sqrt(get("bn/moving_variance") + 1e-3)
    normed = normed * get("bn/gamma") + get("bn/beta")
    return normed @ get("out/kernel") + get("out/bias")


@pytest.mark.parametrize("fused, switch", [(True, False), (False, True)],
                         ids=["fused-batch-norm-floor-dropout", "moments-switch-floor-dropout"])
def test_batch_norm_and_old_dropout_forms(tmp_path, tf, fused, switch):
    _train_and_save(tf, tmp_path, fused=fused, switch=switch)
    inference = build(tmp_path, outputs={"y": "y"})
    assert "dropout switched off (1 dropout op(s) bypassed)" in inference.notes
    if switch:  # the cond picks the moving statistics once the switch is false
        assert "learning-phase input(s) set to false: is_training" in inference.notes
    else:
        assert "batch normalization on its moving statistics (1 layer(s))" in inference.notes
    x = np.random.RandomState(5).normal(2, 3, size=(6, 1, 1, 4)).astype(np.float32)
    want = _inference_by_hand(tf, str(tmp_path / "model.ckpt-5"), x)
    np.testing.assert_allclose(inference.predict({"x": x})["y"], want, rtol=1e-5, atol=1e-5)
    inference.close()
