"""`tfckpt export` and `tfckpt freeze` on every Estimator fixture, through every way
that applies: the written SavedModel, loaded with `tf.saved_model.load` (TF 2.21),
and the frozen graph reproduce what the real Estimator predicted."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from migrate.predictors import FrozenGraphPredictor, SavedModelPredictor
from tests.fixture_cases import (FIXTURES, assert_same_outputs, load_case, load_predictions,
                                 plain_frozen_predict, plain_saved_model_predict, split_predictions)

CANNED_CASES = ("dnn-classifier-v1", "dnn-classifier-v2", "dnn-regressor", "linear-classifier",
                "wide-deep", "contrib-learn-names")
GRAPH_CASES = ("dnn-classifier-v1", "dnn-classifier-v2", "dnn-regressor", "linear-classifier",
               "wide-deep", "custom-linear-regression", "custom-softmax-classifier")
MODEL_FN_CASES = {"custom-linear-regression": "linear_regression_model_fn",
                  "custom-softmax-classifier": "softmax_classifier_model_fn"}
EXACT = ("class_ids", "classes", "all_class_ids", "all_classes")
# A custom model_fn's training graph does not record its feature keys, and this one has
# three equally likely results: the user names them, as the error message asks.
SOFTMAX_OUTPUTS = ["--outputs", "probabilities=Softmax:0", "classes=ArgMax:0"]


def features_arg(case: str) -> list[str]:
    return ["--features", json.dumps(load_case(case)["feature_spec"])]


def graph_args(case: str) -> list[str]:
    """What the user must add for the meta-graph way of `case`."""
    if case.startswith("custom-"):
        return features_arg(case) + (SOFTMAX_OUTPUTS if "softmax" in case else [])
    return []


def assert_reproduces(case: str, predict) -> None:
    """Every recorded output, with its shape and dtype, and no other output: `predict`
    is plain TensorFlow running the written file (fixture_cases.plain_*_predict)."""
    inputs, recorded = split_predictions(load_predictions(case))
    assert_same_outputs(recorded, predict(inputs), atol=1e-5, exact=EXACT)


def saved_model(path):
    return lambda inputs: plain_saved_model_predict(path, inputs)


def export(tfckpt, case: str, out, *extra: str):
    run = tfckpt("export", FIXTURES / case / "model_dir", out, *extra)
    assert run.code == 0, run.err
    return run


@pytest.mark.parametrize("case", CANNED_CASES)
def test_export_canned_reproduces_the_estimator(tfckpt, tmp_path, case):
    run = export(tfckpt, case, tmp_path / "sm", "--via", "canned", *features_arg(case))
    assert run.out.startswith(f"wrote {tmp_path / 'sm'} (way: canned)")
    assert run.out.rstrip().endswith("outputs match on 32 rows")
    assert_reproduces(case, saved_model(tmp_path / "sm"))


@pytest.mark.parametrize("case", GRAPH_CASES)
def test_export_meta_graph_reproduces_the_estimator(tfckpt, tmp_path, case):
    run = export(tfckpt, case, tmp_path / "sm", "--via", "meta-graph", "--format", "json",
                 *graph_args(case))
    result = json.loads(run.out)
    assert result["way"] == "meta-graph" and result["verification"]["result"] == "PASS"
    assert set(result["signatures"]) == {"serving_default", "predict"}
    assert_reproduces(case, saved_model(tmp_path / "sm"))


@pytest.mark.parametrize("case", sorted(MODEL_FN_CASES))
def test_export_model_fn_reproduces_the_estimator(tfckpt, tmp_path, case):
    spec = f"{FIXTURES / 'generate.py'}:{MODEL_FN_CASES[case]}"
    params = json.dumps(load_case(case)["estimator"]["params"])
    run = export(tfckpt, case, tmp_path / "sm", "--model-fn", spec, "--params", params,
                 *features_arg(case))
    assert "(way: model-fn)" in run.out
    assert_reproduces(case, saved_model(tmp_path / "sm"))


@pytest.mark.parametrize("case", sorted(set(CANNED_CASES) | set(GRAPH_CASES)))
def test_freeze_reproduces_the_estimator(tfckpt, tf, tmp_path, case):
    extra = features_arg(case) if case == "contrib-learn-names" else graph_args(case)
    run = tfckpt("freeze", FIXTURES / case / "model_dir", tmp_path / "frozen.pb", *extra)
    assert run.code == 0, run.err
    graph_def = tf.compat.v1.GraphDef.FromString((tmp_path / "frozen.pb").read_bytes())
    ops = {node.op for node in graph_def.node}
    assert not ops & {"VariableV2", "VarHandleOp", "Assign", "AssignVariableOp", "SaveV2",
                      "RestoreV2", "QueueDequeueManyV2", "IteratorGetNext"}
    assert_reproduces(case, lambda inputs: plain_frozen_predict(tmp_path / "frozen.pb", inputs))


def test_model_dir_without_meta_falls_back_to_canned_and_says_so(tfckpt, tmp_path):
    run = export(tfckpt, "contrib-learn-names", tmp_path / "sm", *features_arg("contrib-learn-names"))
    assert "(way: canned)" in run.out
    assert ("note: no graph (.meta or graph.pbtxt) beside the checkpoint\n"
            "note: so the canned model was rebuilt from variable names "
            "(--via meta-graph needs a .meta or graph.pbtxt)\n") in run.err
    assert f"B: {tmp_path / 'sm'} (signature serving_default)" in run.out


def test_export_parsing_signature_serves_tf_examples(tfckpt, tmp_path, tf):
    export(tfckpt, "linear-classifier", tmp_path / "sm", "--signature", "parsing")
    inputs, recorded = split_predictions(load_predictions("linear-classifier"))
    examples = [tf.train.Example(features=tf.train.Features(feature={
        "age": tf.train.Feature(float_list=tf.train.FloatList(value=[inputs["age"][i]])),
        "color": tf.train.Feature(bytes_list=tf.train.BytesList(value=[inputs["color"][i]])),
        "city": tf.train.Feature(bytes_list=tf.train.BytesList(value=[inputs["city"][i]])),
    })).SerializeToString() for i in range(len(inputs["age"]))]
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    assert {"classification", "parsing", "predict", "serving_default"} <= set(loaded.signatures)
    scores = loaded.signatures["classification"](inputs=tf.constant(examples))["scores"]
    np.testing.assert_allclose(scores.numpy(), recorded["probabilities"], atol=1e-5, rtol=0)


def test_export_refuses_existing_output_and_replaces_it_with_force(tfckpt, tmp_path):
    out = tmp_path / "sm"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    refused = tfckpt("export", FIXTURES / "dnn-regressor" / "model_dir", out)
    assert refused.code == 2 and "exists" in refused.err and "--force" in refused.err
    assert (out / "keep.txt").read_text() == "old"
    export(tfckpt, "dnn-regressor", out, "--force")
    assert not (out / "keep.txt").exists() and (out / "saved_model.pb").is_file()
    assert sorted(os.listdir(tmp_path)) == ["sm"]


def test_export_that_fails_verification_keeps_nothing(tfckpt, tmp_path, monkeypatch):
    """A SavedModel that predicts differently (here: the writer is sabotaged) is not kept."""
    from migrate.targets import saved_model as export_module

    real = export_module.write_saved_model

    def sabotaged(inference, path, **kwargs):
        """Save scaled weights, then give the session its own weights back."""
        variables = inference.graph.get_collection("variables")
        with inference.graph.as_default():
            originals = inference.session.run(variables)
            inference.session.run([v.assign(v * 1.5) for v in variables])
            names = real(inference, path, **kwargs)
            inference.session.run([v.assign(value) for v, value in zip(variables, originals)])
        return names

    monkeypatch.setattr(export_module, "write_saved_model", sabotaged)
    run = tfckpt("export", FIXTURES / "dnn-regressor" / "model_dir", tmp_path / "sm", "--via", "canned")
    assert run.code == 1
    assert "was not written: it does not predict what" in run.err
    assert os.listdir(tmp_path) == []
    kept = tfckpt("export", FIXTURES / "dnn-regressor" / "model_dir", tmp_path / "sm",
                  "--via", "canned", "--keep-failed")
    assert kept.code == 1 and sorted(os.listdir(tmp_path)) == ["sm.failed"]


REAL_WORLD_EXPORTS = {
    "contrib-learn-iris-dnn-tf1.14-part0": "iris_model",
    "contrib-learn-v1-sharded-tf0.11": "model",
    "estimator-linear-wide-2017": "model",
    "serving-half_plus_two-v1": "00000123/export",
    "serving-half_plus_two-v2-export": "00000123/export",
}


@pytest.mark.parametrize("case", sorted(REAL_WORLD_EXPORTS))
def test_real_world_exports_and_verifies_against_its_original_graph(tfckpt, tmp_path, case):
    from tests.conftest import REAL_WORLD

    source = REAL_WORLD / case / REAL_WORLD_EXPORTS[case]
    run = tfckpt("export", source, tmp_path / "sm", "--format", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["way"] == "meta-graph"
    again = tfckpt("verify", source, tmp_path / "sm", "--format", "json")
    assert again.code == 0, again.err
    report = json.loads(again.out)
    assert report["result"] == "PASS" and report["only_in_a"] == report["only_in_b"] == []
    if "half_plus_two" in case:
        model = SavedModelPredictor(str(tmp_path / "sm"))
        x = np.array([-2.0, 0.0, 1.5, 1000.0], np.float32)
        np.testing.assert_array_equal(model.predict({"x": x})["y"], x * 0.5 + 2)


def test_real_world_linear_estimator_canned_rebuild_agrees_with_its_graph(tfckpt, tmp_path):
    """Two independent rebuilds (its own training graph, and names + shapes only) agree."""
    from tests.conftest import REAL_WORLD

    source = REAL_WORLD / "estimator-linear-wide-2017" / "model"
    assert tfckpt("export", source, tmp_path / "sm").code == 0
    run = tfckpt("verify", source, tmp_path / "sm", "--via", "canned", "--format", "json")
    assert run.code == 0, run.err
    assert sorted(o["key"] for o in json.loads(run.out)["outputs"]) == [
        "class_ids", "classes", "logistic", "logits", "probabilities"]


@pytest.mark.parametrize("case", sorted(REAL_WORLD_EXPORTS))
def test_real_world_freezes(tfckpt, tmp_path, case):
    """Ref-typed variables (TF 0.x-1.x graphs) and `initialized_value()` conds freeze too."""
    from tests.conftest import REAL_WORLD

    source = REAL_WORLD / case / REAL_WORLD_EXPORTS[case]
    run = tfckpt("freeze", source, tmp_path / "frozen.pb", "--format", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["verification"]["result"] == "PASS"
    frozen = FrozenGraphPredictor(str(tmp_path / "frozen.pb"))
    assert not [n.name for n in frozen.graph.as_graph_def().node
                if n.op in ("VariableV2", "IsVariableInitialized", "RefSwitch")]
