"""tfckpt map: assignment by exact name, presets and unique shape match; the written checkpoint
restores into the target graph with zero missing keys and predicts what the source model did."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, REAL_WORLD, only_line, sha256_tree
from fixture_cases import (assert_same_outputs, load_case, load_predictions, split_predictions,
                           use_keras_2_in_legacy_env)

CONTRIB = FIXTURES / "contrib-learn-names" / "model_dir"
DNN_V1 = FIXTURES / "dnn-classifier-v1" / "model_dir"
DNN_V1_META = DNN_V1 / "model.ckpt-40.meta"
RNN_OLD = FIXTURES / "rnn-tf1.0-names" / "tf1.0" / "model.ckpt-30"
RNN_NEW_META = FIXTURES / "rnn-tf1.0-names" / "tf1.2" / "model.ckpt-30.meta"


def restore_into_meta(tf, meta: Path, prefix: str):
    """A fresh import of the target graph, restored by the graph's own Saver."""
    graph = tf.Graph()
    with graph.as_default():
        saver = tf.compat.v1.train.import_meta_graph(str(meta), clear_devices=True)
    session = tf.compat.v1.Session(graph=graph)
    with graph.as_default():
        saver.restore(session, prefix)
    return graph, session


# ---------------------------------------------------------------------------------------
# Onto a .meta graph
# ---------------------------------------------------------------------------------------

def test_contrib_learn_names_onto_the_v1_dnn_graph(tfckpt, tf, tmp_path):
    before = sha256_tree(CONTRIB)
    run = tfckpt("map", CONTRIB, "--to", DNN_V1_META, tmp_path / "out", "--format", "json")
    assert run.code == 0, run.err
    result = json.loads(run.out)
    plan = result["plan"]
    assert plan["counts"] == {"exact": 1, "preset": 12}
    assert plan["unmatched_targets"] == []
    assert plan["unused_sources"] == ["centered_bias_weight/Adagrad",
                                      "dnn/multi_class_head/dnn/learning_rate"]
    how = {a["target"]: (a["sources"], a["how"]) for a in plan["assignments"]}
    assert how["dnn/logits/bias"] == (["dnn/logits/biases", "centered_bias_weight"],
                                      "preset contrib-learn-to-estimator")
    assert how["dnn/hiddenlayer_0/kernel/t_0/Adagrad"][0] == [
        "dnn/hiddenlayer_0/weights/enlayer_0/weights/part_0/Adagrad"]
    assert result["proof"] == {"missing": 0, "restored": 13}
    assert result["checkpoint"] == str(tmp_path / "out" / "model.ckpt-40")
    # Our own proof again: a Saver over the whole imported target graph restores it,
    # and every target variable holds the dnn-classifier-v1 value bit for bit.
    graph, session = restore_into_meta(tf, DNN_V1_META, result["checkpoint"])
    reference = tf.train.load_checkpoint(str(DNN_V1 / "model.ckpt-40"))
    with graph.as_default():
        keys = {(v._save_slice_info.full_name if v._save_slice_info else v.op.name): v
                for v in tf.compat.v1.global_variables()}  # 1-part partitions: whole
        assert len(keys) == 13
        for key, variable in keys.items():
            assert session.run(variable).tobytes() == reference.get_tensor(key).tobytes(), key
    session.close()
    assert sha256_tree(CONTRIB) == before


def test_rnn_tf10_names_onto_the_tf12_graph_predict_the_recorded_output(tfckpt, tf, tmp_path):
    run = tfckpt("map", RNN_OLD, "--to", RNN_NEW_META, tmp_path / "out", "--format", "json")
    assert run.code == 0, run.err
    result = json.loads(run.out)
    assert {a["target"]: a["how"] for a in result["plan"]["assignments"]} == {
        "dense/bias": "preset layers-weights-to-kernel",
        "dense/kernel": "preset layers-weights-to-kernel",
        "rnn/basic_lstm_cell/bias": "preset rnn-1.0-to-1.2",
        "rnn/basic_lstm_cell/kernel": "preset rnn-1.0-to-1.2"}
    info = load_case("rnn-tf1.0-names")
    x, y = split_predictions(load_predictions("rnn-tf1.0-names"))
    graph, session = restore_into_meta(tf, RNN_NEW_META, result["checkpoint"])
    got = session.run(info["output_node"], {info["input_node"]: x["x"]})
    session.close()
    assert_same_outputs(y, {"y": got})


def test_dry_run_table_writes_nothing(tfckpt, tmp_path):
    run = tfckpt("map", RNN_OLD, "--to", RNN_NEW_META, "--dry-run")
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0].split() == ["target", "source", "how", "dtype", "shape"]
    assert lines[2].split() == ["dense/bias", "fully_connected/biases", "preset",
                                "layers-weights-to-kernel", "float32", "[2]"]
    assert lines[-1] == ("4 of 4 target variables assigned (4 preset); 0 without source, 0 "
                         "source variables unused")
    assert os.listdir(tmp_path) == []


def test_dry_run_csv(tfckpt):
    run = tfckpt("map", RNN_OLD, "--to", RNN_NEW_META, "--dry-run", "--format", "csv")
    assert run.out.splitlines()[:2] == ["target,source,how,dtype,shape",
                                        "dense/bias,fully_connected/biases,preset "
                                        "layers-weights-to-kernel,float32,[2]"]


# ---------------------------------------------------------------------------------------
# Onto another checkpoint: unique shape matches within similar scopes
# ---------------------------------------------------------------------------------------

def test_onto_a_checkpoint_by_shape_and_missing_targets_exit_1(tfckpt, tf, tmp_path):
    run = tfckpt("map", DNN_V1, "--to", CONTRIB, tmp_path / "out")
    assert run.code == 1
    assert only_line(run.err) == (
        f"tfckpt: error: 3 variable(s) of the target {CONTRIB} have no source in {DNN_V1}: "
        f"centered_bias_weight, centered_bias_weight/Adagrad, "
        f"dnn/multi_class_head/dnn/learning_rate. Pass --allow-missing to leave them to their "
        f"initializers, or --preset / a rename first")
    assert not (tmp_path / "out").exists()
    run = tfckpt("map", DNN_V1, "--to", CONTRIB, "--dry-run", "--format", "json")
    assert run.code == 1
    plan = json.loads(run.out)
    assert plan["counts"] == {"exact": 1, "shape": 12}
    assert [t["key"] for t in plan["unmatched_targets"]] == [
        "centered_bias_weight", "centered_bias_weight/Adagrad",
        "dnn/multi_class_head/dnn/learning_rate"]
    run = tfckpt("map", DNN_V1, "--to", CONTRIB, tmp_path / "out", "--allow-missing",
                 "--format", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["proof"] == {"missing": 0, "restored": 13}
    # the reverse of the contrib fixture's name_map, value for value
    written = tf.train.load_checkpoint(str(tmp_path / "out" / "model.ckpt-40"))
    source = tf.train.load_checkpoint(str(DNN_V1 / "model.ckpt-40"))
    name_map = load_case("contrib-learn-names")["name_map"]
    assert sorted(written.get_variable_to_shape_map()) == sorted(name_map)
    for contrib, v1 in name_map.items():
        assert written.get_tensor(contrib).tobytes() == source.get_tensor(v1).tobytes(), contrib


def test_real_world_contrib_learn_iris_onto_itself_is_exact(tfckpt, tf, tmp_path):
    iris = REAL_WORLD / "contrib-learn-iris-dnn-tf1.14-part0" / "iris_model"
    meta = iris / "model.ckpt-2000.meta"
    run = tfckpt("map", iris, "--to", meta, tmp_path / "out", "--format", "json")
    assert run.code == 0, run.err
    result = json.loads(run.out)
    assert set(result["plan"]["counts"]) == {"exact"}
    assert result["proof"]["missing"] == 0 and result["proof"]["restored"] == result["written"]
    # Plain TensorFlow: the graph's own Saver restores the written checkpoint into a fresh
    # import; every variable holds the original's value (TF's reader) bit for bit, and the
    # logits on the training rows the graph embeds equal those of the original checkpoint.
    original = tf.train.load_checkpoint(str(iris / "model.ckpt-2000"))
    logits = {}
    for prefix in (str(iris / "model.ckpt-2000"), result["checkpoint"]):
        graph, session = restore_into_meta(tf, meta, prefix)
        with graph.as_default():
            for variable in tf.compat.v1.global_variables():
                key = variable._save_slice_info.full_name if variable._save_slice_info else variable.op.name
                want = original.get_tensor(key)
                got = session.run(variable)
                assert (got.dtype, got.shape, got.tobytes()) == (want.dtype, want.shape, want.tobytes()), key
        logits[prefix] = session.run("dnn/logits/BiasAdd:0")
        session.close()
    first, second = logits.values()
    assert first.shape == (120, 3) and first.tobytes() == second.tobytes()


# ---------------------------------------------------------------------------------------
# Onto an old model_fn (built in PREDICT mode with the estimator stand-ins)
# ---------------------------------------------------------------------------------------

MODEL_FN = '''
import tensorflow as tf


def model_fn(features, labels, mode, params):
    logits = tf.layers.dense(tf.cast(features["x"], tf.float32), params["n_classes"])
    return tf.estimator.EstimatorSpec(mode, predictions={
        "probabilities": tf.nn.softmax(logits), "classes": tf.argmax(logits, axis=1)})
'''


def test_onto_a_model_fn_then_it_predicts_the_recorded_values(tfckpt, tf, tmp_path):
    from migrate.write.rewrite import write_bundle

    # the softmax classifier saved under contrib.layers names (weights / biases)
    source = tf.train.load_checkpoint(str(FIXTURES / "custom-softmax-classifier" / "model_dir"
                                          / "model.ckpt-40"))
    (tmp_path / "old").mkdir()
    write_bundle(str(tmp_path / "old" / "model.ckpt-40"),
                 [("dense/biases", source.get_tensor("dense/bias")),
                  ("dense/weights", source.get_tensor("dense/kernel")),
                  ("global_step", source.get_tensor("global_step"))])
    (tmp_path / "old_model.py").write_text(textwrap.dedent(MODEL_FN))
    spec = f"{tmp_path}/old_model.py:model_fn"
    case_json = FIXTURES / "custom-softmax-classifier" / "case.json"
    run = tfckpt("map", tmp_path / "old", "--to", spec, "--features", case_json,
                 "--params", '{"n_classes": 10}', tmp_path / "new", "--format", "json")
    assert run.code == 0, run.err
    result = json.loads(run.out)
    assert {a["target"]: a["how"] for a in result["plan"]["assignments"]} == {
        "dense/bias": "preset layers-weights-to-kernel",
        "dense/kernel": "preset layers-weights-to-kernel", "global_step": "exact"}
    # Plain TensorFlow: the model_fn's layer rebuilt by hand in a fresh graph, restored by
    # a default Saver (every variable, global_step too), predicts the recorded rows.
    x, y = split_predictions(load_predictions("custom-softmax-classifier"))
    graph = tf.Graph()
    with graph.as_default():
        features = tf.compat.v1.placeholder(tf.float32, [None, 8])
        logits = tf.compat.v1.layers.dense(features, 10)
        tf.compat.v1.train.get_or_create_global_step()
        outputs = {"probabilities": tf.nn.softmax(logits), "classes": tf.argmax(logits, axis=1)}
        with tf.compat.v1.Session() as session:
            tf.compat.v1.train.Saver().restore(session, result["checkpoint"])
            got = session.run(outputs, {features: x["x"]})
    assert_same_outputs(y, got)


# ---------------------------------------------------------------------------------------
# Bad input: exit 2, one line, inputs untouched
# ---------------------------------------------------------------------------------------

def test_output_inside_the_input_is_refused(tfckpt, tmp_path):
    model_dir = tmp_path / "model_dir"
    shutil.copytree(CONTRIB, model_dir)
    before = sha256_tree(model_dir)
    run = tfckpt("map", model_dir, "--to", DNN_V1_META, model_dir / "out")
    assert run.code == 2
    assert only_line(run.err) == (f"tfckpt: error: output {model_dir}/out overlaps the input "
                                  f"{model_dir}. Choose an output path outside the input")
    assert sha256_tree(model_dir) == before


def test_existing_output_needs_force(tfckpt, tmp_path):
    (tmp_path / "out").mkdir()
    run = tfckpt("map", RNN_OLD, "--to", RNN_NEW_META, tmp_path / "out")
    assert run.code == 2
    assert only_line(run.err) == (f"tfckpt: error: output {tmp_path}/out exists. Choose another "
                                  f"path, or pass --force to replace it once the new output is "
                                  f"verified")
    assert tfckpt("map", RNN_OLD, "--to", RNN_NEW_META, tmp_path / "out", "--force").code == 0
    assert sorted(os.listdir(tmp_path / "out")) == [
        "checkpoint", "model.ckpt-30.data-00000-of-00001", "model.ckpt-30.index"]


@pytest.mark.parametrize("argv, message", [
    (["--to", str(DNN_V1_META)], "map needs an output directory OUT (or --dry-run to only show "
                                 "the plan)"),
    (["--to", str(DNN_V1_META), "--dry-run", "o"], "--dry-run writes nothing; drop OUT (o) or "
                                                   "--dry-run"),
    (["--to", str(DNN_V1_META), "a", "b"], "map takes one output directory, got 2: a b"),
    (["--to", "x.py:fn", "--dry-run", "--params", "[1"],
     "--params is not valid JSON: Expecting ',' delimiter (column 3). Pass an object, "
     "e.g. '{\"n_classes\": 3}'"),
    (["--to", "x.py:fn", "--dry-run", "--params", "[1]"],
     "--params must be a JSON object, e.g. '{\"n_classes\": 3}'"),
    (["--to", "some_module:model_fn", "--dry-run"],
     "target some_module:model_fn is a model_fn: pass its inputs with --features "
     "(e.g. '{\"x\": {\"dtype\": \"float32\", \"shape\": [3]}}')"),
    (["--to", str(DNN_V1_META), "--dry-run", "--preset", "no-such-preset"],
     "unknown preset 'no-such-preset'. Presets: rnn-1.0-to-1.2, contrib-learn-to-estimator, "
     "layers-weights-to-kernel, strip-optimizer, tf1-slots-to-keras, merge-partitions "
     "(see tfckpt rename --list-presets)"),
])
def test_bad_arguments(tfckpt, argv, message):
    run = tfckpt("map", CONTRIB, *argv)
    assert run.code == 2
    assert only_line(run.err) == f"tfckpt: error: {message}"


def test_missing_target_and_frozen_graph_target(tfckpt, tmp_path):
    run = tfckpt("map", CONTRIB, "--to", tmp_path / "nothing", "--dry-run")
    assert run.code == 2
    assert only_line(run.err).startswith(f"tfckpt: error: no such file or directory: {tmp_path}/nothing.")
    frozen = REAL_WORLD / "tf2onnx-lstm-frozen" / "lstm" / "frozen.pb"
    run = tfckpt("map", CONTRIB, "--to", frozen, "--dry-run")
    assert run.code == 2
    assert only_line(run.err) == (f"tfckpt: error: target {frozen} is a GraphDef without variables "
                                  f"or Saver (a frozen or inference graph). Pass the training "
                                  f".meta file")


def test_broken_model_fn_target(tfckpt, tmp_path):
    (tmp_path / "bad.py").write_text("import tensorflow as tf\nraise RuntimeError('no GPU here')\n")
    run = tfckpt("map", CONTRIB, "--to", f"{tmp_path}/bad.py:model_fn", "--dry-run",
                 "--features", '{"x": {"shape": [4]}}')
    assert run.code == 2
    assert only_line(run.err) == (f"tfckpt: error: cannot import the model_fn module "
                                  f"{tmp_path}/bad.py: RuntimeError: no GPU here")


def test_missing_source(tfckpt, tmp_path):
    run = tfckpt("map", tmp_path / "nope", "--to", DNN_V1_META, "--dry-run")
    assert run.code == 2
    assert only_line(run.err).startswith(f"tfckpt: error: no such file or directory: {tmp_path}/nope.")


# ---------------------------------------------------------------------------------------
# Legacy env: the mapped contrib.learn checkpoint in a real tf.estimator DNNClassifier
# ---------------------------------------------------------------------------------------

@pytest.mark.legacy
def test_contrib_learn_names_load_into_a_fresh_v1_dnn_classifier(tfckpt, tmp_path):
    use_keras_2_in_legacy_env()
    pytest.importorskip("tensorflow_estimator")
    import tensorflow as tf

    out = tmp_path / "model_dir"
    run = tfckpt("map", CONTRIB, "--to", DNN_V1_META, out)
    assert run.code == 0, run.err
    info = load_case("dnn-classifier-v1")
    params = info["estimator"]["params"]
    columns = [tf.compat.v1.feature_column.numeric_column(name, shape=tuple(spec["shape"]))
               for name, spec in info["feature_spec"].items()]
    estimator = tf.compat.v1.estimator.DNNClassifier(
        hidden_units=params["hidden_units"], n_classes=params["n_classes"],
        feature_columns=columns, model_dir=str(out))
    x, y = split_predictions(load_predictions("contrib-learn-names"))

    def input_fn():
        return tf.data.Dataset.from_tensor_slices(x).batch(len(next(iter(x.values()))))

    rows = list(estimator.predict(input_fn))
    got = {key: np.stack([row[key] for row in rows]) for key in rows[0]}
    assert_same_outputs(y, got, atol=0)
