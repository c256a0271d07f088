"""`tfckpt dir`: checkpoints, state-file problems, graphs, events, exports and Estimator
recognition, on the committed fixtures, on real third-party model dirs, and on model
dirs damaged in tmp_path."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from pathlib import Path

import pytest

import real_world
from conftest import FIXTURES, REAL_WORLD
from inspectors import modeldir

IRIS = REAL_WORLD / "contrib-learn-iris-dnn-tf1.14-part0" / "iris_model"
SHARDED = REAL_WORLD / "contrib-learn-v1-sharded-tf0.11" / "model"
WIDE = REAL_WORLD / "estimator-linear-wide-2017" / "model"
MNIST = REAL_WORLD / "mnist-fully-connected-feed-cpkt" / "fully_connected_feed"
TRAFFIC = REAL_WORLD / "traffic-signs-v1-2016-11"
NXT = REAL_WORLD / "nxt-tensorflow-v1"
HALF_PLUS_TWO = REAL_WORLD / "serving-saved_model_half_plus_two_cpu" / "00000123"
DIR_SOURCES = real_world.sources("dir")  # every case of the corpus `dir` applies to
ESTIMATOR_CASES = sorted(p.parent.parent.name for p in FIXTURES.glob("*/model_dir/checkpoint"))


@functools.lru_cache(maxsize=None)
def survey(path: Path) -> modeldir.ModelDir:
    return modeldir.inspect_dir(str(path))


def columns_of(result: modeldir.ModelDir) -> dict:
    return {c.name: c for c in result.estimator.feature_columns}


# ---------------------------------------------------------------------------------------
# The command: formats, quiet, bad input
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("case, paths", DIR_SOURCES, ids=real_world.ids(DIR_SOURCES))
def test_every_real_world_dir_in_table_and_json(tfckpt, case, paths):
    (path,) = paths
    table = tfckpt("dir", path)
    assert (table.code, table.err) == (0, "")
    assert table.out.startswith(f"Model dir: {path}\n")
    assert "Checkpoints\n===========\n" in table.out
    run = tfckpt("dir", path, "--format", "json")
    assert (run.code, run.err) == (0, "")
    document = json.loads(run.out)
    assert run.out == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert sorted(document) == ["checkpoints", "estimator", "eval_dirs", "events", "exports",
                                "graph_read", "graphs", "latest", "model_dir", "problems",
                                "state_file"]
    assert document["latest"] in [c["prefix"] for c in document["checkpoints"]]


def test_table_of_the_contrib_iris_model(tfckpt):
    out = tfckpt("dir", IRIS).out
    assert "class          DNNClassifier\n" in out
    assert "generation     tf.contrib.learn\n" in out
    assert "task           classifier (multi_class head), 3 classes\n" in out
    assert "hidden units   [10, 20, 10]\n" in out
    assert "optimizers     Adagrad (dnn)\n" in out
    assert "Latest checkpoint: model.ckpt-2000 (step 2000)\n" in out
    assert "read for recognition: model.ckpt-2000.meta (543 nodes, producer 38, " \
           "TensorFlow 1.14.0)\n" in out
    assert "eval/: 1 events files, last step 2000\n  accuracy = 0.966667\n" in out
    assert "none (state file OK)\n" in out


def test_csv_lists_the_checkpoints(tfckpt):
    run = tfckpt("dir", SHARDED, "--format", "csv")
    lines = run.out.splitlines()
    assert lines[0] == "step,prefix,format,files,size,time,in_state_file,latest"
    assert [line.split(",")[:4] for line in lines[1:]] == [
        [str(step), f"model.ckpt-{step}-?????-of-00001", "V1", "2"] for step in (1, 2, 3, 4)]
    assert [line.split(",")[-2:] for line in lines[1:]] == [["true", "false"]] * 3 + [
        ["true", "true"]]


def test_quiet_prints_nothing(tfckpt):
    assert (tfckpt("dir", IRIS, "-q").out, tfckpt("-q", "dir", IRIS).code) == ("", 0)


def test_missing_dir_is_bad_input(tfckpt, tmp_path):
    (tmp_path / "model_dir").mkdir()
    run = tfckpt("dir", tmp_path / "model_dri")
    assert run.code == 2 and run.out == ""
    assert run.err == (f"tfckpt: error: no such directory: {tmp_path / 'model_dri'}. Did you "
                       f"mean: model_dir? Pass the model_dir an Estimator or a tf.train.Saver "
                       f"wrote into\n")


def test_a_file_is_not_a_model_dir(tfckpt):
    path = IRIS / "model.ckpt-2000.index"
    run = tfckpt("dir", path)
    assert run.code == 2
    assert run.err.startswith(f"tfckpt: error: {path} is a file, not a model dir (found ")
    assert run.err.endswith(f"for one checkpoint use `tfckpt ls {path}`\n")
    assert run.err.count("\n") == 1


def test_a_dir_without_checkpoint_or_events_is_bad_input(tfckpt, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    run = tfckpt("dir", tmp_path)
    assert run.code == 2
    assert run.err == (f"tfckpt: error: no checkpoint and no events file in {tmp_path} (it "
                       f"holds: notes.txt). Pass the model_dir an Estimator or a "
                       f"tf.train.Saver wrote into\n")


def test_a_saved_model_dir_is_told_apart(tfckpt):
    run = tfckpt("dir", HALF_PLUS_TWO)
    assert run.code == 2
    assert "(it holds: a SavedModel; inspect it with `tfckpt ls` or `tfckpt graph`)" in run.err


def test_a_keras_file_dir_points_at_ls(tfckpt):
    run = tfckpt("dir", FIXTURES / "keras-h5")
    assert run.code == 2
    assert (f"(it holds: Keras file model.h5; inspect it with `tfckpt ls "
            f"{FIXTURES / 'keras-h5' / 'model.h5'}`)") in run.err


def test_events_alone_make_a_model_dir(tfckpt, tmp_path):
    shutil.copy(next(MNIST.glob("events.out.tfevents.*")), tmp_path)
    document = json.loads(tfckpt("dir", tmp_path, "--format", "json").out)
    assert (document["checkpoints"], document["latest"], document["estimator"]) == ([], None, None)
    assert document["events"][0]["scalar_tags"] == ["loss"]


# ---------------------------------------------------------------------------------------
# Real-world model dirs: exact facts
# ---------------------------------------------------------------------------------------

def test_real_contrib_iris_dnn_classifier():
    result = survey(IRIS)
    assert [(c.step, c.prefix, c.latest) for c in result.checkpoints] == [
        (0, "model.ckpt-0", False), (2000, "model.ckpt-2000", True)]
    assert result.checkpoints[1].files == ("model.ckpt-2000.data-00000-of-00001",
                                           "model.ckpt-2000.index", "model.ckpt-2000.meta")
    assert result.checkpoints[1].size == 4116 + 918 + 146991
    est = result.estimator
    assert (est.class_name, est.generation, est.head, est.n_classes) == (
        "DNNClassifier", "tf.contrib.learn", "multi_class", 3)
    assert (est.hidden_units, est.input_dimension, est.logits_dimension) == ((10, 20, 10), 4, 3)
    assert [(o.name, o.part) for o in est.optimizers] == [("Adagrad", "dnn")]
    assert (result.problems, [g.path for g in result.graphs]) == (
        (), ["graph.pbtxt", "model.ckpt-0.meta", "model.ckpt-2000.meta"])
    (events,) = result.events
    assert (events.events, events.last_step, events.problem) == (47, 2000, None)
    assert "loss" in events.scalar_tags and "global_step/sec" in events.scalar_tags
    (evaluation,) = result.eval_dirs
    assert evaluation.last_step == 2000
    assert dict(evaluation.metrics)["accuracy"] == pytest.approx(0.9666666, abs=1e-6)


def test_real_contrib_sharded_v1_is_a_binary_linear_classifier():
    # The provenance notes call it a regressor, but its graph minimises logistic_loss
    # and its eval events report accuracy and auc: a binary LinearClassifier.
    result = survey(SHARDED)
    assert [c.step for c in result.checkpoints] == [1, 2, 3, 4]
    assert result.latest == "model.ckpt-4-?????-of-00001"
    est = result.estimator
    assert (est.class_name, est.generation, est.n_classes, est.centered_bias) == (
        "LinearClassifier", "tf.contrib.learn", 2, True)
    assert [(o.name, o.part) for o in est.optimizers] == [("Adagrad", "centered_bias"),
                                                         ("Ftrl", "linear")]
    names = ["gdp_change", "gld_change", "manufacture_durable_orders_change",
             "manufacture_orders_change", "slv_change", "spy_change"]
    assert {c.name: (c.kind, c.shape) for c in est.feature_columns} == {
        name: ("numeric", (1,)) for name in names}
    assert [(e.path, e.last_step) for e in result.events] == [
        ("events.out.tfevents.1477614241.xps-13", 1), ("events.out.tfevents.1477614259.xps-13", 2),
        ("events.out.tfevents.1477614341.xps-13", 3), ("events.out.tfevents.1477620532.xps-13", 4)]
    assert result.events[0].scalar_tags == ("centered_bias_0", "loss")
    (evaluation,) = result.eval_dirs
    assert (len(evaluation.events), evaluation.last_step) == (4, 4)
    assert {"accuracy", "auc", "loss"} <= dict(evaluation.metrics).keys()


def test_real_estimator_linear_classifier_2017():
    result = survey(WIDE)
    assert [c.step for c in result.checkpoints] == [1, 2, 3, 4, 1000]
    assert (result.latest, result.graph_read.tensorflow_version) == ("model.ckpt-1000", "1.4.0")
    est = result.estimator
    assert (est.class_name, est.generation, est.head, est.n_classes) == (
        "LinearClassifier", "tf.estimator v1", "binary", 2)
    assert [(o.name, o.part) for o in est.optimizers] == [("Ftrl", "linear")]
    # `x` is a 1920-wide numeric column: its weights feed a MatMul, not a gather.
    (column,) = est.feature_columns
    assert (column.name, column.kind, column.shape, column.used_by) == (
        "x", "numeric", (1920,), ("linear",))
    assert result.events == ()
    (evaluation,) = result.eval_dirs
    assert evaluation.last_step == 1000
    assert dict(evaluation.metrics)["accuracy"] == pytest.approx(0.6479, abs=1e-4)


def test_real_mnist_saver_is_custom_with_ten_classes():
    result = survey(MNIST)
    assert [(c.step, c.prefix) for c in result.checkpoints] == [(999, "model.cpkt-999"),
                                                                (1999, "model.cpkt-1999")]
    est = result.estimator
    assert (est.family, est.class_name, est.generation) == ("custom", None, None)
    assert (est.task, est.n_classes) == ("classifier", 10)
    assert [(o.name, o.seen_in) for o in est.optimizers] == [("GradientDescent", "graph")]
    (events,) = result.events
    assert (events.events, events.last_step, events.scalar_tags) == (23, 1900, ("loss",))


def test_real_traffic_signs_saver_without_step():
    result = survey(TRAFFIC)
    (checkpoint,) = result.checkpoints
    assert (checkpoint.prefix, checkpoint.step, checkpoint.format) == ("model.ckpt", None, "V1")
    assert (result.estimator.family, result.estimator.n_classes) == ("custom", 43)


def test_real_nxt_extra_v1_file_is_not_listed():
    result = survey(NXT)
    assert [(c.prefix, c.in_state_file, c.latest) for c in result.checkpoints] == [
        ("model.ckpt", True, True), ("video_weights.ckpt", False, False)]
    assert [(p.kind, p.entry) for p in result.problems] == [("not-listed", "video_weights.ckpt")]
    assert [o.name for o in result.estimator.optimizers] == ["Adam"]


# ---------------------------------------------------------------------------------------
# Committed fixtures: recognition against each case.json
# ---------------------------------------------------------------------------------------

def expected_generation(api: str) -> str | None:
    if api.startswith("tf.contrib.learn"):
        return "tf.contrib.learn"
    if api.startswith("tf.compat.v1.estimator"):
        return "tf.estimator v1"
    return None if api == "tf.estimator.Estimator" else "tf.estimator v2"


def expected_columns(spec: dict, family: str) -> dict:
    """{name in the graph: (kind, used_by, facts)} for a case's feature_spec."""
    default = ("dnn",) if family == "DNN" else ("linear",)
    expected = {}
    for key, entry in spec.items():
        used_by = tuple(entry.get("used_by", default))
        if entry["kind"] == "numeric":
            expected[key] = ("numeric", used_by, {"shape": tuple(entry["shape"])})
        elif entry["kind"] == "vocabulary":
            expected[key] = ("vocabulary_list", used_by,
                             {"vocabulary": tuple(entry["vocabulary_list"]),
                              "vocabulary_size": len(entry["vocabulary_list"])})
        elif entry["kind"] == "hash":
            expected[key] = ("hash_bucket", used_by, {"hash_buckets": entry["hash_bucket_size"]})
        elif entry["kind"] == "embedding":
            expected[f"{entry['source']}_embedding"] = (
                "embedding", used_by, {"embedding_dimension": entry["dimension"],
                                       "source": entry["source"]})
        elif entry["kind"] == "crossed":
            expected["_X_".join(sorted(entry["keys"]))] = (
                "crossed", used_by, {"crossed": tuple(sorted(entry["keys"])),
                                     "hash_buckets": entry["hash_bucket_size"]})
    return expected


@pytest.mark.parametrize("case", ESTIMATOR_CASES)
def test_fixture_recognition_matches_case_json(case):
    info = json.loads((FIXTURES / case / "case.json").read_text())
    result = survey(FIXTURES / case / "model_dir")
    est, spec = result.estimator, info["estimator"]
    assert [c.step for c in result.checkpoints] == info["checkpoint_steps"]
    assert result.latest == f"model.ckpt-{info['checkpoint_steps'][-1]}"
    assert result.problems == ()
    assert est.generation == expected_generation(spec["api"])
    if spec["class"] == "Estimator":
        assert (est.family, est.class_name, est.feature_columns) == ("custom", None, ())
        return
    params = spec["params"]
    assert est.class_name == spec["class"]
    hidden = params.get("hidden_units") or params.get("dnn_hidden_units")
    assert est.hidden_units == (tuple(hidden) if hidden else None)
    if spec["class"].endswith("Classifier"):
        assert est.n_classes == params["n_classes"]
    else:
        assert (est.task, est.label_dimension) == ("regressor", 1)
    has_graph = any(any((FIXTURES / case / "model_dir").glob(pattern)) for pattern in ("*.meta", "graph.pbtxt"))
    assert (result.graph_read is not None) == has_graph
    # without a graph the weights name no column kinds or vocabularies: none are claimed
    expected = expected_columns(info["feature_spec"], est.family) if has_graph else {}
    found = columns_of(result)
    assert sorted(found) == sorted(expected)
    for name, (kind, used_by, facts) in expected.items():
        column = found[name]
        assert (column.kind, column.used_by) == (kind, used_by), name
        assert {key: getattr(column, key) for key in facts} == facts, name


def test_fixture_custom_models_show_their_loss_and_optimizer():
    regression = survey(FIXTURES / "custom-linear-regression" / "model_dir").estimator
    assert (regression.task, [o.name for o in regression.optimizers]) == (
        "regressor", ["GradientDescent"])
    softmax = survey(FIXTURES / "custom-softmax-classifier" / "model_dir").estimator
    assert (softmax.task, softmax.n_classes, [o.name for o in softmax.optimizers]) == (
        "classifier", 10, ["Adam"])


def test_fixture_v2_dnn_has_batch_norm_dropout_and_keras_slots():
    est = survey(FIXTURES / "dnn-classifier-v2" / "model_dir").estimator
    assert (est.batch_norm, est.dropout, est.dropout_rate) == (True, True, 0.3)
    assert [(o.name, o.part) for o in est.optimizers] == [("Adagrad", "dnn")]


def test_fixture_contrib_names_without_graph():
    result = survey(FIXTURES / "contrib-learn-names" / "model_dir")
    est = result.estimator
    assert result.graphs == () and result.graph_read is None
    assert (est.generation, est.centered_bias, est.input_dimension) == (
        "tf.contrib.learn", True, 4)
    assert est.evidence[-1] == ("head scope multi_class_head in "
                                "dnn/multi_class_head/dnn/learning_rate")


def test_fixture_wide_deep_table_rows(tfckpt):
    out = tfckpt("dir", FIXTURES / "wide-deep" / "model_dir").out
    assert "optimizers     Adagrad (dnn), Ftrl (linear)\n" in out
    assert "cross of city x color" in out
    assert "of color; vocabulary 6 (red, green, blue, yellow, black, ...); embedding dim 3" in out


# ---------------------------------------------------------------------------------------
# Without a graph, one logit is undecidable: said, not guessed
# ---------------------------------------------------------------------------------------

def test_one_logit_without_graph_is_reported_undecided(tmp_path):
    model_dir = tmp_path / "model_dir"
    shutil.copytree(FIXTURES / "dnn-regressor" / "model_dir", model_dir)
    for meta in model_dir.glob("*.meta"):
        meta.unlink()
    for graph in model_dir.glob("graph.pbtxt"):
        graph.unlink()
    est = modeldir.inspect_dir(str(model_dir)).estimator
    assert (est.family, est.task, est.class_name, est.logits_dimension) == ("DNN", None, None, 1)
    assert est.notes == ("1 logit: binary classifier or regressor; no graph or head name "
                         "tells which",)


# ---------------------------------------------------------------------------------------
# Damaged model dirs in tmp_path
# ---------------------------------------------------------------------------------------

@pytest.fixture
def iris_copy(tmp_path) -> Path:
    target = tmp_path / "iris_model"
    shutil.copytree(IRIS, target)
    return target


def write_state(model_dir: Path, latest: str, *entries: str) -> None:
    lines = [f'model_checkpoint_path: "{latest}"']
    lines += [f'all_model_checkpoint_paths: "{entry}"' for entry in entries]
    (model_dir / "checkpoint").write_text("\n".join(lines) + "\n")


def test_state_file_with_foreign_absolute_paths(iris_copy):
    foreign = "/home/alice/iris_model"
    write_state(iris_copy, f"{foreign}/model.ckpt-2000", f"{foreign}/model.ckpt-0",
                f"{foreign}/model.ckpt-2000")
    result = modeldir.inspect_dir(str(iris_copy))
    assert result.latest == "model.ckpt-2000"
    assert [(p.kind, p.entry) for p in result.problems] == [
        ("foreign-path", f"{foreign}/model.ckpt-2000"), ("foreign-path", f"{foreign}/model.ckpt-0")]
    assert result.problems[0].message == (
        f"the latest checkpoint {foreign}/model.ckpt-2000 is an absolute path from another "
        f"place; model.ckpt-2000 is here beside the state file. Rewrite the entry as "
        f"'model.ckpt-2000'")
    assert all(c.in_state_file for c in result.checkpoints)


def test_absolute_paths_into_this_dir_are_fine(iris_copy):
    write_state(iris_copy, f"{iris_copy}/model.ckpt-2000", f"{iris_copy}/model.ckpt-0",
                f"{iris_copy}/model.ckpt-2000")
    assert modeldir.inspect_dir(str(iris_copy)).problems == ()


def test_state_entries_whose_files_are_gone(iris_copy, tfckpt):
    write_state(iris_copy, "model.ckpt-3000", "model.ckpt-0", "model.ckpt-2000",
                "model.ckpt-3000")
    result = modeldir.inspect_dir(str(iris_copy))
    assert [(p.kind, p.entry) for p in result.problems] == [("missing", "model.ckpt-3000")]
    assert result.problems[0].message == ("the latest checkpoint model.ckpt-3000 is named by "
                                          "the state file but its files are gone")
    assert result.latest == "model.ckpt-2000"  # what `tfckpt ls DIR` falls back to as well
    run = tfckpt("dir", iris_copy)
    assert run.code == 0
    assert "- [missing] the latest checkpoint model.ckpt-3000 is named" in run.out


def test_checkpoint_not_in_state_file(iris_copy):
    write_state(iris_copy, "model.ckpt-2000", "model.ckpt-2000")
    result = modeldir.inspect_dir(str(iris_copy))
    assert [(p.kind, p.entry) for p in result.problems] == [("not-listed", "model.ckpt-0")]
    assert [(c.prefix, c.in_state_file) for c in result.checkpoints] == [
        ("model.ckpt-0", False), ("model.ckpt-2000", True)]


def test_no_state_file(iris_copy):
    (iris_copy / "checkpoint").unlink()
    result = modeldir.inspect_dir(str(iris_copy))
    assert [(p.kind, p.entry) for p in result.problems] == [("no-state-file", "checkpoint")]
    assert (result.latest, result.state_file.present) == ("model.ckpt-2000", False)


def test_truncated_events_file_is_reported_not_fatal(iris_copy, tfckpt):
    events = next(iris_copy.glob("events.out.tfevents.*"))
    data = events.read_bytes()
    events.write_bytes(data[: len(data) // 2])
    result = modeldir.inspect_dir(str(iris_copy))
    (record,) = result.events
    assert re.fullmatch(rf"damaged after {record.events} events: truncated record at byte \d+",
                        record.problem)
    assert 0 < record.events < 47
    assert [(p.kind, p.entry) for p in result.problems] == [("damaged-events", events.name)]
    run = tfckpt("dir", iris_copy, "--format", "json")
    assert run.code == 0
    assert json.loads(run.out)["estimator"]["class_name"] == "DNNClassifier"


def test_corrupted_eval_events_file(iris_copy):
    events = next((iris_copy / "eval").glob("events.out.tfevents.*"))
    data = bytearray(events.read_bytes())
    data[60:80] = b"\xff" * 20  # inside the second record: its checksum no longer matches
    events.write_bytes(bytes(data))
    (evaluation,) = modeldir.inspect_dir(str(iris_copy)).eval_dirs
    (record,) = evaluation.events
    assert record.problem.startswith(f"damaged after {record.events} events: corrupted record")
    assert record.path == f"eval/{events.name}"


def test_unreadable_graph_is_a_problem_and_recognition_goes_on(iris_copy):
    (iris_copy / "model.ckpt-2000.meta").write_bytes(b"\x0a\xff\xff\xff not a proto")
    result = modeldir.inspect_dir(str(iris_copy))
    assert [(p.kind, p.entry) for p in result.problems] == [("unreadable", "model.ckpt-2000.meta")]
    assert result.problems[0].message.startswith("cannot parse the graph model.ckpt-2000.meta: ")
    assert (result.graph_read, result.estimator.class_name) == (None, "DNNClassifier")


def test_exported_saved_model_signatures(iris_copy, tfckpt):
    shutil.copytree(HALF_PLUS_TWO, iris_copy / "export" / "best" / "1565248600")
    (export,) = modeldir.inspect_dir(str(iris_copy)).exports
    assert (export.path, export.tags, export.problem) == (
        os.path.join("export", "best", "1565248600"), (("serve",),), None)
    assert [s.key for s in export.signatures] == [
        "classify_x_to_y", "regress_x2_to_y3", "regress_x_to_y", "regress_x_to_y2",
        "serving_default"]
    default = export.signatures[-1]
    assert (default.method, [(t.name, t.dtype, t.shape) for t in default.inputs]) == (
        "tensorflow/serving/predict", [("x", "float32", (None, 1))])
    out = tfckpt("dir", iris_copy).out
    assert "Exported SavedModels\n" in out and "x:float32[?, 1]" in out


# ---------------------------------------------------------------------------------------
# A custom model_fn's input_layer: the column kinds the fixtures do not have
# ---------------------------------------------------------------------------------------

def write_custom_feature_column_model(tf, model_dir: Path) -> None:
    """A graph that feeds five kinds of column through input_layer, saved by a Saver."""
    fc = tf.compat.v1.feature_column
    (model_dir / "cities.txt").write_text("paris\nrome\noslo\n")
    graph = tf.Graph()
    with graph.as_default():
        placeholder = tf.compat.v1.placeholder
        features = {"price": placeholder(tf.float32, [None, 2]),
                    "age": placeholder(tf.float32, [None, 1]),
                    "city": placeholder(tf.string, [None, 1]),
                    "word": placeholder(tf.string, [None, 1]),
                    "shop": placeholder(tf.int64, [None, 1])}
        vocabulary_file = str(model_dir / "cities.txt")
        columns = [
            fc.numeric_column("price", shape=(2,)),
            fc.bucketized_column(fc.numeric_column("age"), boundaries=[18.0, 30.0, 60.0]),
            fc.indicator_column(fc.categorical_column_with_vocabulary_file(
                "city", vocabulary_file, vocabulary_size=3)),
            fc.embedding_column(fc.categorical_column_with_hash_bucket("word", 50), dimension=4),
            fc.indicator_column(fc.categorical_column_with_identity("shop", 7))]
        net = fc.input_layer(features, columns)
        kernel = tf.compat.v1.get_variable("logits/kernel", [net.shape[1], 5])
        bias = tf.compat.v1.get_variable("logits/bias", [5])
        labels = placeholder(tf.int64, [None])
        loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, net @ kernel + bias)
        step = tf.compat.v1.train.get_or_create_global_step()
        tf.compat.v1.train.MomentumOptimizer(0.1, 0.9).minimize(loss, global_step=step)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver().save(session, str(model_dir / "model.ckpt"), global_step=3)


def test_custom_input_layer_columns(tf, tmp_path):
    write_custom_feature_column_model(tf, tmp_path)
    result = modeldir.inspect_dir(str(tmp_path))
    est = result.estimator
    assert (est.family, est.task, est.n_classes) == ("custom", "classifier", 5)
    assert [(o.name, o.part) for o in est.optimizers] == [("Momentum", None)]
    found = {c.name: c for c in est.feature_columns}
    assert {name: (c.kind, c.used_by) for name, c in found.items()} == {
        "age_bucketized": ("bucketized", ("model",)), "city_indicator": ("indicator", ("model",)),
        "price": ("numeric", ("model",)), "shop_indicator": ("indicator", ("model",)),
        "word_embedding": ("embedding", ("model",))}
    assert (found["age_bucketized"].boundaries, found["age_bucketized"].buckets) == (
        (18.0, 30.0, 60.0), 4)
    city = found["city_indicator"]
    assert (city.source, city.vocabulary_file, city.vocabulary_size, city.buckets) == (
        "city", str(tmp_path / "cities.txt"), 3, 3)
    assert found["price"].shape == (2,)
    assert (found["shop_indicator"].source, found["shop_indicator"].buckets) == ("shop", 7)
    word = found["word_embedding"]
    assert (word.source, word.hash_buckets, word.embedding_dimension) == ("word", 50, 4)


# ---------------------------------------------------------------------------------------
# Bad input answers at once: no TensorFlow import
# ---------------------------------------------------------------------------------------

def test_bad_input_never_imports_tensorflow(tmp_path):
    from test_cli import run_fresh

    (tmp_path / "empty").mkdir()
    for argv in (["dir", str(tmp_path / "nope")], ["dir", str(IRIS / "checkpoint")],
                 ["dir", str(tmp_path / "empty")]):
        result = run_fresh(*argv)
        assert result.returncode == 2, argv
        lines = result.stderr.strip().splitlines()
        assert lines[0].startswith("tfckpt: error: ") and lines[-1] == "TF_NOT_IMPORTED"
