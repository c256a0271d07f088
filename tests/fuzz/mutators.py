"""Mutators: each breaks a copied seed in one way and says what it did.

A mutator is `fn(case_dir, rng) -> str`: it edits files under `case_dir`
(a private copy) using only `rng` for its choices, so a case id always makes
the same mutation. `KINDS` maps each kind to the file role it needs and the
commands worth running on the result.
"""

from __future__ import annotations

import os
import random
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from inspectors.sources.paths import TABLE_MAGIC, is_table

from fuzz import tables

HUGE = (1 << 40, 1 << 31, (1 << 62) + 3, (1 << 63) - 1)
READERS = ("ls", "show", "show", "diff", "dir", "graph")


# --- file roles ----------------------------------------------------------------

def role_files(case: Path, role: str) -> list[Path]:
    """Files under `case` that play `role`, sorted."""
    every = sorted(p for p in case.rglob("*") if p.is_file() and not p.is_symlink())
    v1 = [p for p in every if p.suffix not in (".index", ".meta", ".pb", ".pbtxt", ".h5")
          and ".data-" not in p.name and p.name != "checkpoint" and is_table(p)]
    if role == "index":
        return [p for p in every if p.suffix == ".index"] + v1
    if role == "v2index":
        return [p for p in every if p.suffix == ".index"]
    if role == "v1":
        return v1
    if role == "data":
        return [p for p in every if ".data-" in p.name] + v1
    if role == "graph":
        return [p for p in every if p.suffix in (".meta", ".pb", ".pbtxt")]
    if role == "pbtxt":
        return [p for p in every if p.suffix == ".pbtxt"]
    if role == "h5":
        return [p for p in every if p.suffix == ".h5"]
    if role == "events":
        return [p for p in every if p.name.startswith("events.out.tfevents")]
    if role == "checkpoint":
        return [p for p in every if p.suffix in (".index", ".meta") or ".data-" in p.name] + v1
    if role == "state":
        return [case]  # the state file is written whether or not one exists
    raise ValueError(role)


def entry_files(case: Path) -> list[Path]:
    return role_files(case, "index")


# --- byte-level damage -----------------------------------------------------------

def _position(rng: random.Random, size: int) -> int:
    """Anywhere, or near either end, where headers, footers and indexes live."""
    where = rng.random()
    if where < 0.4:
        return rng.randrange(size)
    if where < 0.7:
        return rng.randrange(min(size, 2048))
    return size - 1 - rng.randrange(min(size, 2048))


def bitflip(path: Path, rng: random.Random) -> str:
    data = bytearray(path.read_bytes())
    if not data:
        return f"{path.name} is empty"
    flips = [(_position(rng, len(data)), rng.randrange(8)) for _ in range(rng.randint(1, 8))]
    for offset, bit in flips:
        data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))
    return f"{path.name}: flip " + ",".join(f"{o}.{b}" for o, b in flips)


def truncate(path: Path, rng: random.Random) -> str:
    size = path.stat().st_size
    choice = rng.random()
    if choice < 0.15:
        new = 0
    elif choice < 0.4:
        new = max(0, size - rng.randint(1, 64))
    elif choice < 0.5:
        new = size // 2
    else:
        new = rng.randrange(max(1, size))
    with open(path, "r+b") as handle:
        handle.truncate(new)
    return f"{path.name}: truncate {size} -> {new}"


def zero_range(path: Path, rng: random.Random) -> str:
    data = bytearray(path.read_bytes())
    if not data:
        return f"{path.name} is empty"
    start = _position(rng, len(data))
    length = min(len(data) - start, rng.choice((1, 4, 16, 64, 512, 4096)))
    data[start:start + length] = bytes(length)
    path.write_bytes(bytes(data))
    return f"{path.name}: zero [{start}, {start + length})"


def _on(role: str, damage: Callable[[Path, random.Random], str]) -> Callable:
    def mutate(case: Path, rng: random.Random) -> str:
        return damage(rng.choice(role_files(case, role)), rng)

    return mutate


# --- checkpoint structure --------------------------------------------------------

def missing_file(case: Path, rng: random.Random) -> str:
    victim = rng.choice(role_files(case, "checkpoint"))
    victim.unlink()
    return f"delete {victim.relative_to(case)}"


def swapped_file(case: Path, rng: random.Random) -> str:
    """Two files of the same role exchanged (steps, shards), or one replaced by a
    shifted copy of itself (a file from another save of the same model)."""
    role = rng.choice(("data", "index"))
    files = role_files(case, role) or role_files(case, "checkpoint")
    if len(files) >= 2:
        a, b = rng.sample(files, 2)
        data_a, data_b = a.read_bytes(), b.read_bytes()
        a.write_bytes(data_b)
        b.write_bytes(data_a)
        return f"swap {a.name} <-> {b.name}"
    victim = files[0]
    data = victim.read_bytes()
    shift = rng.randint(1, 64)
    victim.write_bytes(bytes(rng.getrandbits(8) for _ in range(shift)) + data[:-shift])
    return f"{victim.name}: shifted by {shift} bytes"


STATE_TEXTS = (
    'model_checkpoint_path: "/nonexistent/elsewhere/model.ckpt-99"\n',
    'model_checkpoint_path: "model.ckpt-123456"\nall_model_checkpoint_paths: "model.ckpt-123456"\n',
    'model_checkpoint_path: "."\n', 'model_checkpoint_path: ".."\n', 'model_checkpoint_path: ""\n',
    'model_checkpoint_path: "checkpoint"\n', 'model_checkpoint_path: "unterminated\n',
    'model_checkpoint_path: "../../../../../../etc/passwd"\n',
    'model_checkpoint_path: "\\"\\\\\\"\n', "model_checkpoint_path\n", "",
    'model_checkpoint_path: "' + "x/" * 3000 + 'model.ckpt"\n',
)


def state_dangling(case: Path, rng: random.Random) -> str:
    state = case / "checkpoint"
    if state.exists() or state.is_symlink():
        state.unlink()
    choice = rng.randrange(len(STATE_TEXTS) + 5)
    if choice < len(STATE_TEXTS):
        state.write_text(STATE_TEXTS[choice])
        return f"state file: {STATE_TEXTS[choice][:60]!r}"
    others = sorted(p.name for p in case.iterdir() if p.name != "checkpoint")
    extra = choice - len(STATE_TEXTS)
    if extra == 0 and others:
        target = rng.choice(others)
        state.write_text(f'model_checkpoint_path: "{target}"\n')
        return f"state file names the file {target}"
    if extra == 1:
        state.mkdir()
        return "state file is a directory"
    if extra == 2:
        os.symlink("checkpoint", state)
        return "state file is a symlink to itself"
    if extra == 3:
        os.symlink("/nonexistent/checkpoint", state)
        return "state file is a dangling symlink"
    state.write_bytes(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))))
    return "state file of random bytes"


# --- index entries that lie ------------------------------------------------------

def _huge_dims(rng: random.Random, original: list[int]) -> list[int]:
    choice = rng.randrange(7)
    if choice == 0:
        return [rng.choice(HUGE)]
    if choice == 1:
        return [1 << 31, 1 << 31]
    if choice == 2:
        return [d * 1000 + 7 for d in original] or [10 ** 9]
    if choice == 3:
        return [-rng.randint(2, 9)] + original
    if choice == 4:
        return [2] * 64
    if choice == 5:
        return original + [0]
    return [(1 << 63) - 1, 0] if rng.random() < 0.5 else [0] + [1 << 40]


def _set_shape(shape_proto, dims: list[int]) -> None:
    del shape_proto.dim[:]
    for dim in dims:
        shape_proto.dim.add().size = dim


def huge_shape(case: Path, rng: random.Random) -> str:
    path = rng.choice(entry_files(case))

    def edit(proto, rng):
        dims = _huge_dims(rng, [d.size for d in proto.shape.dim])
        _set_shape(proto.shape, dims)
        return f"shape -> {dims[:4]}{'...' if len(dims) > 4 else ''}"

    return _edit_entry(path, rng, edit)


def _edit_entry(path: Path, rng: random.Random, edit) -> str:
    if path.suffix == ".index":
        return f"{path.name}: " + tables.edit_v2_entry(path, rng, edit)
    return f"{path.name}: " + tables.edit_v1_meta(path, rng, edit)


DTYPE_CODES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
               22, 23, 24, 25, 101, 107, 99, 1000)


def wrong_dtype(case: Path, rng: random.Random) -> str:
    path = rng.choice(entry_files(case))

    def edit(proto, rng):
        # BundleEntryProto calls it dtype, V1's SavedSliceMeta calls it type.
        field = "dtype" if "dtype" in proto.DESCRIPTOR.fields_by_name else "type"
        old = getattr(proto, field)
        setattr(proto, field, rng.choice([c for c in DTYPE_CODES if c != old]))
        return f"dtype {old} -> {getattr(proto, field)}"

    return _edit_entry(path, rng, edit)


def bad_entry(case: Path, rng: random.Random) -> str:
    """Offsets, sizes, shard ids, checksums and slices that point nowhere."""
    path = rng.choice(entry_files(case))
    if path.suffix != ".index":
        return f"{path.name}: " + tables.edit_v1_meta(path, rng, _bad_v1_slice)
    if rng.random() < 0.2:
        return f"{path.name}: " + tables.edit_v2_header(path, rng)

    def edit(proto, rng):
        field = rng.choice(("offset", "size", "shard_id", "crc32c", "slices"))
        if field == "slices":
            extent = proto.slices.add().extent.add()
            extent.start, extent.length = rng.choice(((1 << 40, 5), (3, 1 << 40), (0, 0)))
            return "bogus slice"
        value = {"offset": rng.choice((1 << 40, (1 << 63) - 1, 7)),
                 "size": rng.choice((1 << 40, 0, 3, (1 << 63) - 1)),
                 "shard_id": rng.choice((1, 5, (1 << 31) - 1)),
                 "crc32c": rng.getrandbits(32)}[field]
        setattr(proto, field, value)
        return f"{field} -> {value}"

    return f"{path.name}: " + tables.edit_v2_entry(path, rng, edit)


def _bad_v1_slice(meta, rng) -> str:
    choice = rng.randrange(3)
    if choice == 0 or not meta.slice:
        extent = meta.slice.add().extent.add()
        extent.start, extent.length = 1 << 40, 5
        return "slice starting past the shape"
    if choice == 1:
        for extent in meta.slice[0].extent:
            extent.length = 1 << 40
        return "slice longer than the shape"
    meta.name = ""
    return "empty name"


# --- graph files -----------------------------------------------------------------

def _varint(value: int) -> bytes:
    return tables._varint(value)


def _nesting_bomb(depth: int) -> bytes:
    """A GraphDef whose node attr nests function attributes `depth` levels deep."""
    inner = b""
    for _ in range(depth):
        attr_value = b"\x52" + _varint(len(b"\x0a\x01f" + inner)) + b"\x0a\x01f" + inner  # func
        entry = b"\x0a\x01a\x12" + _varint(len(attr_value)) + attr_value
        inner = b"\x12" + _varint(len(entry)) + entry  # NameAttrList.attr
    value = b"\x52" + _varint(len(b"\x0a\x01f" + inner)) + b"\x0a\x01f" + inner
    entry = b"\x0a\x01a\x12" + _varint(len(value)) + value
    node = b"\x0a\x01n\x12\x05Const\x2a" + _varint(len(entry)) + entry
    return b"\x0a" + _varint(len(node)) + node


def _garbage_bytes(rng: random.Random, path: Path) -> tuple[bytes, str]:
    choice = rng.randrange(10)
    if choice == 0:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))), "random bytes"
    if choice == 1:
        return b"", "empty"
    if choice == 2:
        text = "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 2000)))
        return text.encode(), "random text"
    if choice == 3:
        return b'node {\n  name: "x"\n  op: ', "cut-off text graph"
    if choice == 4:
        return b"\x89HDF\r\n\x1a\n" + bytes(200), "HDF5 signature"
    if choice == 5:
        return bytes(60) + TABLE_MAGIC, "table footer"
    if choice == 6:
        return _nesting_bomb(rng.choice((50, 200, 3000))), "deeply nested attrs"
    if choice == 7:
        return b"\x0a" + _varint(1 << 60) + b"\x00" * 8, "field claiming 2**60 bytes"
    if choice == 8:
        return b'{"class_name": "Sequential", "config": []}', "JSON"
    fields = b"".join(bytes([(rng.randint(1, 15) << 3) | 2]) + b"\x03abc" for _ in range(20))
    return fields, "well-formed protobuf of unknown fields"


def graph_garbage(case: Path, rng: random.Random) -> str:
    path = rng.choice(role_files(case, "graph"))
    if rng.random() < 0.3:
        return huge_const(path, rng)
    data, what = _garbage_bytes(rng, path)
    path.write_bytes(data)
    return f"{path.name}: {what}"


def huge_const(path: Path, rng: random.Random) -> str:
    """A string Const (a Saver's tensor_names, a vocabulary) that declares 2**40 elements."""
    from google.protobuf import text_format

    from inspectors.graphs import io as graph_io

    try:
        loaded = graph_io.load(str(path))
    except Exception:  # already unreadable: nothing to inflate
        return f"{path.name}: unparsable, left as is"
    graphs = [unit.graph_def for unit in loaded.units]
    consts = [node for graph in graphs for node in graph.node
              if node.op == "Const" and node.attr["value"].tensor.string_val]
    if not consts:
        return f"{path.name}: no string Const"
    node = rng.choice(consts)
    _set_shape(node.attr["value"].tensor.tensor_shape, [rng.choice(HUGE)])
    message = _top_message(loaded)
    if loaded.encoding == graph_io.TEXT:
        path.write_text(text_format.MessageToString(message))
    else:
        path.write_bytes(message.SerializeToString())
    return f"{path.name}: Const {node.name} declares a huge shape"


def _top_message(loaded):
    from inspectors.graphs.io import META_GRAPH, SAVED_MODEL

    unit = loaded.units[0]
    if loaded.format == SAVED_MODEL:
        from tensorflow.core.protobuf import saved_model_pb2

        saved = saved_model_pb2.SavedModel(saved_model_schema_version=1)
        for each in loaded.units:
            saved.meta_graphs.add().CopyFrom(each.meta)
        return saved
    return unit.meta if loaded.format == META_GRAPH else unit.graph_def


_NUMBER_RE = re.compile(rb"\b\d+\b")


def pbtxt_edit(case: Path, rng: random.Random) -> str:
    path = rng.choice(role_files(case, "pbtxt"))
    lines = path.read_bytes().split(b"\n")
    at = rng.randrange(len(lines))
    choice = rng.randrange(6)
    if choice == 0:
        del lines[at]
        what = f"delete line {at}"
    elif choice == 1:
        lines = lines[:at]
        what = f"cut at line {at}"
    elif choice == 2:
        lines.insert(at, b"garbage {")
        what = f"unbalanced brace at line {at}"
    elif choice == 3:
        lines[at] = _NUMBER_RE.sub(b"99999999999999999999999", lines[at])
        what = f"huge numbers on line {at}"
    elif choice == 4:
        lines.insert(at, b"\xff\xfe not utf-8")
        what = f"invalid UTF-8 at line {at}"
    else:
        lines[at] = lines[at].replace(b'"', b"", 1)
        what = f"unbalanced quote at line {at}"
    path.write_bytes(b"\n".join(lines))
    return f"{path.name}: {what}"


# --- HDF5 files that are not Keras ------------------------------------------------

def h5_not_keras(case: Path, rng: random.Random) -> str:
    import h5py
    import numpy as np

    path = rng.choice(role_files(case, "h5"))
    path.unlink()
    choice = rng.randrange(12)
    with h5py.File(path, "w") as f:
        if choice == 0:
            what = "empty HDF5"
        elif choice == 1:
            f["data"] = np.arange(10.0)
            what = "datasets, no Keras attributes"
        elif choice == 2:
            f.attrs["layer_names"] = [b"dense_1", b"missing"]
            f.create_group("dense_1").attrs["weight_names"] = [b"dense_1/kernel:0"]
            what = "layer_names naming missing groups and weights"
        elif choice == 3:
            f.attrs["layer_names"] = [b"dense"]
            group = f.create_group("dense")
            group.attrs["weight_names"] = [b"sub"]
            group.create_group("sub")
            what = "weight_names naming a group"
        elif choice == 4:
            f.attrs["layer_names"] = np.arange(3)
            what = "layer_names of integers"
        elif choice == 5:
            f.attrs["layer_names"] = [b"big"]
            group = f.create_group("big")
            group.attrs["weight_names"] = [b"big/w:0"]
            group.create_dataset("big/w:0", shape=(1 << 40,), dtype="f4", chunks=(1024,))
            what = "a 2**40-element dataset never written"
        elif choice == 6:
            f["model_weights"] = np.zeros(3)
            what = "model_weights is a dataset"
        elif choice == 7:
            f.attrs["layer_names"] = [b"c"]
            group = f.create_group("c")
            group.attrs["weight_names"] = [b"w"]
            group["w"] = np.zeros(2, dtype=[("a", "f4"), ("b", "i8")])
            what = "compound dtype weight"
        elif choice == 8:
            f.attrs["layer_names"] = [b"l"]
            group = f.create_group("l")
            group.attrs["weight_names"] = [b"ext", b"soft"]
            group["ext"] = h5py.ExternalLink("/nonexistent.h5", "/x")
            group["soft"] = h5py.SoftLink("/nowhere")
            what = "dangling external and soft links"
        elif choice == 9:
            f.attrs["layer_names"] = [b"s"]
            group = f.create_group("s")
            group.attrs["weight_names"] = [b"w"]
            group.create_dataset("w", data=[b"a", b"bc"], dtype=h5py.string_dtype())
            what = "string weight"
        elif choice == 10:
            f.create_dataset("optimizer_weights", data=np.zeros(2))
            f.attrs["layer_names"] = []
            what = "optimizer_weights is a dataset"
        else:
            f.attrs["layer_names"] = "not a list"
            what = "layer_names is a string"
    return f"{path.name}: {what}"


# --- the table of kinds -------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    name: str
    role: str  # a file role the seed must have
    mutate: Callable[[Path, random.Random], str]
    commands: tuple[str, ...]  # commands to draw from (those the seed offers)


CHECKPOINT_COMMANDS = ("ls", "show", "show", "diff", "dir")
GRAPH_COMMANDS = ("graph", "graph", "graph", "dir", "ls")

KINDS: tuple[Kind, ...] = (
    Kind("bitflip-index", "index", _on("index", bitflip), CHECKPOINT_COMMANDS),
    Kind("bitflip-data", "data", _on("data", bitflip), CHECKPOINT_COMMANDS),
    Kind("bitflip-graph", "graph", _on("graph", bitflip), GRAPH_COMMANDS),
    Kind("bitflip-h5", "h5", _on("h5", bitflip), CHECKPOINT_COMMANDS),
    Kind("truncate-index", "index", _on("index", truncate), CHECKPOINT_COMMANDS),
    Kind("truncate-data", "data", _on("data", truncate), CHECKPOINT_COMMANDS),
    Kind("truncate-graph", "graph", _on("graph", truncate), GRAPH_COMMANDS),
    Kind("truncate-h5", "h5", _on("h5", truncate), CHECKPOINT_COMMANDS),
    Kind("zero-index", "index", _on("index", zero_range), CHECKPOINT_COMMANDS),
    Kind("zero-data", "data", _on("data", zero_range), CHECKPOINT_COMMANDS),
    Kind("zero-graph", "graph", _on("graph", zero_range), GRAPH_COMMANDS),
    Kind("zero-h5", "h5", _on("h5", zero_range), CHECKPOINT_COMMANDS),
    Kind("missing-shard", "checkpoint", missing_file, CHECKPOINT_COMMANDS + ("graph",)),
    Kind("swapped-shard", "checkpoint", swapped_file, CHECKPOINT_COMMANDS),
    Kind("state-dangling", "state", state_dangling, ("ls", "show", "diff", "dir", "dir", "graph")),
    Kind("huge-shape", "index", huge_shape, ("ls", "show", "show", "show", "diff", "dir")),
    Kind("wrong-dtype", "index", wrong_dtype, ("ls", "show", "show", "show", "diff", "dir")),
    Kind("bad-entry", "index", bad_entry, ("ls", "show", "show", "show", "diff", "dir")),
    Kind("graph-garbage", "graph", graph_garbage, GRAPH_COMMANDS),
    Kind("pbtxt-edit", "pbtxt", pbtxt_edit, ("graph", "dir")),
    Kind("h5-not-keras", "h5", h5_not_keras, ("ls", "show", "show", "diff")),
    Kind("events-damage", "events", _on("events", lambda p, r: (bitflip if r.random() < 0.5
                                                                else truncate)(p, r)), ("dir",)),
)
KIND_BY_NAME = {kind.name: kind for kind in KINDS}
