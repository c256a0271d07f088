"""`tfckpt show`: values, globs, `:0`, closest matches, statistics, damaged data."""

from __future__ import annotations

import json
import shutil

from pathlib import Path

import numpy as np
import pytest

import real_world
from fixture_cases import keras_optimizer_weights, keras_weights, tf_values
from conftest import FIXTURES, REAL_WORLD
from inspectors.values import statistics

IRIS = REAL_WORLD / "contrib-learn-iris-dnn-tf1.14-part0/iris_model"
LINEAR = REAL_WORLD / "estimator-linear-wide-2017/model"


def test_values_equal_tensorflow(tfckpt, tf):
    run = tfckpt("show", IRIS, "dnn/logits/weights:0", "--format", "json")
    assert run.code == 0
    [variable] = json.loads(run.out)["variables"]
    expected = tf.train.load_checkpoint(str(IRIS / "model.ckpt-2000")).get_tensor("dnn/logits/weights")
    assert np.array_equal(np.asarray(variable["values"], dtype=np.float32), expected)
    assert (variable["shape"], variable["truncated"]) == ([10, 3], False)


def test_globs_pick_in_order_without_repeats(tfckpt):
    run = tfckpt("show", IRIS, "dnn/logits/*", "dnn/logits/biases", "--format", "json")
    names = [v["name"] for v in json.loads(run.out)["variables"]]
    assert names == ["dnn/logits/biases", "dnn/logits/biases/dnn/logits/biases/part_0/Adagrad",
                     "dnn/logits/weights", "dnn/logits/weights/nn/logits/weights/part_0/Adagrad"]


def test_unknown_name_gives_closest_matches(tfckpt):
    run = tfckpt("show", IRIS, "dnn/logit/weights")
    assert run.code == 2
    assert run.err.startswith(f"tfckpt: error: no variable 'dnn/logit/weights' in {IRIS}. "
                              f"Closest: dnn/logits/weights,")
    assert len(run.err.splitlines()) == 1


def test_no_name_without_stats_is_usage_error(tfckpt):
    run = tfckpt("show", IRIS)
    assert run.code == 2
    assert run.err.startswith("tfckpt: error: name the variables to show")


def test_table_prints_header_and_numpy_values(tfckpt):
    run = tfckpt("show", REAL_WORLD / "serving-half_plus_two-v1/00000123/export", "Variable")
    assert run.out == "Variable  float32  []\n0.5\n\n"


def test_csv_values_have_indices(tfckpt):
    run = tfckpt("show", IRIS, "dnn/logits/biases", "--format", "csv")
    lines = run.out.splitlines()
    assert lines[0] == "name,index,value"
    assert [line.split(",")[:2] for line in lines[1:]] == [["dnn/logits/biases", str(i)]
                                                          for i in range(3)]


def test_large_tensor_json_is_marked_truncated_unless_full(tfckpt):
    keras = REAL_WORLD / "keras1-full-model-h5/model.h5"
    short = json.loads(tfckpt("show", keras, "dense_1/dense_1_W", "--format", "json").out)
    assert short["variables"][0]["truncated"] is True
    assert short["variables"][0]["values"] is None
    full = json.loads(tfckpt("show", keras, "dense_1/dense_1_W", "--full", "--format", "json").out)
    assert np.asarray(full["variables"][0]["values"]).shape == (1152, 100)


def test_stats_of_every_variable_match_numpy(tfckpt, tf):
    run = tfckpt("show", LINEAR, "--stats", "--format", "json")
    stats = {s["name"]: s for s in json.loads(run.out)["stats"]}
    assert len(stats) == 7
    weights = tf.train.load_checkpoint(str(LINEAR / "model.ckpt-1000")).get_tensor(
        "linear/linear_model/x/weights").astype(np.float64)
    record = stats["linear/linear_model/x/weights"]
    assert record["min"] == weights.min() and record["max"] == weights.max()
    assert record["mean"] == pytest.approx(weights.mean(), rel=1e-12)
    assert record["std"] == pytest.approx(weights.std(), rel=1e-12)
    assert record["l2"] == pytest.approx(np.linalg.norm(weights), rel=1e-12)
    assert record["zeros_pct"] == pytest.approx(100 * np.mean(weights == 0))
    assert (record["nan"], record["inf"]) == (0, 0)
    assert stats["global_step"]["max"] == 1000


def test_stats_count_nan_inf_and_handle_odd_dtypes():
    values = np.array([1.0, np.nan, np.inf, -np.inf, 0.0, 3.0], dtype=np.float16)
    record = statistics("x", "float16", values)
    assert (record.nan, record.inf, record.min, record.max, record.mean) == (1, 2, 0.0, 3.0, 4 / 3)
    assert record.zeros_pct == pytest.approx(100 / 6)
    import ml_dtypes

    brain = statistics("b", "bfloat16", np.array([[1.5, -2.0]], dtype=ml_dtypes.bfloat16))
    assert (brain.min, brain.max, brain.l2) == (-2.0, 1.5, 2.5)
    text = statistics("s", "string", np.array([b"a", b"bc"], dtype=object))
    assert (text.size, text.min, text.mean) == (2, None, None)
    scalar = statistics("n", "int64", np.array(7))
    assert (scalar.min, scalar.std, scalar.shape) == (7.0, 0.0, ())


def test_strings_and_bfloat16_through_a_real_checkpoint(tfckpt, tf, tmp_path):
    prefix = str(tmp_path / "odd")
    with tf.Graph().as_default():
        tf.compat.v1.Variable([b"alpha", b"\xffbeta"], name="words")
        tf.compat.v1.Variable(tf.constant([1.5, -2.0], dtype=tf.bfloat16), name="brain")
        tf.compat.v1.Variable(tf.constant([0.1, 0.2], dtype=tf.float16), name="half")
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, prefix)
    values = json.loads(tfckpt("show", prefix, "words", "brain", "half", "--format", "json").out)
    assert [v["values"] for v in values["variables"]] == [["alpha", "\\xffbeta"], [1.5, -2.0],
                                                           [0.0999755859375, 0.199951171875]]
    stats = json.loads(tfckpt("show", prefix, "--stats", "--format", "json").out)["stats"]
    assert [(s["name"], s["dtype"], s["min"]) for s in stats] == [
        ("brain", "bfloat16", -2.0), ("half", "float16", 0.0999755859375),
        ("words", "string", None)]


def test_bit_flip_in_data_names_tensor_and_file(tfckpt, tmp_path):
    for name in ("model.ckpt-1000.index", "model.ckpt-1000.data-00000-of-00001"):
        shutil.copy(LINEAR / name, tmp_path / name)
    data = tmp_path / "model.ckpt-1000.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    data.write_bytes(bytes(raw))
    run = tfckpt("show", tmp_path / "model.ckpt-1000", "--stats")
    assert run.code == 2
    assert run.out == ""
    assert "is corrupted in" in run.err and str(data) in run.err
    assert len(run.err.splitlines()) == 1


def test_truncated_data_is_reported_before_reading(tfckpt, tmp_path):
    for name in ("model.ckpt-1000.index", "model.ckpt-1000.data-00000-of-00001"):
        shutil.copy(LINEAR / name, tmp_path / name)
    data = tmp_path / "model.ckpt-1000.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    run = tfckpt("show", tmp_path / "model.ckpt-1000", "linear/linear_model/x/weights")
    assert run.code == 2
    assert run.err.startswith("tfckpt: error: variable 'linear/linear_model/x/weights' is cut off")


def test_names_may_follow_options(tfckpt):
    run = tfckpt("show", IRIS, "--stats", "dnn/hiddenlayer_*/weights", "--format", "json")
    assert run.code == 0, run.err
    assert [s["name"] for s in json.loads(run.out)["stats"]] == [
        "dnn/hiddenlayer_0/weights", "dnn/hiddenlayer_1/weights", "dnn/hiddenlayer_2/weights"]
    assert tfckpt("show", IRIS, "--stats", "--bogus").code == 2


def test_lone_slice_of_a_partition_slot_is_read_as_stored(tfckpt, tf):
    """TF 1.x saved each partition's Ftrl slot under its own name with the whole
    variable's shape; TensorFlow's get_tensor refuses it, we return the stored part."""
    model_dir = FIXTURES / "linear-classifier/model_dir"
    run = tfckpt("show", model_dir, "linear/linear_model/city/weights/part_1/Ftrl", "--format", "json")
    assert run.code == 0, run.err
    [variable] = json.loads(run.out)["variables"]
    prefix = str(model_dir / "model.ckpt-40")
    [expected] = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[variable["name"]],
                                      shape_and_slices=["30 1 10,10:-"], dtypes=[tf.float32])
    assert variable["shape"] == [10, 1]
    assert np.array_equal(np.asarray(variable["values"], np.float32), expected.numpy())


SHOW_SOURCES = real_world.sources("show")
SOURCES = [
    *(paths[0] for _, paths in SHOW_SOURCES),  # every case of the corpus show applies to
    *(FIXTURES / p for p in (
        "contrib-learn-names/model_dir", "custom-linear-regression/model_dir",
        "custom-softmax-classifier/model_dir", "dnn-classifier-v1/model_dir",
        "dnn-classifier-v2/model_dir", "dnn-regressor/model_dir", "linear-classifier/model_dir",
        "wide-deep/model_dir", "saver-v1", "saver-v2-sharded", "partitioned",
        "rnn-tf1.0-names/tf1.0", "rnn-tf1.0-names/tf1.2", "keras-h5/model.h5",
        "keras-h5/weights.h5", "tf2-object-checkpoint")),
]


def reference_values(tf, listing: dict) -> dict[str, np.ndarray]:
    """Every variable of what `ls` resolved, read by TensorFlow's reader (or h5py for Keras)."""
    if listing["format"] == "keras-h5":
        return {**keras_weights(Path(listing["source"])), **keras_optimizer_weights(Path(listing["source"]))}
    return tf_values(tf, listing["source"])


def assert_stats_match_numpy(record: dict, value: np.ndarray) -> None:
    """One `show --stats` record against numpy on the whole tensor (float64)."""
    name = record["name"]
    assert (record["size"], record["shape"]) == (value.size, list(value.shape)), name
    if record["dtype"] == "string" or value.size == 0:
        return
    x = (np.abs(value) if value.dtype.kind == "c" else value).astype(np.float64).ravel()
    finite = x[np.isfinite(x)]
    assert (record["nan"], record["inf"]) == (int(np.isnan(x).sum()), int(np.isinf(x).sum())), name
    assert record["zeros_pct"] == pytest.approx(100 * np.mean(x == 0)), name
    if finite.size == x.size:
        assert (record["min"], record["max"]) == (x.min(), x.max()), name
        assert record["mean"] == pytest.approx(x.mean(), rel=1e-9, abs=1e-12), name
        assert record["l2"] == pytest.approx(np.linalg.norm(x), rel=1e-9, abs=1e-12), name
        assert record["std"] == pytest.approx(x.std(), rel=1e-6, abs=1e-9), name


@pytest.mark.parametrize("source", SOURCES, ids=real_world.ids(SHOW_SOURCES) + [
    f"fixture:{p.relative_to(FIXTURES).as_posix()}" for p in SOURCES[len(SHOW_SOURCES):]])
def test_stats_of_every_source_in_table_and_json(tfckpt, tf, source):
    listing = json.loads(tfckpt("ls", source, "--format", "json").out)
    run = tfckpt("show", source, "--stats", "--format", "json")
    assert run.code == 0, run.err
    stats = json.loads(run.out)["stats"]
    assert [s["name"] for s in stats] == [v["name"] for v in listing["variables"]]
    reference = reference_values(tf, listing)
    assert sorted(reference) == sorted(s["name"] for s in stats)
    for record in stats:
        assert_stats_match_numpy(record, reference[record["name"]])
    table = tfckpt("show", source, "--stats")
    assert table.code == 0 and len(table.out.splitlines()) == len(stats) + 2


def test_hdf5_that_is_not_keras(tfckpt, tmp_path):
    import h5py

    with h5py.File(tmp_path / "data.h5", "w") as handle:
        handle["table"] = np.arange(4)
    run = tfckpt("show", tmp_path / "data.h5", "--stats")
    assert run.code == 2
    assert run.err == (f"tfckpt: error: {tmp_path / 'data.h5'} is an HDF5 file but not a Keras "
                       f"weights file (no layer_names attribute). Pass a file written by Keras "
                       f"model.save or save_weights\n")


def test_index_that_is_a_directory(tfckpt, tmp_path):
    (tmp_path / "m.index").mkdir()  # a directory where the index file should be
    run = tfckpt("show", tmp_path / "m", "--stats")
    assert run.code == 2
    assert run.err.startswith("tfckpt: error: ") and len(run.err.splitlines()) == 1
