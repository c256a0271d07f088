"""`tfckpt predict` and `tfckpt verify` on SavedModels and frozen graphs, and the
error paths of the export/freeze/predict/verify commands that need no rebuild."""

from __future__ import annotations

import json

import numpy as np
import pytest

from migrate.targets import saved_model as export, frozen as freeze
from migrate.predictors import fixed_width
from tests.test_export import small_classifier

ROWS = {"x": np.array([[1.0, 2.0], [-3.0, 0.5], [0.0, 0.0]], np.float32),
        "color": np.array([[b"green"], [b"purple"], [b"red"]])}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, tf):
    """A SavedModel, its frozen twin, a slightly different SavedModel, and their predictions."""
    root = tmp_path_factory.mktemp("artifacts")
    model = small_classifier(tf)
    export.write_saved_model(model, str(root / "sm"))
    graph_def, _names = freeze.frozen_graph_def(model)
    (root / "frozen.pb").write_bytes(graph_def.SerializeToString())
    expected = fixed_width(model.predict(ROWS))
    model.close()
    other = small_classifier(tf, scale=1.01)
    export.write_saved_model(other, str(root / "other"))
    other.close()
    return root, expected


def test_predict_saved_model_json_with_accuracy(tfckpt, artifacts, tmp_path):
    root, expected = artifacts
    labels = [int(v) for v in expected["class_ids"].reshape(-1)]
    labels[0] = (labels[0] + 1) % 3  # one of three wrong
    document = {"x": ROWS["x"].tolist(), "color": [["green"], ["purple"], ["red"]], "label": labels}
    (tmp_path / "in.json").write_text(json.dumps(document))
    run = tfckpt("predict", root / "sm", "--input", tmp_path / "in.json", "--labels", "label",
                 "--format", "json")
    assert run.code == 0, run.err
    got = json.loads(run.out)
    assert got["rows"] == 3 and got["metric"] == {"name": "accuracy", "value": pytest.approx(2 / 3),
                                                  "labels": "label", "output": "class_ids"}
    np.testing.assert_array_equal(np.array(got["outputs"]["probabilities"], np.float32),
                                  expected["probabilities"])
    assert "accuracy against 'label': 0.666667" in run.err


def test_predict_frozen_graph_table_and_npz(tfckpt, artifacts, tmp_path):
    root, expected = artifacts
    np.savez(tmp_path / "in.npz", **{"x:x": ROWS["x"], "x:color": ROWS["color"]})
    run = tfckpt("predict", root / "frozen.pb", "--input", tmp_path / "in.npz",
                 "--output", tmp_path / "out.npz")
    assert run.code == 0, run.err
    header = run.out.splitlines()[0].split()
    assert header == ["row", "all_classes", "class_ids", "classes", "logits", "probabilities"]
    with np.load(tmp_path / "out.npz") as written:
        np.testing.assert_array_equal(written["y:logits"], expected["logits"])
        np.testing.assert_array_equal(written["y:classes"], expected["classes"])


def test_verify_saved_model_against_frozen_graph_passes(tfckpt, artifacts):
    root, _expected = artifacts
    run = tfckpt("verify", root / "sm", root / "frozen.pb", "--format", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["result"] == "PASS" and report["rows"] == 32
    assert [o["key"] for o in report["outputs"]] == ["all_classes", "class_ids", "classes",
                                                     "logits", "probabilities"]
    assert all(o["mismatched"] == 0 for o in report["outputs"])


def test_verify_different_models_fails_with_exit_1(tfckpt, artifacts):
    root, _expected = artifacts
    run = tfckpt("verify", root / "sm", root / "other")
    assert run.code == 1
    assert "FAIL" in run.out and run.out.rstrip().endswith("match on 32 rows")
    loose = tfckpt("verify", root / "sm", root / "other", "--atol", "10", "--rtol", "0",
                   "--atol", "class_ids=0", "--format", "json")
    report = {o["key"]: o for o in json.loads(loose.out)["outputs"]}
    assert report["logits"]["status"] == report["probabilities"]["status"] == "PASS"
    assert report["logits"]["atol"] == 10 and report["class_ids"]["atol"] == 0
    flips = _class_id_flips(root)
    assert report["class_ids"]["mismatched"] == flips
    assert loose.code == (1 if flips else 0)


def _class_id_flips(root) -> int:
    from migrate.rebuild import inputs
    from migrate.predictors import SavedModelPredictor

    a, b = SavedModelPredictor(str(root / "sm")), SavedModelPredictor(str(root / "other"))
    feeds = inputs.generate(a.features)
    return int(np.count_nonzero(a.predict(feeds)["class_ids"] != b.predict(feeds)["class_ids"]))


@pytest.mark.parametrize("argv, message", [
    (("verify", "{root}/sm", "{root}/nope"), "no such file or directory"),
    (("verify", "{root}/sm", "{root}/frozen.pb", "--atol", "abc"), "--atol abc: expected a number"),
    (("verify", "{root}/sm", "{root}/frozen.pb", "--format", "csv"), "verify writes table or json"),
    (("predict", "{root}/sm", "--input", "{root}/missing.json"), "no such input file"),
    (("predict", "{root}/sm", "--input", "{root}/frozen.pb"), "input files are .npz, .csv or .json"),
    (("export", "{root}/sm", "{root}/sm/inside"), "overlaps the input"),
    (("freeze", "{root}/nothing-here", "{root}/out.pb"), "no such file or directory"),
    (("export", "{root}/sm", "{root}/x", "--params", "[1]"), "--params must be a JSON object"),
])
def test_bad_input_is_one_line_exit_2(tfckpt, artifacts, argv, message):
    root, _expected = artifacts
    run = tfckpt(*[a.format(root=root) for a in argv])
    assert run.code == 2, (run.out, run.err)
    assert message in run.err and run.err.count("\n") == 1 and run.out == ""


def test_predict_names_a_missing_feature(tfckpt, artifacts, tmp_path):
    root, _expected = artifacts
    (tmp_path / "in.json").write_text(json.dumps({"x": [[1.0, 2.0]]}))
    run = tfckpt("predict", root / "sm", "--input", tmp_path / "in.json")
    assert run.code == 2
    assert run.err == (f"tfckpt: error: {tmp_path / 'in.json'} has no column for feature(s) "
                       f"color (it has: x)\n")


def test_verify_against_recorded_predictions(tfckpt, artifacts, tmp_path):
    root, expected = artifacts
    recorded = {"x:x": ROWS["x"], "x:color": ROWS["color"].reshape(-1)}
    recorded.update({f"y:{key}": value for key, value in expected.items()})
    np.savez(tmp_path / "recorded.npz", **recorded)
    run = tfckpt("verify", root / "sm", tmp_path / "recorded.npz")
    assert run.code == 0, run.err
    assert f"inputs: recorded in {tmp_path / 'recorded.npz'}" in run.out
    assert run.out.rstrip().endswith("PASS: 5 of 5 outputs match on 3 rows")
    recorded["y:class_ids"] = (expected["class_ids"] + 1) % 3
    np.savez(tmp_path / "wrong.npz", **recorded)
    wrong = tfckpt("verify", root / "frozen.pb", tmp_path / "wrong.npz", "--format", "json")
    assert wrong.code == 1
    checks = {o["key"]: o for o in json.loads(wrong.out)["outputs"]}
    assert checks["class_ids"]["mismatched"] == 3 and checks["logits"]["status"] == "PASS"


def test_inputs_the_model_cannot_take_are_one_line_errors(tfckpt, artifacts, tmp_path):
    (tmp_path / "in.json").write_text(json.dumps({"x": [[1.0, 2.0, 3.0]], "color": [["red"]]}))
    root, _expected = artifacts
    run = tfckpt("predict", root / "sm", "--input", tmp_path / "in.json")
    assert run.code == 2 and run.err == (f"tfckpt: error: {tmp_path / 'in.json'}: column x has "
                                         f"shape [1, 3], the model takes [rows, 2]\n")


@pytest.mark.parametrize("model", ["sm", "frozen.pb"])
def test_tensorflow_refusing_the_feeds_is_a_tfckpt_error(artifacts, model):
    from inspectors.errors import TfckptError
    from migrate.predictors import open_predictor

    root, _expected = artifacts
    predictor = open_predictor(str(root / model))
    with pytest.raises(TfckptError, match="cannot run on these inputs"):
        predictor.predict({"x": np.zeros((1, 3), np.float32), "color": np.array([[b"red"]])})
    predictor.close()
