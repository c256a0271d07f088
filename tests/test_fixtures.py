"""The committed fixture corpus is what fixtures/README.md says it is.

Unmarked tests (main env, TensorFlow 2.21) read every checkpoint, case.json and
predictions.npz. Tests marked `legacy` (TensorFlow 2.15 + tensorflow-estimator) rebuild the
original models from fixtures/generate.py and check they still predict predictions.npz.
Nothing here writes into the repository: model dirs are copied to tmp_path first.
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from fixture_cases import (
    FIXTURES,
    assert_same_outputs,
    case_dir,
    case_names,
    listed_checkpoints,
    load_case,
    load_generator,
    load_predictions,
    split_predictions,
    state_files,
    use_keras_2_in_legacy_env,
)

ESTIMATOR_CASES = [
    "custom-linear-regression",
    "custom-softmax-classifier",
    "dnn-classifier-v1",
    "dnn-classifier-v2",
    "dnn-regressor",
    "linear-classifier",
    "wide-deep",
]
OTHER_CASES = [
    "saver-v1",
    "saver-v2-sharded",
    "partitioned",
    "contrib-learn-names",
    "rnn-tf1.0-names",
    "keras-h5",
    "tf2-object-checkpoint",
]
MODEL_DIR_CASES = ESTIMATOR_CASES + ["contrib-learn-names"]
FORMATS = {"V1", "V2", "keras-h5", "tf2-object"}
RAW_KINDS = {"numeric", "vocabulary", "hash"}
N_ROWS = 16


def _all_checkpoints() -> list:
    params = []
    for case in case_names():
        for state in state_files(case):
            for path in listed_checkpoints(state):
                rel = path.relative_to(FIXTURES / case)
                params.append(pytest.param(case, path, id=f"{case}/{rel}"))
    return params


def _names(tf, path) -> dict[str, list[int]]:
    return dict(tf.train.list_variables(str(path)))


def _latest(case: str, sub: str = "model_dir"):
    return case_dir(case) / sub / f"model.ckpt-{load_case(case)['checkpoint_steps'][-1]}"


# --- the corpus as a whole --------------------------------------------------------------

def test_every_case_is_there():
    assert case_names() == sorted(ESTIMATOR_CASES + OTHER_CASES)


def test_corpus_stays_small():
    size = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert size < 6 * 2**20, f"fixtures/ is {size / 2**20:.1f} MiB; keep it under 6 MiB"


@pytest.mark.parametrize("case", case_names())
def test_case_json_says_what_and_how(case):
    info = load_case(case)
    assert info["case"] == case
    assert info["what"] and info["how"]
    assert info["format"] in FORMATS
    assert info["synthesized_names"] is (case in ("contrib-learn-names", "rnn-tf1.0-names"))
    if case in MODEL_DIR_CASES:
        assert info["estimator"]["class"]
        assert info["feature_spec"]
        for key, entry in info["feature_spec"].items():
            assert entry["kind"] in RAW_KINDS | {"embedding", "crossed"}, key


# --- checkpoints open, state files are relative -----------------------------------------

@pytest.mark.parametrize(("case", "path"), _all_checkpoints())
def test_every_listed_checkpoint_opens(tf, case, path):
    # V2: the prefix (with .index + .data); V1: the single file itself.
    assert path.with_name(path.name + ".index").is_file() or path.is_file()
    names = _names(tf, path)
    assert names and all(names), path


@pytest.mark.parametrize("case", case_names())
def test_state_files_are_relative_and_complete(case):
    listed = set()
    for state in state_files(case):
        text = state.read_text()
        assert str(FIXTURES) not in text and '"/' not in text, f"{state}: absolute path"
        listed |= {str(p) for p in listed_checkpoints(state)}
    on_disk = {str(p)[: -len(".index")] for p in case_dir(case).rglob("*.index")}
    if case == "saver-v1":
        on_disk = {str(p)[: -len(".meta")] for p in case_dir(case).glob("*.meta")}
    if case == "keras-h5":  # HDF5 files only: no state file, no checkpoint
        assert (listed, on_disk) == (set(), set())
        assert sorted(p.name for p in case_dir(case).iterdir() if p.suffix == ".h5") == ["model.h5", "weights.h5"]
    else:
        assert listed and on_disk <= listed, sorted(on_disk - listed)


@pytest.mark.parametrize("case", MODEL_DIR_CASES)
def test_model_dirs_keep_two_steps(case):
    (state,) = state_files(case)
    steps = [int(p.name.rsplit("-", 1)[1]) for p in listed_checkpoints(state)]
    assert steps == load_case(case)["checkpoint_steps"] == [20, 40]


# --- predictions.npz --------------------------------------------------------------------

@pytest.mark.parametrize("case", case_names())
def test_predictions_load_without_pickle(case):
    arrays = load_predictions(case)  # allow_pickle=False
    x, y = split_predictions(arrays)
    assert x and y and len(x) + len(y) == len(arrays)
    rows = {len(a) for a in arrays.values()}
    assert len(rows) == 1 and rows.pop() >= N_ROWS
    assert all(a.dtype != object for a in arrays.values())
    info = load_case(case)
    if case in MODEL_DIR_CASES:
        raw = {k for k, e in info["feature_spec"].items() if e["kind"] in RAW_KINDS}
        assert set(x) == raw
    if case in ESTIMATOR_CASES:
        assert sorted(y) == info["prediction_keys"]


def test_classifier_predictions_hold_every_key():
    _, y = split_predictions(load_predictions("linear-classifier"))
    assert set(y) == {"logits", "logistic", "probabilities", "class_ids", "classes",
                      "all_class_ids", "all_classes"}
    assert y["classes"].dtype.kind == "S" and y["all_classes"].shape == (N_ROWS, 2)


# --- variable names and layouts of key cases --------------------------------------------

def test_dnn_classifier_v1_has_tf1_names(tf):
    names = _names(tf, _latest("dnn-classifier-v1"))
    assert names["dnn/hiddenlayer_0/kernel"] == [4, 10]
    assert "dnn/hiddenlayer_0/kernel/t_0/Adagrad" in names  # 1-part partitioned slot


def test_contrib_learn_names_are_exact(tf):
    names = _names(tf, _latest("contrib-learn-names"))
    expected = {"global_step", "centered_bias_weight", "centered_bias_weight/Adagrad",
                "dnn/multi_class_head/dnn/learning_rate"}
    for layer, short in (("dnn/hiddenlayer_0", "enlayer_0"), ("dnn/hiddenlayer_1", "enlayer_1")):
        expected |= {f"{layer}/weights", f"{layer}/weights/{short}/weights/part_0/Adagrad",
                     f"{layer}/biases", f"{layer}/biases/d{short}/biases/part_0/Adagrad"}
    expected |= {"dnn/logits/weights", "dnn/logits/weights/nn/logits/weights/part_0/Adagrad",
                 "dnn/logits/biases", "dnn/logits/biases/dnn/logits/biases/part_0/Adagrad"}
    assert set(names) == expected
    assert names["centered_bias_weight"] == [3]


def test_contrib_learn_values_equal_dnn_classifier_v1_bit_for_bit(tf):
    info = load_case("contrib-learn-names")
    for step in info["checkpoint_steps"]:
        contrib = tf.train.load_checkpoint(
            str(case_dir("contrib-learn-names") / "model_dir" / f"model.ckpt-{step}"))
        source = tf.train.load_checkpoint(
            str(case_dir("dnn-classifier-v1") / "model_dir" / f"model.ckpt-{step}"))
        assert set(info["name_map"].values()) == set(source.get_variable_to_shape_map())
        for new, old in info["name_map"].items():
            a, b = contrib.get_tensor(new), source.get_tensor(old)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (new, old)
        np.testing.assert_array_equal(contrib.get_tensor("centered_bias_weight"), 0.0)
        np.testing.assert_allclose(contrib.get_tensor("centered_bias_weight/Adagrad"), 0.1)


def test_contrib_learn_predictions_are_dnn_classifier_v1s():
    a = (case_dir("contrib-learn-names") / "predictions.npz").read_bytes()
    assert a == (case_dir("dnn-classifier-v1") / "predictions.npz").read_bytes()


def test_rnn_tf10_and_tf12_hold_the_same_values(tf):
    name_map = load_case("rnn-tf1.0-names")["name_map"]
    old = tf.train.load_checkpoint(str(case_dir("rnn-tf1.0-names") / "tf1.0" / "model.ckpt-30"))
    new = tf.train.load_checkpoint(str(case_dir("rnn-tf1.0-names") / "tf1.2" / "model.ckpt-30"))
    assert set(old.get_variable_to_shape_map()) == set(name_map)
    assert set(new.get_variable_to_shape_map()) == set(name_map.values())
    assert "rnn/basic_lstm_cell/weights" in name_map
    for old_name, new_name in name_map.items():
        assert old.get_tensor(old_name).tobytes() == new.get_tensor(new_name).tobytes()


def test_saver_v1_is_one_file_without_index(tf):
    folder = case_dir("saver-v1")
    ckpt = folder / load_case("saver-v1")["checkpoint"]
    assert ckpt.is_file() and not list(folder.glob("*.index"))
    assert set(_names(tf, ckpt)) == {"global_step", "layer1/weights", "layer1/biases",
                                     "layer2/weights", "layer2/biases"}


def test_saver_v2_sharded_has_two_data_shards(tf):
    folder = case_dir("saver-v2-sharded")
    shards = sorted(p.name for p in folder.glob("*.data-*"))
    assert shards == ["model.ckpt-7.data-00000-of-00002", "model.ckpt-7.data-00001-of-00002"]
    assert len(list(folder.glob("*.index"))) == 1
    names = _names(tf, folder / "model.ckpt-7")
    assert names["layer1/weights"] == [4, 6] and names["layer2/weights"] == [6, 3]


def _read_slice(tf, prefix, name: str, spec: str, dtype) -> np.ndarray:
    (value,) = tf.raw_ops.RestoreV2(prefix=str(prefix), tensor_names=[name],
                                    shape_and_slices=[spec], dtypes=[dtype])
    return value.numpy()


@pytest.mark.parametrize(("case", "prefix", "name", "parts"), [
    ("partitioned", "model.ckpt-0", "proj/weights", 3),
    ("partitioned", "model.ckpt-0", "proj/biases", 3),
    ("linear-classifier", "model_dir/model.ckpt-40", "linear/linear_model/color/weights", 3),
    ("linear-classifier", "model_dir/model.ckpt-40", "linear/linear_model/city/weights", 3),
])
def test_partitioned_variables_are_stored_as_slices(tf, case, prefix, name, parts):
    prefix = case_dir(case) / prefix
    specs = load_case(case)["slices"][name]
    assert len(specs) == parts
    pieces = [_read_slice(tf, prefix, name, spec, tf.float32) for spec in specs]
    offsets = [int(spec.split()[-1].split(":")[0].split(",")[0]) for spec in specs]
    whole = np.concatenate([p for _, p in sorted(zip(offsets, pieces), key=lambda t: t[0])])
    assert list(whole.shape) == _names(tf, prefix)[name]
    np.testing.assert_array_equal(whole, tf.train.load_checkpoint(str(prefix)).get_tensor(name))


def test_linear_ftrl_slots_hold_one_slice_per_name(tf):
    # TF's slot_creator names each part's slot after the part ('.../part_1/Ftrl') but keeps
    # the full shape: every such name holds one slice and cannot be read whole.
    prefix = case_dir("linear-classifier") / "model_dir" / "model.ckpt-40"
    name = "linear/linear_model/color/weights/part_1/Ftrl"
    assert _names(tf, prefix)[name] == [6, 1]
    (spec,) = load_case("linear-classifier")["slices"][name]
    assert spec == "6 1 2,2:0,1"
    with pytest.raises(ValueError, match="sufficient slices"):
        tf.train.load_checkpoint(str(prefix)).get_tensor(name)
    assert _read_slice(tf, prefix, name, spec, tf.float32).shape == (2, 1)


def test_tf2_object_checkpoint_has_an_object_graph(tf):
    names = _names(tf, case_dir("tf2-object-checkpoint") / "ckpt-2")
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" in names
    assert names["model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"] == [4, 6]


def test_keras_h5_files_are_model_and_weights():
    folder = case_dir("keras-h5")
    with h5py.File(folder / "model.h5", "r") as f:
        assert "model_config" in f.attrs and "model_weights" in f and "optimizer_weights" in f
    with h5py.File(folder / "weights.h5", "r") as f:
        layer_names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        assert {"hidden", "probabilities"} <= set(layer_names)


# --- legacy env: the original models still predict predictions.npz ----------------------

@pytest.fixture
def generator():
    use_keras_2_in_legacy_env()
    pytest.importorskip("tensorflow_estimator")
    return load_generator()


@pytest.mark.legacy
@pytest.mark.filterwarnings("ignore:`tf.layers.dense` is deprecated:UserWarning")
@pytest.mark.parametrize("case", ESTIMATOR_CASES)
def test_estimator_predicts_what_it_recorded(generator, tmp_path, case):
    model_dir = tmp_path / "model_dir"
    shutil.copytree(case_dir(case) / "model_dir", model_dir)
    x, y = split_predictions(load_predictions(case))
    estimator = generator.build_estimator(case, model_dir)
    rows = list(estimator.predict(generator.predict_input_fn(x)))
    assert_same_outputs(y, generator.stack_predictions(rows))


def _rerun_meta_graph(tf, meta, checkpoint, info, x, *, var_map=None):
    graph = tf.Graph()
    with graph.as_default():
        saver = tf.compat.v1.train.import_meta_graph(str(meta), clear_devices=True)
        if var_map is not None:  # restore from other names into the imported variables
            by_name = {v.op.name: v for v in tf.compat.v1.global_variables()}
            saver = tf.compat.v1.train.Saver({old: by_name[new] for old, new in var_map.items()})
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, str(checkpoint))
            return sess.run(info["output_node"], {info["input_node"]: x})


@pytest.mark.legacy
@pytest.mark.parametrize("case", ["saver-v1", "saver-v2-sharded", "partitioned"])
def test_meta_graph_reruns_to_the_recorded_output(generator, tmp_path, case):
    tf = generator.tf
    folder = tmp_path / case
    shutil.copytree(case_dir(case), folder)
    info = load_case(case)
    x, y = split_predictions(load_predictions(case))
    checkpoint = folder / info["checkpoint"]
    out = _rerun_meta_graph(tf, f"{checkpoint}.meta", checkpoint, info, x["x"])
    assert_same_outputs(y, {"y": out})


@pytest.mark.legacy
@pytest.mark.parametrize("names", ["tf1.2", "tf1.0"])
def test_rnn_checkpoints_rerun_in_the_tf12_graph(generator, tmp_path, names):
    tf = generator.tf
    folder = tmp_path / "rnn"
    shutil.copytree(case_dir("rnn-tf1.0-names"), folder)
    info = load_case("rnn-tf1.0-names")
    x, y = split_predictions(load_predictions("rnn-tf1.0-names"))
    var_map = info["name_map"] if names == "tf1.0" else None
    out = _rerun_meta_graph(tf, folder / "tf1.2" / "model.ckpt-30.meta",
                            folder / names / "model.ckpt-30", info, x["x"], var_map=var_map)
    assert_same_outputs(y, {"y": out})


@pytest.mark.legacy
def test_keras_h5_model_and_weights_predict_what_was_recorded(generator, tmp_path):
    tf = generator.tf
    shutil.copytree(case_dir("keras-h5"), tmp_path / "keras")
    x, y = split_predictions(load_predictions("keras-h5"))
    model = tf.keras.models.load_model(str(tmp_path / "keras" / "model.h5"))
    assert_same_outputs(y, {"y": model.predict(x["x"], verbose=0)})
    fresh = generator._small_keras_model()
    fresh.load_weights(str(tmp_path / "keras" / "weights.h5"))
    assert_same_outputs(y, {"y": fresh.predict(x["x"], verbose=0)})


@pytest.mark.legacy
def test_tf2_object_checkpoint_restores_and_predicts(generator, tmp_path):
    tf = generator.tf
    shutil.copytree(case_dir("tf2-object-checkpoint"), tmp_path / "tf2")
    x, y = split_predictions(load_predictions("tf2-object-checkpoint"))
    model = generator.tf2_model()
    status = tf.train.Checkpoint(model=model).restore(tf.train.latest_checkpoint(
        str(tmp_path / "tf2")))
    status.expect_partial().assert_existing_objects_matched()
    assert_same_outputs(y, {"y": model(x["x"]).numpy()})
