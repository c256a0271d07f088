"""Strings in any language: UTF-8 words (German, Chinese, emoji) and bytes that are
not UTF-8 flow through rebuild, generated inputs, export, predict, verify and every
output format. The rule for showing bytes (README): valid UTF-8 as text, any other
byte as \\xNN.

The graph is built with plain TensorFlow: a string input looked up in a
Const-initialized table (a vocabulary list), a score per id, and the class word
back out as a string output. Expected values come from that graph run by plain
TensorFlow.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np

from conftest import only_line

WORDS = [w.encode() for w in ("ä", "Straße", "中文", "😀")] + [b"\xff\xfe"]
QUERY = WORDS + [b"unseen"]


def make_model(tf, root):
    v1 = tf.compat.v1
    model = root / "model"
    model.mkdir(parents=True)
    graph = tf.Graph()
    with graph.as_default():
        word = v1.placeholder(tf.string, [None], name="word")
        keys = tf.constant(WORDS, dtype=tf.string)
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, tf.range(len(WORDS), dtype=tf.int64)), -1)
        ids = table.lookup(word)
        weights = v1.get_variable("w", initializer=np.arange(1, len(WORDS) + 2, dtype=np.float32))
        tf.identity(tf.gather(weights, ids + 1), name="score")
        names = tf.constant([b"OOV"] + WORDS, dtype=tf.string)
        tf.identity(tf.gather(names, ids + 1), name="label")
        with v1.Session(graph=graph) as session:
            session.run([v1.global_variables_initializer(), v1.tables_initializer()])
            expected = session.run({"score": "score:0", "label": "label:0"},
                                   {word: np.array(QUERY, dtype=object)})
            v1.train.Saver().save(session, str(model / "model.ckpt"))
    return model, expected


def shown(data: bytes) -> str:
    """The README's rule, written out independently: UTF-8 as text, other bytes as \\xNN."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(f"\\x{byte:02x}" for byte in data)


def test_non_ascii_vocabulary_exports_predicts_and_verifies(tfckpt, tf, tmp_path):
    model, expected = make_model(tf, tmp_path)
    out = tmp_path / "exported"
    run = tfckpt("export", model, out, "--outputs", "score=score:0", "label=label:0",
                 "--format", "json")
    assert run.code == 0, run.err
    document = json.loads(run.out)
    [spec] = document["inputs"]
    assert spec["vocabulary"] == [shown(w) for w in WORDS]
    assert document["verification"]["result"] == "PASS"

    loaded = tf.saved_model.load(str(out)).signatures["serving_default"]
    served = loaded(word=tf.constant(QUERY))
    np.testing.assert_array_equal(served["score"].numpy(), expected["score"])
    assert served["label"].numpy().tolist() == expected["label"].tolist()

    inputs = tmp_path / "q.npz"
    np.savez(inputs, word=np.array(QUERY, dtype=object).astype(bytes))
    as_json = tfckpt("predict", out, "--input", inputs, "--format", "json")
    assert as_json.code == 0, as_json.err
    outputs = json.loads(as_json.out)["outputs"]
    assert outputs["label"] == [shown(w) for w in expected["label"].tolist()]
    assert outputs["score"] == expected["score"].tolist()

    as_csv = tfckpt("predict", out, "--input", inputs, "--format", "csv")
    assert as_csv.code == 0, as_csv.err
    rows = list(csv.DictReader(io.StringIO(as_csv.out)))
    assert [row["label"] for row in rows] == [shown(w) for w in expected["label"].tolist()]

    as_table = tfckpt("predict", out, "--input", inputs)
    assert as_table.code == 0, as_table.err
    for word in expected["label"].tolist():
        assert shown(word) in as_table.out
    assert "\\xff\\xfe" in as_table.out

    verified = tfckpt("verify", model, out, "--outputs", "score=score:0", "label=label:0")
    assert verified.code == 0, verified.err
    assert "PASS: 2 of 2 outputs match on 32 rows" in verified.out


def test_non_ascii_words_read_from_csv_and_json_inputs(tfckpt, tf, tmp_path):
    model, _ = make_model(tf, tmp_path)
    text_words = [w.decode() for w in WORDS[:4]]
    graph = tf.Graph()
    with graph.as_default():  # the same graph as saved, run by plain TF on UTF-8 text
        tf.compat.v1.train.import_meta_graph(str(model / "model.ckpt.meta"))
        with tf.compat.v1.Session(graph=graph) as session:
            tf.compat.v1.train.Saver().restore(session, str(model / "model.ckpt"))
            session.run(tf.compat.v1.tables_initializer())
            expected = session.run("score:0", {"word:0": np.array([w.encode() for w in text_words],
                                                                  dtype=object)})
    (tmp_path / "q.csv").write_text("word\n" + "\n".join(text_words) + "\n", encoding="utf-8")
    (tmp_path / "q.json").write_text(json.dumps({"word": text_words}, ensure_ascii=False),
                                     encoding="utf-8")
    for name in ("q.csv", "q.json"):
        run = tfckpt("predict", model, "--input", tmp_path / name, "--outputs", "score=score:0",
                     "--format", "json")
        assert run.code == 0, run.err
        assert json.loads(run.out)["outputs"]["score"] == expected.tolist()


def test_graph_command_lists_non_utf8_vocabulary_without_error(tfckpt, tf, tmp_path):
    model, _ = make_model(tf, tmp_path)
    for fmt in ("table", "json"):
        run = tfckpt("graph", model, "--format", fmt)
        assert run.code == 0, run.err
        assert run.err == "" or "Traceback" not in run.err


def test_display_rule_is_one_function():
    from inspectors import render

    assert render.display_text("Straße".encode()) == "Straße"
    assert render.display_text(b"\xe4\xb8\xad\xff") == "中\\xff"
    assert render.display_text(render.text_of(b"a\xfe")) == "a\\xfe"
    assert render.bytes_of(render.text_of(b"\xff\xfe")) == b"\xff\xfe"
    assert only_line(render.to_json([render.text_of(b"\xff")]).replace("\n", "").replace(" ", "")) \
        == '["\\\\xff"]'


def test_verify_tells_strings_apart_by_every_byte():
    from migrate.verify import compare_output

    a = np.array([b"a ", "ä".encode(), b"\xff"])
    b = np.array([b"a", "ä".encode(), b"\xfe"])
    check = compare_output("classes", a, b, 1e-5, 1e-5)
    assert (check.status, check.mismatched) == ("FAIL", 2)
    assert compare_output("classes", a, a.copy(), 1e-5, 1e-5).status == "PASS"


def test_accuracy_against_non_ascii_labels_from_csv(tfckpt, tf, tmp_path):
    model, expected = make_model(tf, tmp_path)
    words = [w.decode() for w in WORDS[:4]]
    predicted = [label.decode() for label in expected["label"][:4].tolist()]
    truth = [predicted[0], predicted[1], "falsch", predicted[3]]
    lines = ["word,truth"] + [f"{w},{t}" for w, t in zip(words, truth)]
    (tmp_path / "q.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = tfckpt("predict", model, "--input", tmp_path / "q.csv", "--labels", "truth",
                 "--outputs", "classes=label:0", "score=score:0")
    assert run.code == 0, run.err
    wanted = sum(p == t for p, t in zip(predicted, truth)) / len(truth)
    assert f"accuracy against 'truth': {wanted:.6g}" in run.err
