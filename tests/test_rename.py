"""`tfckpt rename`: rules, presets, plans and their errors, on fixtures, real-world
checkpoints and checkpoints written here by real TensorFlow."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, REAL_WORLD
from migrate.names.presets import PRESETS
from migrate.write.rewrite import write_bundle

RNN = FIXTURES / "rnn-tf1.0-names"
CONTRIB = FIXTURES / "contrib-learn-names" / "model_dir"
DNN_V1 = FIXTURES / "dnn-classifier-v1" / "model_dir"
DNN_V2 = FIXTURES / "dnn-classifier-v2" / "model_dir"
LINEAR = FIXTURES / "linear-classifier" / "model_dir"
PARTITIONED = FIXTURES / "partitioned"


def load(tf, path) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint through TensorFlow's own reader."""
    reader = tf.train.load_checkpoint(str(path))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + file.read_bytes())
    return digest.hexdigest()


def plan_json(tfckpt, *argv) -> dict:
    run = tfckpt("rename", *argv, "--dry-run", "--format", "json")
    assert run.code == 0, run.err
    return json.loads(run.out)


def new_names(plan: dict) -> dict[str, str | None]:
    return {entry["old"]: entry["new"] for entry in plan["entries"]}


# --- presets listing and unknown names ------------------------------------------

def test_list_presets_names_each_with_a_description(tfckpt):
    run = tfckpt("rename", "--list-presets")
    assert run.code == 0
    lines = run.out.splitlines()
    assert [line.split()[0] for line in lines] == list(PRESETS)
    assert all(len(line.split(None, 1)[1]) > 20 for line in lines)
    data = json.loads(tfckpt("rename", "--list-presets", "--format", "json").out)
    assert [p["name"] for p in data] == list(PRESETS)


def test_unknown_preset_lists_the_names(tfckpt, tmp_path):
    run = tfckpt("rename", str(RNN / "tf1.0"), str(tmp_path / "out"), "--preset", "rnn")
    assert run.code == 2
    assert run.err == ("tfckpt: error: unknown preset 'rnn'. Presets: " + ", ".join(PRESETS)
                       + " (see tfckpt rename --list-presets)\n")
    assert not (tmp_path / "out").exists()


# --- rules files and options -------------------------------------------------------

def test_rules_file_line_that_does_not_parse(tfckpt, tmp_path):
    rules = tmp_path / "rules.txt"
    rules.write_text("# renames\n\nweights$ -> kernel\nbiases => bias\n")
    run = tfckpt("rename", str(RNN / "tf1.0"), "--rules", str(rules), "--dry-run")
    assert run.code == 2
    assert run.err == ("tfckpt: error: rules.txt:4: cannot parse 'biases => bias': expected "
                       "'REGEX -> REPLACEMENT' or 'drop REGEX' (or a # comment)\n")


@pytest.mark.parametrize("line, reason", [
    ("([a -> b", "rules.txt:1: bad regex '([a': unterminated character set at position 1"),
    ("(a)b -> \\2", "rules.txt:1: bad replacement '\\\\2': invalid group reference 2"),
    ("drop", "rules.txt:1: 'drop' needs a regex. Write 'drop REGEX'"),
])
def test_rules_file_bad_regex_or_replacement(tfckpt, tmp_path, line, reason):
    rules = tmp_path / "rules.txt"
    rules.write_text(line + "\n")
    run = tfckpt("rename", str(RNN / "tf1.0"), "--rules", str(rules), "--dry-run")
    assert run.code == 2
    assert run.err.startswith(f"tfckpt: error: {reason}")


def test_rules_compose_in_order_with_groups_and_drop(tfckpt, tmp_path):
    rules = tmp_path / "r.rules"
    rules.write_text("^rnn/(?P<cell>\\w+)/weights$ -> model/\\g<cell>/W\n"
                     "^fully_connected/(\\w+)$ -> head/\\1\n"
                     "drop ^head/biases$\n")
    plan = plan_json(tfckpt, RNN / "tf1.0", "--rules", rules, "--map", "model/basic_lstm_cell/W=lstm",
                     "--add-prefix", "net/", "--strip-prefix", "net/head/")
    assert new_names(plan) == {
        "fully_connected/biases": None, "fully_connected/weights": "weights",
        "rnn/basic_lstm_cell/biases": "net/rnn/basic_lstm_cell/biases",
        "rnn/basic_lstm_cell/weights": "net/lstm"}
    assert plan["steps"] == [f"rules {rules}", "--map model/basic_lstm_cell/W=lstm",
                             "--add-prefix net/", "--strip-prefix net/head/"]
    assert plan["warnings"] == []
    assert plan["counts"] == {"renamed": 3, "unchanged": 0, "dropped": 1, "merged": 0,
                              "folded": 0, "cast": 0, "derived": 0}


def test_rule_matching_nothing_is_a_warning(tfckpt):
    run = tfckpt("rename", str(RNN / "tf1.0"), "--map", "nope=x", "--drop", "^absent$", "--dry-run")
    assert run.code == 0
    assert run.err == ("tfckpt: warning: rule 'nope -> x' (--map nope=x) matched no variable\n"
                       "tfckpt: warning: rule 'drop ^absent$' (--drop ^absent$) matched no variable\n")


def test_collision_is_refused_naming_both(tfckpt, tmp_path):
    before = tree_digest(RNN / "tf1.0")
    run = tfckpt("rename", str(RNN / "tf1.0"), str(tmp_path / "out"),
                 "--map", "fully_connected/biases=fully_connected/weights")
    assert run.code == 2
    assert run.err == ("tfckpt: error: 'fully_connected/biases' and 'fully_connected/weights' "
                       "would both become 'fully_connected/weights' (rules: --map "
                       "fully_connected/biases=fully_connected/weights). Change the rules so "
                       "each variable gets its own name, or drop one\n")
    assert not (tmp_path / "out").exists()
    assert tree_digest(RNN / "tf1.0") == before


def test_bad_map_and_missing_output(tfckpt):
    run = tfckpt("rename", str(RNN / "tf1.0"), "--map", "a", "--dry-run")
    assert (run.code, run.err) == (2, "tfckpt: error: --map 'a': expected OLD=NEW (full variable names)\n")
    run = tfckpt("rename", str(RNN / "tf1.0"))
    assert (run.code, run.err) == (2, "tfckpt: error: rename needs OUT_DIR to write to "
                                      "(or --dry-run to print the plan)\n")


def test_dry_run_writes_nothing_and_json_is_stable(tfckpt, tmp_path):
    out = tmp_path / "out"
    run = tfckpt("rename", str(RNN / "tf1.0"), str(out), "--preset", "rnn-1.0-to-1.2",
                 "--dry-run", "--format", "json")
    assert run.code == 0 and not out.exists()
    plan = json.loads(run.out)
    assert sorted(plan) == ["counts", "entries", "format", "path", "source", "steps",
                            "warnings", "written"]
    entry = plan["entries"][3]
    assert entry == {"old": "rnn/basic_lstm_cell/weights", "new": "rnn/basic_lstm_cell/kernel",
                     "action": "renamed", "dtype": "float32", "shape": [9, 24],
                     "new_dtype": "float32", "new_shape": [9, 24],
                     "sources": ["rnn/basic_lstm_cell/weights"], "transforms": [],
                     "by": ["preset rnn-1.0-to-1.2"], "note": ""}
    assert run.out == tfckpt("rename", str(RNN / "tf1.0"), "--preset", "rnn-1.0-to-1.2",
                             "--dry-run", "--format", "json").out


# --- rnn-1.0-to-1.2 ------------------------------------------------------------------

def test_rnn_fixture_tf10_becomes_tf12_bit_for_bit(tfckpt, tf, tmp_path):
    run = tfckpt("rename", str(RNN / "tf1.0"), str(tmp_path / "out"),
                 "--preset", "rnn-1.0-to-1.2", "--preset", "layers-weights-to-kernel")
    assert run.code == 0, run.err
    got, want = load(tf, tmp_path / "out"), load(tf, RNN / "tf1.2")
    assert sorted(got) == sorted(want) == ["dense/bias", "dense/kernel", "rnn/basic_lstm_cell/bias",
                                           "rnn/basic_lstm_cell/kernel"]
    assert all(same(got[name], want[name]) for name in want)


def _tf10_name(name: str) -> str:
    """TF 1.0 spelling of a TF 1.2 RNN variable (kernel -> weights, bias -> biases)."""
    head, _, last = name.rpartition("/")
    return f"{head}/{ {'kernel': 'weights', 'bias': 'biases'}.get(last, last)}"


def test_rnn_preset_on_real_tf_cells_restores_into_the_new_graph(tfckpt, tf, tmp_path):
    """GRU (gates/candidate), LSTM with projection and peepholes, basic RNN, stacked:
    saved under TF 1.0 names, renamed, restored by a default Saver of the same graph."""
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(3)
        x = tf.compat.v1.placeholder(tf.float32, [None, 4, 3])
        cells = [tf.compat.v1.nn.rnn_cell.GRUCell(5),
                 tf.compat.v1.nn.rnn_cell.LSTMCell(6, num_proj=4, use_peepholes=True),
                 tf.compat.v1.nn.rnn_cell.BasicRNNCell(3)]
        tf.compat.v1.nn.dynamic_rnn(tf.compat.v1.nn.rnn_cell.MultiRNNCell(cells), x, dtype=tf.float32)
        variables = tf.compat.v1.global_variables()
        old = tf.compat.v1.train.Saver({_tf10_name(v.op.name): v for v in variables})
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            values = {v.op.name: session.run(v) for v in variables}
            old.save(session, str(tmp_path / "old" / "model.ckpt"))
    assert "rnn/multi_rnn_cell/cell_1/lstm_cell/projection/weights" in load(tf, tmp_path / "old" / "model.ckpt")
    assert tfckpt("rename", str(tmp_path / "old" / "model.ckpt"), str(tmp_path / "new"),
                  "--preset", "rnn-1.0-to-1.2").code == 0
    with graph.as_default(), tf.compat.v1.Session() as session:
        tf.compat.v1.train.Saver().restore(session, str(tmp_path / "new" / "model.ckpt"))
        assert all(same(session.run(v), values[v.op.name]) for v in variables)


def test_rnn_preset_tf0x_names(tfckpt, tmp_path):
    names = ["RNN/MultiRNNCell/Cell0/BasicLSTMCell/Linear/Matrix",
             "RNN/MultiRNNCell/Cell0/BasicLSTMCell/Linear/Bias",
             "RNN/MultiRNNCell/Cell1/LSTMCell/W_0", "RNN/MultiRNNCell/Cell1/LSTMCell/B",
             "RNN/MultiRNNCell/Cell1/LSTMCell/W_F_diag", "RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0",
             "BiRNN/FW/GRUCell/Gates/Linear/Matrix", "BiRNN/BW/GRUCell/Candidate/Linear/Bias",
             "sharded/LSTMCell/W_0", "sharded/LSTMCell/W_1"]
    write_bundle(str(tmp_path / "m.ckpt"), [(n, np.full([2, 2], i, np.float32)) for i, n in enumerate(names)])
    plan = plan_json(tfckpt, tmp_path / "m.ckpt", "--preset", "rnn-1.0-to-1.2")
    assert new_names(plan) == {
        "RNN/MultiRNNCell/Cell0/BasicLSTMCell/Linear/Matrix": "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel",
        "RNN/MultiRNNCell/Cell0/BasicLSTMCell/Linear/Bias": "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias",
        "RNN/MultiRNNCell/Cell1/LSTMCell/W_0": "rnn/multi_rnn_cell/cell_1/lstm_cell/kernel",
        "RNN/MultiRNNCell/Cell1/LSTMCell/B": "rnn/multi_rnn_cell/cell_1/lstm_cell/bias",
        "RNN/MultiRNNCell/Cell1/LSTMCell/W_F_diag": "rnn/multi_rnn_cell/cell_1/lstm_cell/w_f_diag",
        "RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0": "rnn/multi_rnn_cell/cell_1/lstm_cell/projection/kernel",
        "BiRNN/FW/GRUCell/Gates/Linear/Matrix": "bidirectional_rnn/fw/gru_cell/gates/kernel",
        "BiRNN/BW/GRUCell/Candidate/Linear/Bias": "bidirectional_rnn/bw/gru_cell/candidate/bias",
        "sharded/LSTMCell/W_0": "sharded/lstm_cell/kernel/part_0",
        "sharded/LSTMCell/W_1": "sharded/lstm_cell/kernel/part_1"}
    merged = plan_json(tfckpt, tmp_path / "m.ckpt", "--preset", "rnn-1.0-to-1.2",
                       "--preset", "merge-partitions")
    entry = next(e for e in merged["entries"] if e["new"] == "sharded/lstm_cell/kernel")
    assert (entry["action"], entry["new_shape"], entry["sources"], entry["transforms"]) == (
        "merged", [4, 2], ["sharded/LSTMCell/W_0", "sharded/LSTMCell/W_1"], [{"axis": 0, "op": "concat"}])


# --- contrib-learn-to-estimator ---------------------------------------------------------

def test_contrib_fixture_becomes_dnn_classifier_v1(tfckpt, tf, tmp_path):
    case = json.loads((CONTRIB.parent / "case.json").read_text())
    run = tfckpt("rename", str(CONTRIB), str(tmp_path / "out"), "--preset", "contrib-learn-to-estimator")
    assert run.code == 0, run.err
    got, want = load(tf, tmp_path / "out"), load(tf, DNN_V1)
    assert sorted(got) == sorted(want) == sorted(case["name_map"].values())
    assert all(same(got[name], want[name]) for name in want)
    plan = plan_json(tfckpt, CONTRIB, "--preset", "contrib-learn-to-estimator")
    names = new_names(plan)
    assert all(names[old] == new for old, new in case["name_map"].items())
    logits = next(e for e in plan["entries"] if e["new"] == "dnn/logits/bias")
    assert (logits["action"], logits["sources"], logits["transforms"]) == (
        "folded", ["dnn/logits/biases", "centered_bias_weight"], [{"op": "add"}])
    assert names["centered_bias_weight"] is None and names["centered_bias_weight/Adagrad"] is None
    assert names["dnn/multi_class_head/dnn/learning_rate"] is None


def test_centered_bias_is_added_to_the_logits_bias(tfckpt, tf, tmp_path):
    bias, centered = np.array([0.5, -1.25, 2.0], np.float32), np.array([0.25, 0.5, -3.0], np.float32)
    write_bundle(str(tmp_path / "m.ckpt"), [("dnn/logits/biases", bias), ("centered_bias_weight", centered),
                                            ("dnn/logits/weights", np.ones([2, 3], np.float32))])
    assert tfckpt("rename", str(tmp_path / "m.ckpt"), str(tmp_path / "out"),
                  "--preset", "contrib-learn-to-estimator").code == 0
    got = load(tf, tmp_path / "out")
    assert sorted(got) == ["dnn/logits/bias", "dnn/logits/kernel"]
    assert same(got["dnn/logits/bias"], bias + centered)


def test_centered_bias_that_cannot_be_folded_is_reported(tfckpt, tmp_path):
    write_bundle(str(tmp_path / "m.ckpt"), [("dnn/logits/biases", np.zeros([3], np.float32)),
                                            ("centered_bias_weight", np.zeros([1], np.float32))])
    run = tfckpt("rename", str(tmp_path / "m.ckpt"), "--preset", "contrib-learn-to-estimator", "--dry-run")
    assert run.code == 0
    assert run.err == ("tfckpt: warning: centered_bias_weight [1] kept under its name: no logits bias "
                       "of the same shape and dtype (linear/linear_model/bias_weights, "
                       "dnn/logits/bias) to fold it into, so a tf.estimator model restored from "
                       "this checkpoint would not add it\n")


# What contrib-learn-to-estimator must make of each variable, written out: weights ->
# kernel, biases -> bias; contrib's truncated partitioned slot names become the estimator's
# `<var>/t_0/Adagrad`; the head's learning-rate copy is dropped; global_step stays.
IRIS_TF114_NAMES = {
    **{f"dnn/{layer}/{old}": f"dnn/{layer}/{new}"
       for layer in ("hiddenlayer_0", "hiddenlayer_1", "hiddenlayer_2", "logits")
       for old, new in (("weights", "kernel"), ("biases", "bias"))},
    "dnn/hiddenlayer_0/weights/enlayer_0/weights/part_0/Adagrad": "dnn/hiddenlayer_0/kernel/t_0/Adagrad",
    "dnn/hiddenlayer_0/biases/denlayer_0/biases/part_0/Adagrad": "dnn/hiddenlayer_0/bias/t_0/Adagrad",
    "dnn/hiddenlayer_1/weights/enlayer_1/weights/part_0/Adagrad": "dnn/hiddenlayer_1/kernel/t_0/Adagrad",
    "dnn/hiddenlayer_1/biases/denlayer_1/biases/part_0/Adagrad": "dnn/hiddenlayer_1/bias/t_0/Adagrad",
    "dnn/hiddenlayer_2/weights/enlayer_2/weights/part_0/Adagrad": "dnn/hiddenlayer_2/kernel/t_0/Adagrad",
    "dnn/hiddenlayer_2/biases/denlayer_2/biases/part_0/Adagrad": "dnn/hiddenlayer_2/bias/t_0/Adagrad",
    "dnn/logits/weights/nn/logits/weights/part_0/Adagrad": "dnn/logits/kernel/t_0/Adagrad",
    "dnn/logits/biases/dnn/logits/biases/part_0/Adagrad": "dnn/logits/bias/t_0/Adagrad",
    "dnn/multi_class_head/dnn/learning_rate": None,
    "global_step": "global_step",
}


def assert_renamed(tf, source, out, expected: dict, *, folded: dict | None = None) -> None:
    """The written checkpoint holds exactly the expected new names, each bit for bit the
    old tensor (read by TensorFlow), or the sum `folded` names for it."""
    got, original = load(tf, out), load(tf, source)
    assert sorted(original) == sorted(expected)
    assert sorted(got) == sorted(new for new in expected.values() if new)
    for old, new in expected.items():
        if new and new not in (folded or {}):
            assert same(got[new], original[old]), (old, new)
    for new, parts in (folded or {}).items():
        assert same(got[new], sum(original[part] for part in parts)), new


def test_contrib_real_tf114_iris(tfckpt, tf, tmp_path):
    source = REAL_WORLD / "contrib-learn-iris-dnn-tf1.14-part0" / "iris_model"
    before = tree_digest(source)
    plan = plan_json(tfckpt, source, "--preset", "contrib-learn-to-estimator")
    assert new_names(plan) == IRIS_TF114_NAMES
    run = tfckpt("rename", str(source), str(tmp_path / "out"), "--preset", "contrib-learn-to-estimator")
    assert run.code == 0, run.err
    assert_renamed(tf, source, tmp_path / "out", IRIS_TF114_NAMES)
    assert tree_digest(source) == before


TF011_COLUMNS = ("gdp_change", "gld_change", "manufacture_durable_orders_change",
                 "manufacture_orders_change", "slv_change", "spy_change")
# tf 0.11 contrib linear names -> tf.estimator's linear_model names; Ftrl slots under
# part_0; centered_bias_weight is folded into the bias (and its slot dropped).
TF011_NAMES = {
    **{f"linear/{column}/weight{slot}": f"linear/linear_model/{column}/weights{'/part_0' if slot else ''}{slot}"
       for column in TF011_COLUMNS for slot in ("", "/Ftrl", "/Ftrl_1")},
    "linear/bias_weight": "linear/linear_model/bias_weights",
    "linear/bias_weight/Ftrl": "linear/linear_model/bias_weights/part_0/Ftrl",
    "linear/bias_weight/Ftrl_1": "linear/linear_model/bias_weights/part_0/Ftrl_1",
    "centered_bias_weight": None,
    "centered_bias_weight/Adagrad": None,
    "global_step": "global_step",
}


def test_contrib_real_tf011_v1_sharded_linear_with_centered_bias(tfckpt, tf, tmp_path):
    source = REAL_WORLD / "contrib-learn-v1-sharded-tf0.11" / "model"
    plan = plan_json(tfckpt, source, "--preset", "contrib-learn-to-estimator")
    assert plan["format"] == "V1"
    assert new_names(plan) == TF011_NAMES
    run = tfckpt("rename", str(source), str(tmp_path / "out"), "--preset", "contrib-learn-to-estimator")
    assert run.code == 0, run.err
    assert_renamed(tf, source, tmp_path / "out", TF011_NAMES, folded={
        "linear/linear_model/bias_weights": ("linear/bias_weight", "centered_bias_weight")})


def test_estimator_linear_wide_2017_is_already_estimator_names(tfckpt, tf, tmp_path):
    source = REAL_WORLD / "estimator-linear-wide-2017" / "model"
    plan = plan_json(tfckpt, source, "--preset", "contrib-learn-to-estimator")
    assert plan["counts"]["unchanged"] == 7 and plan["written"] == 7
    run = tfckpt("rename", str(source), str(tmp_path / "out"), "--preset", "contrib-learn-to-estimator",
                 "--preset", "tf1-slots-to-keras")
    assert run.code == 0, run.err
    got, original = load(tf, tmp_path / "out"), load(tf, source)
    assert same(got["training/Ftrl/linear/linear_model/x/weights/linear"],
                original["linear/linear_model/x/weights/part_0/Ftrl_1"])
    assert same(got["linear/linear_model/x/weights"], original["linear/linear_model/x/weights"])


# --- layers, strip-optimizer, tf1 slots ------------------------------------------------------

def test_layers_weights_to_kernel(tfckpt):
    names = ["fully_connected/weights", "fully_connected_1/biases", "conv1/weights",
             "conv1/weights/Adam", "net/fc/biases/Momentum", "other/weights_extra"]
    plan = plan_json(tfckpt, _bundle(names), "--preset", "layers-weights-to-kernel")
    assert new_names(plan) == {"fully_connected/weights": "dense/kernel",
                               "fully_connected_1/biases": "dense_1/bias",
                               "conv1/weights": "conv1/kernel", "conv1/weights/Adam": "conv1/kernel/Adam",
                               "net/fc/biases/Momentum": "net/fc/bias/Momentum",
                               "other/weights_extra": "other/weights_extra"}


_BUNDLES: list = []


def _bundle(names, tmp=None) -> Path:
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="tfckpt-test-rename-"))
    _BUNDLES.append(directory)
    prefix = directory / "m.ckpt"
    write_bundle(str(prefix), [(n, np.arange(4, dtype=np.float32) + i) for i, n in enumerate(names)])
    return prefix


@pytest.fixture(autouse=True)
def _cleanup_bundles():
    yield
    import shutil

    while _BUNDLES:
        shutil.rmtree(_BUNDLES.pop(), ignore_errors=True)


def test_strip_optimizer_keeps_model_variables(tfckpt, tf, tmp_path):
    run = tfckpt("rename", str(DNN_V1), str(tmp_path / "out"), "--preset", "strip-optimizer")
    assert run.code == 0, run.err
    got, want = load(tf, tmp_path / "out"), load(tf, DNN_V1)
    assert sorted(got) == sorted(n for n in want if not n.endswith("Adagrad") and n != "global_step")
    assert all(same(got[name], want[name]) for name in got)


def test_tf1_slots_to_keras_gives_the_v2_estimator_slot_names(tfckpt, tf, tmp_path):
    plan = plan_json(tfckpt, DNN_V1, "--preset", "tf1-slots-to-keras")
    v2_names = set(load(tf, DNN_V2))
    slots = {old: new for old, new in new_names(plan).items() if old.endswith("/Adagrad")}
    assert len(slots) == 6 and set(slots.values()) <= v2_names
    assert slots["dnn/logits/kernel/t_0/Adagrad"] == "training/Adagrad/dnn/logits/kernel/accumulator"


def test_tf1_adam_slots_and_beta_powers(tfckpt, tf, tmp_path):
    write_bundle(str(tmp_path / "m.ckpt"), [
        ("dense/kernel", np.ones([2, 2], np.float32)), ("dense/kernel/Adam", np.full([2, 2], 2, np.float32)),
        ("dense/kernel/Adam_1", np.full([2, 2], 3, np.float32)),
        ("beta1_power", np.array(0.9 ** 8, np.float32)), ("beta2_power", np.array(0.999 ** 8, np.float32))])
    assert tfckpt("rename", str(tmp_path / "m.ckpt"), str(tmp_path / "out"),
                  "--preset", "tf1-slots-to-keras").code == 0
    got = load(tf, tmp_path / "out")
    assert sorted(got) == ["dense/kernel", "training/Adam/dense/kernel/m",
                           "training/Adam/dense/kernel/v", "training/Adam/iter"]
    assert same(got["training/Adam/iter"], np.array(7, np.int64))
    assert same(got["training/Adam/dense/kernel/v"], np.full([2, 2], 3, np.float32))


@pytest.mark.parametrize("power, step, iters, note", [
    (0.9 ** 8, 7, 7, "iter = global_step 7 = log(beta1_power) / log(0.9) - 1"),
    (0.9 ** 2001, 2000, 2000, "iter = global_step 2000 (beta1_power 0.0 has underflowed)"),
    (0.5 ** 11, 10, 10, "iter = global_step 10; beta1_power 0.000488281 fits beta1 0.5, not "
                        "Adam's default 0.9: check the Keras optimizer's beta_1"),
    (0.9 ** 2001, None, None, "beta1_power is 0.0 and there is no global_step: the number of "
                              "Adam updates cannot be told; dropped (Keras starts iter at 0)"),
])
def test_adam_iterations_from_beta1_power_and_global_step(tfckpt, tf, tmp_path, power, step, iters, note):
    """float32 beta1_power underflows to 0 after ~1000 updates: global_step counts them then."""
    tensors = [("dense/kernel", np.ones([2], np.float32)), ("beta1_power", np.array(power, np.float32))]
    if step is not None:
        tensors.append(("global_step", np.array(step, np.int64)))
    write_bundle(str(tmp_path / "m.ckpt"), tensors)
    plan = plan_json(tfckpt, tmp_path / "m.ckpt", "--preset", "tf1-slots-to-keras")
    entry = next(e for e in plan["entries"] if e["old"] == "beta1_power")
    assert entry["note"] == note
    run = tfckpt("rename", str(tmp_path / "m.ckpt"), str(tmp_path / "out"), "--preset", "tf1-slots-to-keras")
    assert run.code == 0, run.err
    got = load(tf, tmp_path / "out")
    if iters is None:
        assert "training/Adam/iter" not in got and "beta1_power" not in got
        assert run.err == f"tfckpt: warning: preset tf1-slots-to-keras: beta1_power: {note}\n"
    else:
        assert same(got["training/Adam/iter"], np.array(iters, np.int64))


# --- merge-partitions ----------------------------------------------------------------------

def test_merge_partitions_fixture_restores_into_an_unpartitioned_graph(tfckpt, tf, tmp_path):
    plan = plan_json(tfckpt, PARTITIONED, "--preset", "merge-partitions")
    assert {e["old"]: e["action"] for e in plan["entries"]}["proj/weights"] == "merged"
    assert tfckpt("rename", str(PARTITIONED), str(tmp_path / "out"), "--preset", "merge-partitions").code == 0
    original = load(tf, PARTITIONED)
    graph = tf.Graph()
    with graph.as_default():
        weights = tf.compat.v1.get_variable("proj/weights", [12, 4])
        biases = tf.compat.v1.get_variable("proj/biases", [4])
        with tf.compat.v1.Session() as session:
            tf.compat.v1.train.Saver([weights, biases]).restore(session, str(tmp_path / "out" / "model.ckpt-0"))
            assert same(session.run(weights), original["proj/weights"])
            assert same(session.run(biases), original["proj/biases"])


def test_merge_partitions_linear_classifier_slots(tfckpt, tf, tmp_path):
    case = json.loads((LINEAR.parent / "case.json").read_text())
    run = tfckpt("rename", str(LINEAR), str(tmp_path / "out"), "--preset", "merge-partitions")
    assert run.code == 0, run.err
    out = str(tmp_path / "out" / "model.ckpt-40")
    got = load(tf, out)
    assert "linear/linear_model/city/weights/Ftrl_1" in got
    assert not any("/part_" in name for name in got)
    source = str(LINEAR / "model.ckpt-40")
    for part, spec in enumerate(case["slices"]["linear/linear_model/city/weights"]):
        want = tf.raw_ops.RestoreV2(prefix=source, tensor_names=[f"linear/linear_model/city/weights/part_{part}/Ftrl"],
                                    shape_and_slices=[spec], dtypes=[tf.float32])[0].numpy()
        have = tf.raw_ops.RestoreV2(prefix=out, tensor_names=["linear/linear_model/city/weights/Ftrl"],
                                    shape_and_slices=[spec], dtypes=[tf.float32])[0].numpy()
        assert same(have, want)


def test_unmerged_lone_slice_is_refused_when_writing(tfckpt, tmp_path):
    run = tfckpt("rename", str(LINEAR), str(tmp_path / "out"))
    assert run.code == 2
    assert run.err.endswith("tfckpt: error: variable 'linear/linear_model/city/weights/part_0/Ftrl' "
                            "holds one slice of a larger tensor. Add --preset merge-partitions to "
                            "assemble its parts, or --drop it\n")
    assert not (tmp_path / "out").exists()


# --- outputs ------------------------------------------------------------------------------------

def test_output_equal_to_or_inside_the_input_is_refused(tfckpt, tmp_path):
    import shutil

    source = tmp_path / "src"
    shutil.copytree(RNN / "tf1.0", source)
    before = tree_digest(source)
    for output in (source, source / "out"):
        run = tfckpt("rename", str(source), str(output), "--preset", "rnn-1.0-to-1.2")
        assert run.code == 2
        assert run.err == (f"tfckpt: error: output {output} overlaps the input {source}. "
                           f"Choose an output path outside the input\n")
    assert tree_digest(source) == before


def test_existing_output_needs_force(tfckpt, tf, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    run = tfckpt("rename", str(RNN / "tf1.0"), str(out), "--preset", "rnn-1.0-to-1.2")
    assert run.code == 2
    assert run.err == (f"tfckpt: error: output {out} exists. Choose another path, or pass --force "
                       f"to replace it once the new output is verified\n")
    assert (out / "old.txt").read_text() == "old"
    assert tfckpt("rename", str(RNN / "tf1.0"), str(out), "--preset", "rnn-1.0-to-1.2", "--force").code == 0
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "model.ckpt-30.data-00000-of-00001",
                                                     "model.ckpt-30.index"]
    assert "rnn/basic_lstm_cell/kernel" in load(tf, out)


def test_parts_of_one_partitioned_slot_colliding_point_to_merge_partitions(tfckpt):
    run = tfckpt("rename", str(LINEAR), "--dry-run", "--preset", "tf1-slots-to-keras")
    assert run.code == 2
    assert run.err == ("tfckpt: error: 'linear/linear_model/city/weights/part_0/Ftrl' and "
                       "'linear/linear_model/city/weights/part_1/Ftrl' would both become "
                       "'training/Ftrl/linear/linear_model/city/weights/accumulator' (rules: preset "
                       "tf1-slots-to-keras). They are parts of one partitioned variable: put "
                       "--preset merge-partitions before the other rules to write it whole\n")
    assert tfckpt("rename", str(LINEAR), "--dry-run", "--preset", "merge-partitions",
                  "--preset", "tf1-slots-to-keras").code == 0
