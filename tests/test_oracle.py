"""The independent reference (tests/oracle.py) is right, checked without tfckpt: the data
file lists exactly the real-world folders and describes each completely; every oracle runs
and gives what the data file says (dtypes, shapes), deterministically and row by row; its
outputs have the properties their roles demand; it reproduces the values the PROVENANCE
files recorded; half_plus_two computes 0.5 x + 2 exactly; a contrib.learn training graph
and the SavedModel its author exported from it agree; and every edit the oracle makes to
an artifact (a mend, a dropped collection, a bypass, a feed, a fixed batch) is needed."""

from __future__ import annotations

import copy
import glob
import re

import numpy as np
import pytest

import oracle

CASES = oracle.cases()
WITH_ORACLE = sorted(name for name, entry in CASES.items() if entry["oracle"])
KINDS = {"estimator-model-dir", "contrib-model-dir", "saver", "frozen-graph", "saved-model",
         "keras-h5", "session-bundle"}
FAMILIES = {"ls", "show", "diff", "graph", "dir", "export", "freeze", "predict", "safetensors"}
ROLES = {"logits", "logistic", "probabilities", "class_ids", "classes", "all_class_ids",
         "all_classes", "predictions", "output"}
ROWS = 7  # not a multiple of the fixed batches 50, 100 and 457: their last chunk is padded


@pytest.fixture(scope="module", autouse=True)
def _close_sessions():
    yield
    oracle.close_sessions()


def all_oracles():
    """(case, which) for every oracle: the main one (which None) and the other_oracles."""
    for name in WITH_ORACLE:
        yield name, None
        for which in sorted(CASES[name].get("other_oracles", {})):
            yield name, which


ORACLES = list(all_oracles())
ORACLE_IDS = [name if which is None else f"{name}:{which}" for name, which in ORACLES]


@pytest.fixture(scope="module")
def reference():
    """run_original on ROWS reference rows, once per oracle for the whole module."""
    results: dict[tuple[str, str | None], dict[str, np.ndarray]] = {}

    def get(name: str, which: str | None) -> dict[str, np.ndarray]:
        if (name, which) not in results:
            feeds = oracle.reference_inputs(name, ROWS, seed=0, which=which)
            results[name, which] = oracle.run_original(name, feeds, which=which)
        return results[name, which]

    return get


# --- the data file against the folder -----------------------------------------------------

def _readme_cases() -> set[str]:
    """The first column of the README's table, below its header row."""
    text = (oracle.real_world_root() / "README.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "case", rows[0]
    return set(rows[1:])


def test_data_file_lists_exactly_the_folders_on_disk():
    folders = {path.name for path in oracle.real_world_root().iterdir()
               if path.is_dir() and not path.name.startswith(".")}
    assert sorted(CASES) == sorted(folders)


def test_data_file_lists_exactly_the_cases_of_the_readme_table():
    assert sorted(CASES) == sorted(_readme_cases())


def _exists(root, relative: str) -> bool:
    """A path of the data file exists (a V1 sharded pattern matches at least one shard, a
    checkpoint prefix has its files)."""
    path = root / relative
    return path.exists() or bool(glob.glob(str(path) + "*")) or bool(glob.glob(str(path)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_is_described_completely(name):
    entry, root = CASES[name], oracle.case_dir(name)
    assert entry["kind"] in KINDS and entry["env"] in {"main", "legacy"} and entry["holds"]
    assert set(entry["expect"]) == FAMILIES
    for family, expectation in entry["expect"].items():
        assert isinstance(expectation["applies"], bool), family
        if expectation["applies"]:
            assert all(_exists(root, arg) for arg in expectation.get("args", [])), family
        else:
            assert expectation["reason"], family
    model_families = {entry["expect"][f]["applies"] for f in ("export", "freeze", "predict")}
    if entry["oracle"] is None:
        assert entry["oracle_excluded"] and entry["export_source"] is None
        assert model_families == {False}
    else:
        assert "oracle_excluded" not in entry and _exists(root, entry["export_source"])
        assert model_families == {True}


@pytest.mark.parametrize("name,which", ORACLES, ids=ORACLE_IDS)
def test_each_oracle_is_described_completely(name, which):
    spec, root = oracle.oracle_spec(name, which), oracle.case_dir(name)
    for key in ("graph", "checkpoint", "saved_model"):
        if key in spec:
            assert _exists(root, spec[key]), key
    assert spec["artifact"] in {"meta-graph", "saved-model", "frozen-graph"}
    assert all(m["mend"] in oracle.MENDS and m["why"] for m in spec.get("mends", []))
    assert all(c["name"] and c["why"] for c in spec.get("drop_collections", []))
    names = [item["name"] for item in spec["inputs"]]
    keys = [item["key"] for item in spec["outputs"] + spec.get("derived_outputs", [])]
    assert len(set(names)) == len(names) and len(set(keys)) == len(keys)
    assert {item["role"] for item in spec["outputs"] + spec.get("derived_outputs", [])} <= ROLES
    assert all(d["fn"] in oracle.DERIVED for d in spec.get("derived_outputs", []))
    if spec.get("fixed_batch"):
        assert spec["fixed_batch_why"]
    if which is not None:
        assert spec["relation"] in {"same-model", "other-checkpoint"} and spec["why"]
    if spec.get("provenance_values") is None:
        assert spec["provenance_values_why"]


# --- inputs -------------------------------------------------------------------------------

def _graph_nodes(path) -> dict:
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef.FromString(path.read_bytes())
    return {node.name: node for node in meta.graph_def.node}


def _reads(node, tensor: str) -> bool:
    return any(i == tensor or (i + ":0" == tensor) for i in node.input)


NAMED = [name for name in WITH_ORACLE if CASES[name]["oracle"]["artifact"] == "meta-graph"
         and len(CASES[name]["oracle"]["inputs"]) > 1]


@pytest.mark.parametrize("name", NAMED)
def test_input_names_follow_from_the_nodes_that_read_them(name):
    """Where a graph has several inputs, each name is proven by the graph (a chain of nodes
    from the replaced tensor to a node whose scope or inputs carry the name) or by the
    test that `named_by` names; a swapped mapping fails here."""
    spec = CASES[name]["oracle"]
    nodes = _graph_nodes(oracle.case_dir(name) / spec["graph"])
    for item in spec["inputs"]:
        if "named_by" in item:
            assert "read_by" not in item and item["named_by"]
            continue
        tensor = item["tensor"]
        for reader in item["read_by"]:
            assert _reads(nodes[reader], tensor), (item["name"], reader, tensor)
            tensor = reader + ":0"
        last = nodes[item["read_by"][-1]]
        parts = set(re.split("[/:]", "/".join([last.name, *last.input])))
        assert item["name"] in parts or any(p.startswith(item["name"] + "_") for p in parts), \
            (item["name"], last.name)


@pytest.mark.parametrize("name,which", ORACLES, ids=ORACLE_IDS)
def test_reference_inputs_are_reproducible_typed_and_in_range(name, which):
    spec = oracle.oracle_spec(name, which)
    first = oracle.reference_inputs(name, 5, seed=3, which=which)
    again = oracle.reference_inputs(name, 5, seed=3, which=which)
    other = oracle.reference_inputs(name, 5, seed=4, which=which)
    assert list(first) == [item["name"] for item in spec["inputs"]]
    for item in spec["inputs"]:
        value, values = first[item["name"]], item["values"]
        assert value.shape == (5, *item["shape"])
        assert np.array_equal(value, again[item["name"]])
        assert not np.array_equal(value, other[item["name"]])
        if values["kind"] == "words":
            assert value.dtype == object
            assert set(value.ravel()) <= {w.encode("utf-8") for w in values["words"]}
        else:
            assert value.dtype == np.dtype(item["dtype"])
        if values["kind"] in ("uniform", "integers"):
            assert (value >= np.asarray(values["low"])).all()
            assert (value < np.asarray(values["high"])).all()


# --- running the original -----------------------------------------------------------------

@pytest.mark.parametrize("name,which", ORACLES, ids=ORACLE_IDS)
def test_oracle_runs_with_the_dtypes_and_shapes_of_the_data_file(reference, name, which):
    spec = oracle.oracle_spec(name, which)
    result = reference(name, which)  # run_original checks dtype and shape of each output
    expected = [item["key"] for item in spec["outputs"] + spec.get("derived_outputs", [])]
    assert sorted(result) == sorted(expected)


@pytest.mark.parametrize("name,which", ORACLES, ids=ORACLE_IDS)
def test_oracle_is_deterministic_and_row_by_row(reference, name, which):
    """Twice the same rows give the same bytes (no random op left on the path); three rows
    alone give the first three rows of seven (padding and chunking do not leak, and a graph
    marked batch-free really is)."""
    feeds = oracle.reference_inputs(name, ROWS, seed=0, which=which)
    once, twice = reference(name, which), oracle.run_original(name, feeds, which=which)
    head = oracle.run_original(name, {k: v[:3] for k, v in feeds.items()}, which=which)
    spec = oracle.oracle_spec(name, which)
    for item in spec["outputs"] + spec.get("derived_outputs", []):
        key, head_rows = item["key"], 3 * item.get("example_rows", 1)
        assert once[key].tolist() == twice[key].tolist(), key
        if once[key].dtype.kind == "f":  # another batch size may block a MatMul differently
            np.testing.assert_allclose(head[key], once[key][:head_rows], rtol=1e-6, atol=1e-6,
                                       err_msg=key)
        else:
            assert head[key].tolist() == once[key][:head_rows].tolist(), key


def _by_role(spec, result):
    items = spec["outputs"] + spec.get("derived_outputs", [])
    return {item["role"]: result[item["key"]] for item in items}


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-logits.astype(np.float64)))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits.astype(np.float64) - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("name,which", ORACLES, ids=ORACLE_IDS)
def test_outputs_have_the_properties_of_their_roles(reference, name, which):
    """A wrong tensor behind a key shows here: probabilities are distributions, logistic
    is the sigmoid of the logits, class ids are the argmax, classes their strings."""
    spec = oracle.oracle_spec(name, which)
    roles = _by_role(spec, reference(name, which))
    probabilities, logits = roles.get("probabilities"), roles.get("logits")
    if probabilities is not None:
        assert (probabilities >= 0).all() and (probabilities <= 1).all()
        np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
    if logits is not None and probabilities is not None:
        two_class = np.concatenate([np.zeros_like(logits), logits], axis=1)
        expected = _softmax(two_class if logits.shape[-1] == 1 else logits)
        np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    if "logistic" in roles:
        if logits is not None:
            np.testing.assert_allclose(roles["logistic"], _sigmoid(logits), atol=1e-6)
        if probabilities is not None:
            np.testing.assert_allclose(probabilities, np.concatenate(
                [1 - roles["logistic"], roles["logistic"]], axis=1), atol=1e-6)
    if "class_ids" in roles:
        scores = probabilities if probabilities is not None else logits
        if scores.shape[-1] == 1:
            scores = np.concatenate([np.zeros_like(scores), scores], axis=1)
        ids = roles["class_ids"].reshape(len(scores), -1)[:, 0]
        assert ids.tolist() == scores.argmax(axis=-1).tolist()
    if "classes" in roles:
        assert roles["classes"].ravel().tolist() == [
            str(i).encode() for i in roles["class_ids"].ravel().tolist()]
    if "all_class_ids" in roles:
        assert roles["all_class_ids"].tolist() == [[0, 1]] * len(roles["all_class_ids"])
    if "all_classes" in roles:
        assert roles["all_classes"].tolist() == [[b"0", b"1"]] * len(roles["all_classes"])


@pytest.mark.parametrize("name,which", ORACLES, ids=ORACLE_IDS)
def test_reference_outputs_are_informative(reference, name, which):
    """The generated rows exercise the model: every float output varies across rows, and
    probabilities are not saturated to 0/1 everywhere (a comparison would prove little)."""
    spec = oracle.oracle_spec(name, which)
    result = reference(name, which)
    for item in spec["outputs"] + spec.get("derived_outputs", []):
        value = result[item["key"]]
        if value.dtype.kind == "f":
            assert np.ptp(value.reshape(len(value), -1), axis=0).max() > 0, item["key"]
        if item["role"] in ("probabilities", "logistic"):
            assert ((value > 1e-4) & (value < 1 - 1e-4)).any(), item["key"]


# --- against what the PROVENANCE files recorded -------------------------------------------

def _provenance_runs(name: str) -> list[dict]:
    """The runs of a PROVENANCE 'oracle hints:' section: the command line, each input's
    first values and each fetch's printed values[:3] (plain or eval-mode)."""
    text = (oracle.case_dir(name) / "PROVENANCE.txt").read_text(encoding="utf-8")
    runs: list[dict] = []
    lines = text.split("oracle hints:", 1)[1].splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("run"):
            runs.append({"command": stripped, "inputs": {}, "fetches": {}})
        elif stripped.startswith("input ") and runs:
            tensor, sample = stripped.split()[1], re.search(r"sample=\[([^\]]*)\]", stripped)
            runs[-1]["inputs"][tensor] = sample.group(1).split()
        elif " fetch " in f" {stripped}" and runs and "values[:3]=" in lines[index + 1]:
            mode = "eval-mode" if stripped.startswith("eval-mode") else "plain"
            tensor = stripped.split("fetch ", 1)[1].split()[0]
            rows = re.findall(r"\[([^\[\]]+)\]", lines[index + 1].split("=", 1)[1])
            runs[-1]["fetches"][mode, tensor] = [row.split() for row in rows]
    return runs


def _close_to_printed(actual: float, printed: str) -> bool:
    """Printed with 6 decimals (absolute) or 7 significant digits (e-notation)."""
    value = float(printed)
    return abs(actual - value) <= (1e-6 * abs(value) if "e" in printed else 1e-6)


PROVENANCE = [(name, which) for name, which in ORACLES
              if oracle.oracle_spec(name, which).get("provenance_values")]


@pytest.mark.parametrize("name,which", PROVENANCE,
                         ids=[n if w is None else f"{n}:{w}" for n, w in PROVENANCE])
def test_oracle_reproduces_the_values_recorded_in_provenance(name, which):
    spec = oracle.oracle_spec(name, which)
    recipe = spec["provenance_values"]
    (run,) = [r for r in _provenance_runs(name) if spec["graph"].split("/")[-1] in r["command"]]
    feeds = oracle.reference_inputs(name, recipe["rows"], seed=recipe["seed"], which=which)
    by_tensor = {item["tensor"]: item["name"] for item in spec["inputs"]}
    assert set(run["inputs"]) == set(by_tensor)
    for tensor, sample in run["inputs"].items():
        drawn = feeds[by_tensor[tensor]].ravel()[: len(sample)]
        np.testing.assert_allclose(drawn.astype(float), [float(s) for s in sample], atol=5e-5)
    result = oracle.run_original(name, feeds, which=which)
    outputs = {item["tensor"]: item["key"] for item in spec["outputs"]}
    compared = 0
    for (mode, tensor), printed in run["fetches"].items():
        if mode != recipe["run"]:
            continue
        got = result[outputs[tensor]]
        for row, values in enumerate(printed):
            for column, text in enumerate(values):
                assert _close_to_printed(float(got[row, column]), text), (tensor, row, column)
                compared += 1
    assert compared >= 4


# --- case-specific facts ------------------------------------------------------------------

HALF_PLUS_TWO = ["serving-half_plus_two-v1", "serving-half_plus_two-v2-export",
                 "serving-saved_model_half_plus_two_cpu"]


@pytest.mark.parametrize("name", HALF_PLUS_TWO)
def test_half_plus_two_is_exactly_half_x_plus_two(name):
    x = oracle.reference_inputs(name, 64, seed=5)["x"]
    x[:4] = np.array([-2.0, 0.0, 1.5, 1000.0], np.float32).reshape(x[:4].shape)
    y = oracle.run_original(name, {"x": x})["y"]
    assert y.dtype == np.float32
    assert np.array_equal(y, x * np.float32(0.5) + np.float32(2))


def test_contrib_training_graph_agrees_with_the_authors_saved_model():
    name = "contrib-learn-wide-deep-servo-export-tf1.5"
    graph = oracle.run_original(name, oracle.reference_inputs(name, 64, seed=2))
    exported = oracle.run_original(
        name, oracle.reference_inputs(name, 64, seed=2, which="author-saved-model"),
        which="author-saved-model")
    assert np.abs(graph["probabilities"] - exported["probabilities"]).max() <= 1e-6
    assert 0.01 < graph["probabilities"][:, 1].std()  # rows that differ, not one answer
    assert exported["classes"].tolist() == [[b"0", b"1"]] * 64


# --- every edit the oracle makes is needed ------------------------------------------------

def _edited(name: str, edit) -> dict:
    entry = copy.deepcopy(CASES[name])
    edit(entry["oracle"])
    return entry


MENDED = [name for name in WITH_ORACLE
          if CASES[name]["oracle"].get("mends") or CASES[name]["oracle"].get("drop_collections")]


@pytest.mark.parametrize("name", MENDED)
def test_each_mend_is_one_tensorflow_needs(name):
    """Without its mends and dropped collections, TF 2.21 refuses to import the graph."""
    def undo(spec):
        spec.pop("mends", None)
        spec.pop("drop_collections", None)
    entry = _edited(name, undo)
    with pytest.raises((ValueError, KeyError)):
        oracle.run_original(entry, oracle.reference_inputs(entry, 2))


RANDOM_WITHOUT = [name for name in WITH_ORACLE
                  if CASES[name]["oracle"].get("bypass") or CASES[name]["oracle"].get("feeds")]


@pytest.mark.parametrize("name", RANDOM_WITHOUT)
def test_each_bypass_and_keep_prob_feed_is_what_stops_dropout(name):
    """Without the bypass (or with keep_prob 0.5), two runs on the same rows differ: the
    bypassed tensor or fed placeholder is the dropout's."""
    def undo(spec):
        spec.pop("bypass", None)
        for feed in spec.get("feeds", []):
            feed["value"] = 0.5
    entry = _edited(name, undo)
    feeds = oracle.reference_inputs(entry, 2)
    first, second = oracle.run_original(entry, feeds), oracle.run_original(entry, feeds)
    assert any(not np.array_equal(first[k], second[k]) for k in first)


FIXED = [name for name in WITH_ORACLE if CASES[name]["oracle"].get("fixed_batch")]


@pytest.mark.parametrize("name", FIXED)
def test_each_fixed_batch_is_one_the_graph_needs(name):
    """With its batch left free, the original graph refuses one row more than its batch."""
    def free(spec):
        rows = spec["fixed_batch"] + 1
        spec["fixed_batch"] = None
        spec["rows"] = rows
    entry = _edited(name, free)
    rows = entry["oracle"].pop("rows")
    import tensorflow as tf

    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        oracle.run_original(entry, oracle.reference_inputs(entry, rows))
