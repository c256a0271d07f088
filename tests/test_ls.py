"""`tfckpt ls`: every path form, every real-world checkpoint, filters, formats, errors.

The reference is always TensorFlow's own `tf.train.list_variables`."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil

import numpy as np
import pytest

import real_world
from conftest import FIXTURES, REAL_WORLD
from fixture_cases import keras_optimizer_weights, keras_weights

RW = REAL_WORLD
REAL_WORLD_SOURCES = {
    "iris-dir": RW / "contrib-learn-iris-dnn-tf1.14-part0/iris_model",
    "iris-step0": RW / "contrib-learn-iris-dnn-tf1.14-part0/iris_model@0",
    "v1-sharded-dir": RW / "contrib-learn-v1-sharded-tf0.11/model",
    "v1-sharded-pattern": RW / "contrib-learn-v1-sharded-tf0.11/model/model.ckpt-2-?????-of-00001",
    "v1-sharded-shard": RW / "contrib-learn-v1-sharded-tf0.11/model/model.ckpt-3-00000-of-00001",
    "v1-sharded-prefix": RW / "contrib-learn-v1-sharded-tf0.11/model/model.ckpt-1",
    "linear-wide-dir": RW / "estimator-linear-wide-2017/model",
    "linear-wide-index": RW / "estimator-linear-wide-2017/model/model.ckpt-2.index",
    "linear-wide-data": RW / "estimator-linear-wide-2017/model/model.ckpt-3.data-00000-of-00001",
    "linear-wide-meta": RW / "estimator-linear-wide-2017/model/model.ckpt-4.meta",
    "half-plus-two-v1": RW / "serving-half_plus_two-v1/00000123/export",
    "half-plus-two-v1-meta": RW / "serving-half_plus_two-v1/00000123/export.meta",
    "half-plus-two-v2": RW / "serving-half_plus_two-v2-export/00000123/export",
    "saved-model": RW / "serving-saved_model_half_plus_two_cpu/00000123",
    "nxt-dir": RW / "nxt-tensorflow-v1",
    "nxt-video": RW / "nxt-tensorflow-v1/video_weights.ckpt",
    "nxt-past": RW / "nxt-tensorflow-v1/past_attempts/safe_model.ckpt",
    "mnist-dir": RW / "mnist-fully-connected-feed-cpkt/fully_connected_feed",
    "mnist-999": RW / "mnist-fully-connected-feed-cpkt/fully_connected_feed/model.cpkt-999",
    "traffic-signs": RW / "traffic-signs-v1-2016-11",
}


def tf_reference(tf, path: str) -> dict[str, tuple[str, list[int]]]:
    reader = tf.train.load_checkpoint(path)
    dtypes = reader.get_variable_to_dtype_map()
    return {name: (dtypes[name].name, list(shape))
            for name, shape in tf.train.list_variables(path)}


def listed(run) -> dict[str, tuple[str, list[int]]]:
    return {v["name"]: (v["dtype"], v["shape"]) for v in json.loads(run.out)["variables"]}


@pytest.mark.parametrize("key", sorted(REAL_WORLD_SOURCES))
def test_real_world_listing_equals_tensorflow(tfckpt, tf, key):
    run = tfckpt("ls", REAL_WORLD_SOURCES[key], "--format", "json")
    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert listed(run) == tf_reference(tf, document["source"])
    names = [v["name"] for v in document["variables"]]
    assert names == sorted(names)
    assert document["totals"]["variables"] == len(names)
    assert document["totals"]["params"] == sum(v["size"] for v in document["variables"])


LS_SOURCES = real_world.sources("ls")


@pytest.mark.parametrize("case, paths", LS_SOURCES, ids=real_world.ids(LS_SOURCES))
def test_every_real_world_case_lists_what_tensorflow_or_h5py_reads(tfckpt, tf, case, paths):
    """Every case of the corpus that ls applies to: names, dtypes and shapes as TensorFlow's
    reader (or, for a Keras file, h5py) sees them."""
    (path,) = paths
    run = tfckpt("ls", path, "--format", "json")
    assert run.code == 0, run.err
    document = json.loads(run.out)
    if document["format"] == "keras-h5":
        assert path.suffix == ".h5"
        reference = {name: (value.dtype.name, list(value.shape))
                     for name, value in {**keras_weights(path), **keras_optimizer_weights(path)}.items()}
    else:
        reference = tf_reference(tf, document["source"])
    assert reference and listed(run) == reference


@pytest.mark.parametrize("key, fmt, step, global_step, source_tail", [
    ("iris-dir", "V2", 2000, 2000, "iris_model/model.ckpt-2000"),
    ("iris-step0", "V2", 0, 0, "iris_model/model.ckpt-0"),
    ("v1-sharded-dir", "V1", 4, 4, "model/model.ckpt-4-?????-of-00001"),
    ("v1-sharded-shard", "V1", 3, 3, "model/model.ckpt-3-?????-of-00001"),
    ("v1-sharded-prefix", "V1", 1, 1, "model/model.ckpt-1-?????-of-00001"),
    ("linear-wide-dir", "V2", 1000, 1000, "model/model.ckpt-1000"),
    ("linear-wide-data", "V2", 3, 3, "model/model.ckpt-3"),
    ("linear-wide-meta", "V2", 4, 4, "model/model.ckpt-4"),
    ("half-plus-two-v1-meta", "V1", None, None, "00000123/export"),
    ("saved-model", "V2", None, None, "00000123/variables/variables"),
    # fully_connected_feed saved at loop step 1999 after the 2000th increment
    ("mnist-dir", "V2", 1999, 2000, "fully_connected_feed/model.cpkt-1999"),
    ("nxt-dir", "V1", None, None, "nxt-tensorflow-v1/model.ckpt"),
])
def test_path_forms_resolve_to_the_right_checkpoint(tfckpt, key, fmt, step, global_step,
                                                    source_tail):
    document = json.loads(tfckpt("ls", REAL_WORLD_SOURCES[key], "--format", "json").out)
    assert document["format"] == fmt
    assert (document["step"], document["global_step"]) == (step, global_step)
    assert document["source"].endswith(source_tail)


def test_kinds_of_a_contrib_learn_checkpoint(tfckpt):
    document = json.loads(tfckpt("ls", REAL_WORLD_SOURCES["iris-dir"], "--format", "json").out)
    kinds = {v["name"]: v["kind"] for v in document["variables"]}
    assert kinds["dnn/hiddenlayer_0/weights"] == "model"
    assert kinds["dnn/hiddenlayer_0/weights/enlayer_0/weights/part_0/Adagrad"] == "optimizer"
    assert kinds["dnn/multi_class_head/dnn/learning_rate"] == "bookkeeping"
    assert kinds["global_step"] == "bookkeeping"
    assert sorted(kinds.values()).count("model") == 8


def test_kind_match_exclude_and_sort(tfckpt):
    src = REAL_WORLD_SOURCES["linear-wide-dir"]
    run = tfckpt("ls", src, "--kind", "optimizer", "--match", "Ftrl_1$", "--format", "json")
    assert list(listed(run)) == ["linear/linear_model/bias_weights/part_0/Ftrl_1",
                                 "linear/linear_model/x/weights/part_0/Ftrl_1"]
    run = tfckpt("ls", src, "--exclude", "Ftrl|global", "--sort", "size", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert [r["name"] for r in rows] == ["linear/linear_model/x/weights",
                                          "linear/linear_model/bias_weights"]
    assert rows[0] == {"name": "linear/linear_model/x/weights", "dtype": "float32",
                       "shape": "[1920, 1]", "size": "1920", "nbytes": "7680",
                       "kind": "model", "partitions": "1"}


def test_table_has_totals_line(tfckpt):
    run = tfckpt("ls", REAL_WORLD_SOURCES["linear-wide-dir"])
    assert run.code == 0
    assert run.out.splitlines()[-1] == (
        f"7 variables, 5,764 parameters, 22.5 KiB (V2 checkpoint "
        f"{REAL_WORLD_SOURCES['linear-wide-dir']}/model.ckpt-1000, step 1000)")


def test_quiet_prints_nothing(tfckpt):
    run = tfckpt("ls", REAL_WORLD_SOURCES["iris-dir"], "-q")
    assert (run.code, run.out, run.err) == (0, "", "")


def test_keras_h5_files(tfckpt):
    full = json.loads(tfckpt("ls", RW / "keras1-full-model-h5/model.h5", "--format", "json").out)
    assert full["format"] == "keras-h5"
    kinds = {v["name"]: v["kind"] for v in full["variables"]}
    assert kinds["dense_1/dense_1_W"] == "model"
    assert kinds["optimizer_weights/Variable_5"] == "optimizer"
    assert sum(k == "model" for k in kinds.values()) == 18
    weights = RW / "keras1-weights-only-h5-json/successful_models/nvidia_33_17.h5"
    run = tfckpt("ls", weights, "--format", "json")
    variables = {v["name"]: v["shape"] for v in json.loads(run.out)["variables"]}
    assert len(variables) == 16
    assert variables["dense_3/dense_3_W"] == [50, 1]


def test_dir_without_state_file_takes_newest_step(tfckpt, tmp_path):
    model = RW / "estimator-linear-wide-2017/model"
    for step in (2, 1000):
        for name in os.listdir(model):
            if name.startswith(f"model.ckpt-{step}."):
                shutil.copy(model / name, tmp_path / name)
    document = json.loads(tfckpt("ls", tmp_path, "--format", "json").out)
    assert (document["global_step"], document["notes"]) == (1000, [])


def test_foreign_absolute_state_file_falls_back_beside_it(tfckpt, tmp_path):
    model = RW / "contrib-learn-iris-dnn-tf1.14-part0/iris_model"
    for name in ("model.ckpt-2000.index", "model.ckpt-2000.data-00000-of-00001"):
        shutil.copy(model / name, tmp_path / name)
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "/home/someone/iris_model/model.ckpt-2000"\n'
        'all_model_checkpoint_paths: "/home/someone/iris_model/model.ckpt-2000"\n')
    run = tfckpt("ls", tmp_path, "--format", "json")
    assert run.code == 0
    assert json.loads(run.out)["notes"] == [
        "state file names /home/someone/iris_model/model.ckpt-2000, which is not on this "
        "machine; using model.ckpt-2000 beside it"]
    assert run.err.startswith("tfckpt: note: state file names /home/someone/")


def test_unknown_step_lists_the_steps_there(tfckpt):
    run = tfckpt("ls", f"{RW / 'estimator-linear-wide-2017/model'}@7")
    assert run.code == 2
    assert run.err.endswith("(steps there: 1, 2, 3, 4, 1000). Pass one of those steps as DIR@STEP\n")


def test_dir_without_checkpoint(tfckpt, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    run = tfckpt("ls", tmp_path)
    assert run.code == 2
    assert run.err.startswith(f"tfckpt: error: no checkpoint in {tmp_path} (it holds: notes.txt).")


def test_data_file_without_index(tfckpt, tmp_path):
    data = "model.ckpt-3.data-00000-of-00001"
    shutil.copy(RW / "estimator-linear-wide-2017/model" / data, tmp_path / data)
    run = tfckpt("ls", tmp_path / data)
    assert run.code == 2
    assert run.err == (f"tfckpt: error: {tmp_path / data} is a V2 data file but its index "
                       f"model.ckpt-3.index is missing. Restore the .index file beside it\n")


def test_text_file_named_meta(tfckpt, tmp_path):
    (tmp_path / "model.ckpt.meta").write_text("this is not a graph\n")
    run = tfckpt("ls", tmp_path / "model.ckpt.meta")
    assert run.code == 2
    assert run.err.startswith("tfckpt: error: no checkpoint beside the graph")


def test_not_a_checkpoint_says_what_it_is(tfckpt):
    run = tfckpt("ls", RW / "contrib-learn-v1-sharded-tf0.11/model/graph.pbtxt")
    assert run.code == 2
    assert "is not a checkpoint (found a text file of 289364 bytes)" in run.err


@pytest.mark.parametrize("cut", [1, 10, 47, 200])
def test_truncated_index_is_one_line_exit_2(tfckpt, tmp_path, cut):
    model = RW / "estimator-linear-wide-2017/model"
    index = (model / "model.ckpt-4.index").read_bytes()
    (tmp_path / "m.index").write_bytes(index[:-cut])
    shutil.copy(model / "model.ckpt-4.data-00000-of-00001", tmp_path / "m.data-00000-of-00001")
    run = tfckpt("ls", tmp_path / "m")
    assert run.code == 2
    assert len(run.err.splitlines()) == 1
    assert run.err.startswith("tfckpt: error: ")
    assert "Traceback" not in run.err


def test_bit_flipped_index_never_crashes(tfckpt, tmp_path):
    model = RW / "estimator-linear-wide-2017/model"
    index = bytearray((model / "model.ckpt-4.index").read_bytes())
    shutil.copy(model / "model.ckpt-4.data-00000-of-00001", tmp_path / "m.data-00000-of-00001")
    rng = np.random.default_rng(0)
    for position in rng.integers(0, len(index), size=40):
        flipped = bytearray(index)
        flipped[position] ^= 0x5A
        (tmp_path / "m.index").write_bytes(bytes(flipped))
        run = tfckpt("ls", tmp_path / "m", "--format", "json")
        assert run.code in (0, 2), (position, run.err)
        if run.code == 0:
            json.loads(run.out)
        else:
            assert run.err.startswith("tfckpt: error: ") and len(run.err.splitlines()) == 1


FIXTURE_SOURCES = [
    *sorted(str(p.parent.relative_to(FIXTURES)) for p in FIXTURES.glob("*/model_dir/checkpoint")),
    "partitioned", "saver-v1", "saver-v2-sharded", "tf2-object-checkpoint",
    "tf2-object-checkpoint@1", "rnn-tf1.0-names/tf1.0", "rnn-tf1.0-names/tf1.2",
    "dnn-classifier-v1/model_dir@20",
]


@pytest.mark.parametrize("case", FIXTURE_SOURCES)
def test_fixture_checkpoints_equal_tensorflow(tfckpt, tf, case):
    run = tfckpt("ls", FIXTURES / case, "--format", "json")
    assert run.code == 0, run.err
    assert listed(run) == tf_reference(tf, json.loads(run.out)["source"])


def test_fixture_partitions_and_kinds(tfckpt):
    linear = json.loads(tfckpt("ls", FIXTURES / "linear-classifier/model_dir", "--kind", "model",
                               "--format", "json").out)
    assert {v["name"]: (v["shape"], v["partitions"]) for v in linear["variables"]} == {
        "linear/linear_model/age/weights": ([1, 1], 1),
        "linear/linear_model/bias_weights": ([1], 1),
        "linear/linear_model/city/weights": ([30, 1], 3),
        "linear/linear_model/color/weights": ([6, 1], 3)}
    v2 = json.loads(tfckpt("ls", FIXTURES / "dnn-classifier-v2/model_dir", "--format", "json").out)
    kinds = {v["name"]: v["kind"] for v in v2["variables"]}
    assert kinds["training/Adagrad/dnn/hiddenlayer_0/kernel/accumulator"] == "optimizer"
    assert kinds["dnn/hiddenlayer_0/batchnorm_0/moving_mean"] == "model"
    assert kinds["training/Adagrad/decay"] == kinds["training/Adagrad/learning_rate"] == "bookkeeping"
    tf2 = json.loads(tfckpt("ls", FIXTURES / "tf2-object-checkpoint", "--format", "json").out)
    kinds = {v["name"].split("/.ATTRIBUTES")[0]: v["kind"] for v in tf2["variables"]}
    assert kinds["optimizer/_iterations"] == kinds["save_counter"] == "bookkeeping"
    assert kinds["optimizer/_variables/1"] == "optimizer"
    assert kinds["model/layer_with_weights-0/kernel"] == "model"


def test_fixture_keras_h5_files(tfckpt):
    for name in ("model.h5", "weights.h5"):
        run = tfckpt("ls", FIXTURES / "keras-h5" / name, "--kind", "model", "--format", "json")
        assert run.code == 0, run.err
        assert json.loads(run.out)["format"] == "keras-h5"
        assert json.loads(run.out)["totals"]["variables"] >= 4


def test_tree_subtotals_and_depth(tfckpt):
    run = tfckpt("ls", REAL_WORLD_SOURCES["iris-dir"], "--tree", "--depth", "2",
                 "--kind", "model", "--format", "json")
    tree = {row["scope"]: (row["depth"], row["variables"], row["params"], row["nbytes"])
            for row in json.loads(run.out)["tree"]}
    assert tree == {"dnn": (1, 8, 513, 2052), "dnn/hiddenlayer_0": (2, 2, 50, 200),
                    "dnn/hiddenlayer_1": (2, 2, 220, 880), "dnn/hiddenlayer_2": (2, 2, 210, 840),
                    "dnn/logits": (2, 2, 33, 132)}
    table = tfckpt("ls", REAL_WORLD_SOURCES["iris-dir"], "--tree", "--depth", "2").out
    assert "\n  hiddenlayer_0 " in table


def test_tree_depth_must_be_positive(tfckpt):
    run = tfckpt("ls", REAL_WORLD_SOURCES["iris-dir"], "--tree", "--depth", "0")
    assert run.code == 2
    assert "must be 1 or more" in run.err
