"""The `tfckpt dir` command: argument parsing, the library call, rendering."""

from __future__ import annotations

import argparse
import sys

from inspectors.errors import EXIT_OK

CSV_COLUMNS = ("step", "prefix", "format", "files", "size", "time", "in_state_file", "latest")
CHECKPOINT_COLUMNS = ("step", "prefix", "format", "files", "size", "time", "state")
COLUMN_COLUMNS = ("name", "kind", "used_by", "details")
EVENTS_COLUMNS = ("path", "events", "steps", "first_step", "last_step", "tags", "problem")
EVENTS_HEADERS = ("path", "events", "steps", "first step", "last step", "scalar tags", "problem")
SHOWN_WORDS = 5  # vocabulary words shown in the table; JSON has them all


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    command = subparsers.add_parser(
        "dir", parents=[parent], help="survey a model dir: checkpoints, events, exports, Estimator",
        description="Survey an Estimator or Saver model dir: every retained checkpoint (step, "
                    "files, size, time), the latest, problems of the `checkpoint` state file, "
                    "graph files, events files (train and eval*/), exported SavedModels with "
                    "their signatures, and which Estimator wrote it (family, generation, head, "
                    "hidden units, optimizers, feature columns). Graphs are parsed, never run. "
                    "--format csv lists the checkpoints only.")
    command.add_argument("model_dir", metavar="MODEL_DIR", help="the model_dir to survey")
    command.set_defaults(handler=run_dir)


def run_dir(args: argparse.Namespace) -> int:
    from inspectors import modeldir, render

    survey = modeldir.inspect_dir(args.model_dir)
    if args.quiet:
        return EXIT_OK
    if args.format == "json":
        sys.stdout.write(render.to_json(survey.to_dict()))
    elif args.format == "csv":
        rows = [dict(c.to_dict(), files=len(c.files), in_state_file=_flag(c.in_state_file),
                     latest=_flag(c.latest)) for c in survey.checkpoints]
        sys.stdout.write(render.to_csv(rows, CSV_COLUMNS))
    else:
        sys.stdout.write("\n".join(section for section in _sections(survey) if section))
    return EXIT_OK


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _sections(survey) -> list[str]:
    return [_header(survey), _estimator(survey.estimator), _columns(survey.estimator),
            _checkpoints(survey), _problems(survey), _graphs(survey), _events(survey),
            _eval_dirs(survey), _exports(survey)]


def _title(text: str) -> str:
    return f"{text}\n{'=' * len(text)}\n"


def _header(survey) -> str:
    latest = next((c for c in survey.checkpoints if c.latest), None)
    step = "" if latest is None or latest.step is None else f" (step {latest.step})"
    lines = [f"Model dir: {survey.path}",
             f"Latest checkpoint: {survey.latest or 'none'}{step}",
             f"Checkpoints: {len(survey.checkpoints)}, events files: {len(survey.events)}, "
             f"eval dirs: {len(survey.eval_dirs)}, exports: {len(survey.exports)}, "
             f"problems: {len(survey.problems)}"]
    return "\n".join(lines) + "\n"


def _estimator(estimator) -> str:
    if estimator is None:
        return ""
    rows = [("class", estimator.class_name or _undecided(estimator)),
            ("family", estimator.family), ("generation", estimator.generation),
            ("task", _task(estimator)),
            ("hidden units", _list(estimator.hidden_units)),
            ("input width", estimator.input_dimension),
            ("batch norm", "yes" if estimator.batch_norm else None),
            ("dropout", _dropout(estimator)),
            ("centered bias", "yes" if estimator.centered_bias else None),
            ("optimizers", ", ".join(f"{o.name} ({o.part or 'all'})"
                                     for o in estimator.optimizers) or None)]
    rows += [("evidence", line) for line in estimator.evidence]
    rows += [("note", line) for line in estimator.notes]
    width = max(len(key) for key, _ in rows)
    body = "".join(f"{key:<{width}}  {value}\n" for key, value in rows if value not in (None, ""))
    return _title("Estimator") + body


def _undecided(estimator) -> str:
    if estimator.family == "custom":
        return "custom (not a canned Estimator)"
    return f"{estimator.family}Classifier or {estimator.family}Regressor"


def _task(estimator) -> str | None:
    if estimator.task is None:
        return None
    how = "from its loss" if estimator.family == "custom" else f"{estimator.head} head"
    if estimator.task == "classifier":
        classes = f", {estimator.n_classes} classes" if estimator.n_classes else ""
        return f"classifier ({how}){classes}"
    dimension = estimator.label_dimension
    dimension = f", label dimension {dimension}" if dimension else ""
    return f"regressor ({how}){dimension}"


def _dropout(estimator) -> str | None:
    if not estimator.dropout:
        return None
    return f"rate {estimator.dropout_rate}" if estimator.dropout_rate else "yes"


def _list(values) -> str | None:
    return None if values is None else "[" + ", ".join(str(v) for v in values) + "]"


def _columns(estimator) -> str:
    from inspectors.render import to_table

    if estimator is None or not estimator.feature_columns:
        return ""
    rows = [{"name": c.name, "kind": c.kind, "used_by": " ".join(c.used_by),
             "details": _column_details(c)} for c in estimator.feature_columns]
    return _title("Feature columns") + to_table(rows, COLUMN_COLUMNS,
                                                headers=("name", "kind", "used by", "details"))


def _column_details(column) -> str:
    parts = []
    if column.shape:
        parts.append(f"shape {_list(column.shape)}")
    if column.source:
        parts.append(f"of {column.source}")
    if column.vocabulary_size is not None:
        parts.append(f"vocabulary {column.vocabulary_size}" + _words(column.vocabulary))
    if column.vocabulary_file:
        parts.append(f"vocabulary file {column.vocabulary_file}")
    if column.hash_buckets:
        parts.append(f"hash buckets {column.hash_buckets}")
    if column.crossed:
        parts.append("cross of " + " x ".join(column.crossed))
    if column.boundaries:
        parts.append(f"boundaries {_list(column.boundaries)}")
    if column.embedding_dimension:
        parts.append(f"embedding dim {column.embedding_dimension}")
    if column.buckets:
        parts.append(f"{column.buckets} buckets")
    return "; ".join(parts)


def _words(vocabulary) -> str:
    if not vocabulary:
        return ""
    shown = ", ".join(vocabulary[:SHOWN_WORDS])
    return f" ({shown}{', ...' if len(vocabulary) > SHOWN_WORDS else ''})"


def _checkpoints(survey) -> str:
    from inspectors.render import human_bytes, to_table

    if not survey.checkpoints:
        return _title("Checkpoints") + "none\n"
    rows = [{"step": _step(c.step), "prefix": c.prefix, "format": c.format, "files": len(c.files),
             "size": human_bytes(c.size), "time": c.time, "state": _state(c)}
            for c in survey.checkpoints]
    return _title("Checkpoints") + to_table(rows, CHECKPOINT_COLUMNS)


def _state(checkpoint) -> str:
    marks = ["latest"] if checkpoint.latest else []
    marks += [] if checkpoint.in_state_file else ["not in state file"]
    return ", ".join(marks)


def _problems(survey) -> str:
    if not survey.problems:
        state = "OK" if survey.state_file.present else "absent"
        return _title("Problems") + f"none (state file {state})\n"
    lines = [f"- [{p.kind}] {p.message}" for p in survey.problems]
    return _title("Problems") + "\n".join(lines) + "\n"


def _graphs(survey) -> str:
    from inspectors.render import human_bytes, to_table

    if not survey.graphs:
        return ""
    rows = [{"path": g.path, "kind": g.kind, "size": human_bytes(g.size)} for g in survey.graphs]
    text = _title("Graph files") + to_table(rows, ("path", "kind", "size"))
    read = survey.graph_read
    if read:
        version = f", TensorFlow {read.tensorflow_version}" if read.tensorflow_version else ""
        producer = f", producer {read.producer}" if read.producer is not None else ""
        text += f"read for recognition: {read.path} ({read.nodes} nodes{producer}{version})\n"
    return text


def _events(survey) -> str:
    if not survey.events:
        return ""
    return _title("Events") + _events_table(survey.events)


def _events_table(events) -> str:
    """One row per file; the scalar tags (union) below, as they are too long for a cell."""
    from inspectors.render import to_table

    rows = [dict(e.to_dict(), tags=len(e.scalar_tags), first_step=_step(e.first_step),
                 last_step=_step(e.last_step)) for e in events]
    text = to_table(rows, EVENTS_COLUMNS, headers=EVENTS_HEADERS)
    tags = sorted({tag for e in events for tag in e.scalar_tags})
    return text + (f"scalar tags: {', '.join(tags)}\n" if tags else "")


def _step(step: int | None) -> str | None:
    return None if step is None else str(step)


def _eval_dirs(survey) -> str:
    if not survey.eval_dirs:
        return ""
    parts = [_title("Eval dirs")]
    for eval_dir in survey.eval_dirs:
        step = "" if eval_dir.last_step is None else f", last step {eval_dir.last_step}"
        parts.append(f"{eval_dir.path}/: {len(eval_dir.events)} events files{step}\n")
        parts += [f"  {tag} = {value:.6g}\n" for tag, value in eval_dir.metrics]
        parts.append(_events_table(eval_dir.events))
    return "".join(parts)


def _exports(survey) -> str:
    from inspectors.render import to_table

    if not survey.exports:
        return ""
    rows = []
    for export in survey.exports:
        tags = "; ".join(",".join(t) for t in export.tags)
        rows += [{"path": export.path, "tags": tags, "signature": s.key, "method": s.method,
                  "inputs": _specs(s.inputs), "outputs": _specs(s.outputs)}
                 for s in export.signatures]
        if export.problem or not export.signatures:
            rows.append({"path": export.path, "tags": tags, "signature": export.problem or "none"})
    columns = ("path", "tags", "signature", "method", "inputs", "outputs")
    return _title("Exported SavedModels") + to_table(rows, columns)


def _specs(specs) -> str:
    def shape(spec) -> str:
        if spec.shape is None:
            return "?"
        return "[" + ", ".join("?" if d is None else str(d) for d in spec.shape) + "]"

    return " ".join(f"{s.name}:{s.dtype}{shape(s)}" for s in specs)
