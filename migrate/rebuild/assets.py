"""Files a graph reads by name (vocabularies): find them where they are now.

A training graph names its vocabulary files by the absolute path they had on
the author's machine (`/home/someone/data/vocab.txt`), as the filename
constant of an `InitializeTableFromTextFile` op, listed again in the meta
graph's `asset_filepaths` collection. That path rarely exists here. This module
finds each file by its base name, in order: where `--asset OLD=NEW` says, at
its own path, in each `--assets DIR`, beside the checkpoint, in the model dir,
and in the `assets/` folder of a SavedModel: the model dir's or its parent's
own, or an export's under them (`export*/*/assets/` and `export*/*/*/assets/`,
where Estimators wrote their SavedModels). The filename
constant is then rewritten to the found file, so the rebuilt graph initializes
its tables here; the `Asset` records let the SavedModel target copy the files
into `assets/` (self-contained), and the frozen target say which path its
graph needs. A file found nowhere is one error naming the file, the node that
reads it and the flags.

Reads protos only; never imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from dataclasses import dataclass
from typing import Any, Iterable

from inspectors.errors import SourceNotFound
from inspectors.graphs.io import node_name
from inspectors.render import text_of

# Ops that read a whole file named by a string input, and which input that is.
FILE_READERS = {"InitializeTableFromTextFile": 1, "InitializeTableFromTextFileV2": 1}
ASSET_COLLECTION = "asset_filepaths"  # tf.GraphKeys.ASSET_FILEPATHS
_PASS_THROUGH = ("Identity", "Snapshot")
# A SavedModel's own assets/ (beside variables/), and where Estimators put SavedModels:
# export/<timestamp>/ and export/<name>/<timestamp>/.
EXPORT_ASSETS = (("assets",), ("export*", "*", "assets"), ("export*", "*", "*", "assets"))
WHOLE_LINE = -2  # TextFileIndex.WHOLE_LINE: the key is the line itself
MAX_WORDS = 1000  # words kept per vocabulary for generated inputs
FLAGS_HINT = "--assets DIR (a folder holding it) or --asset OLD=NEW"


@dataclass(frozen=True)
class AssetSearch:
    """What the user said about assets: folders to look in, and exact replacements."""

    dirs: tuple[str, ...] = ()
    renames: tuple[tuple[str, str], ...] = ()  # (path in the graph or its base name, new path)

    def to_dict(self) -> dict:
        return {"dirs": list(self.dirs), "renames": [list(pair) for pair in self.renames]}


@dataclass(frozen=True)
class Asset:
    """One file the graph reads: the path it named, where it is now, and who reads it."""

    original: str  # the path in the graph
    found: str  # absolute path of the file used now
    node: str  # the string Const holding the path (rewritten to `found`)
    reader: str  # the op that reads the file
    how: str  # where it was found, for the note

    @property
    def filename(self) -> str:
        return os.path.basename(self.found)

    @property
    def note(self) -> str:
        if self.original == self.found:
            return f"asset {self.found} (read by {self.reader}) found at its own path"
        return (f"asset {self.original} (read by {self.reader}) is not there; "
                f"used {self.found} ({self.how})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class MissingAsset(SourceNotFound):
    """A file the graph reads is at none of the places searched (exit 2)."""


def locate(graph_def: Any, *, search: AssetSearch, near: Iterable[str],
           meta: Any = None) -> tuple[Asset, ...]:
    """Find every file `graph_def` reads and point its filename constant at it.

    `near` are the checkpoint's folder and the model dir; `meta` (a
    MetaGraphDef, optional) adds the constants of its `asset_filepaths`
    collection that the graph still holds. Rewrites `graph_def` in place.
    """
    nodes = {node.name: node for node in graph_def.node}
    places = search_places(search, near)
    found = []
    for const, reader in sorted(filename_constants(graph_def, meta).items()):
        original = path_of(nodes[const])
        path, how = find(original, search=search, places=places)
        if path is None:
            raise MissingAsset(missing_message(original, reader, places))
        set_path(nodes[const], path)
        found.append(Asset(original=original, found=path, node=const, reader=reader, how=how))
    return tuple(found)


def vocabulary_words(graph_def: Any, assets: Iterable[Asset]) -> dict[str, tuple[str, ...]]:
    """Reader node -> the first words its file gives as table keys (for generated
    inputs that reach real entries); readers keyed by line number give none."""
    nodes = {node.name: node for node in graph_def.node}
    found = {}
    for asset in assets:
        reader = nodes.get(asset.reader)
        if reader is None or reader.op not in FILE_READERS:
            continue
        key_index = reader.attr["key_index"].i if "key_index" in reader.attr else WHOLE_LINE
        if key_index != WHOLE_LINE and key_index < 0:
            continue
        delimiter = reader.attr["delimiter"].s or b"\t" if "delimiter" in reader.attr else b"\t"
        size = reader.attr["vocab_size"].i if "vocab_size" in reader.attr else -1
        found[asset.reader] = _words(asset.found, key_index=key_index, delimiter=delimiter,
                                     size=size)
    return found


def _words(path: str, *, key_index: int, delimiter: bytes, size: int) -> tuple[str, ...]:
    limit = MAX_WORDS if size < 0 else min(size, MAX_WORDS)
    words = []
    with open(path, "rb") as handle:
        for line in handle:
            if len(words) >= limit:
                break
            line = line.rstrip(b"\r\n")
            if key_index != WHOLE_LINE:
                fields = line.split(delimiter)
                if key_index >= len(fields):
                    continue
                line = fields[key_index]
            words.append(text_of(line))
    return tuple(words)


def filename_constants(graph_def: Any, meta: Any = None) -> dict[str, str]:
    """Const node holding a file name -> the node that reads it."""
    nodes = {node.name: node for node in graph_def.node}
    found: dict[str, str] = {}
    for node in graph_def.node:
        index = FILE_READERS.get(node.op)
        if index is None or len(node.input) <= index:
            continue
        const = _constant_behind(nodes, node_name(node.input[index]))
        if const is not None:
            found[const] = node.name
    if meta is not None and ASSET_COLLECTION in meta.collection_def:
        for name in meta.collection_def[ASSET_COLLECTION].node_list.value:
            const = _constant_behind(nodes, node_name(name))
            if const is not None:
                found.setdefault(const, const)
    return found


def _constant_behind(nodes: dict[str, Any], name: str) -> str | None:
    """The string Const `name` is, or that Identity ops pass on; None otherwise."""
    seen = set()
    while name in nodes and name not in seen:
        seen.add(name)
        node = nodes[name]
        if node.op == "Const":
            tensor = node.attr["value"].tensor
            return name if len(tensor.string_val) == 1 else None
        if node.op not in _PASS_THROUGH or not node.input:
            return None
        name = node_name(node.input[0])
    return None


def path_of(const: Any) -> str:
    """The file name a Const holds; bytes that are not UTF-8 survive as surrogates."""
    return os.fsdecode(const.attr["value"].tensor.string_val[0])


def set_path(const: Any, path: str) -> None:
    const.attr["value"].tensor.string_val[0] = os.fsencode(path)


def search_places(search: AssetSearch, near: Iterable[str]) -> list[tuple[str, str]]:
    """(folder, how it is described) in the order they are searched."""
    places = [(os.path.abspath(d), f"--assets {d}") for d in search.dirs]
    folders = [os.path.abspath(d) for d in near if d]
    for folder in folders:
        places.append((folder, f"in {folder}"))
    for folder in _unique([*folders, *(os.path.dirname(f) for f in folders)]):
        for pattern in EXPORT_ASSETS:
            for assets in sorted(glob.glob(os.path.join(glob.escape(folder), *pattern))):
                places.append((assets, f"in the assets folder {assets}"))
    return _unique_places(places)


def find(original: str, *, search: AssetSearch, places: list[tuple[str, str]]
         ) -> tuple[str | None, str]:
    """(where the file named `original` is now, how it was found), or (None, "")."""
    base = _base_name(original)
    for old, new in search.renames:
        if old in (original, base) and os.path.isfile(new):
            return os.path.abspath(new), f"--asset {old}={new}"
    if os.path.isfile(original):
        return os.path.abspath(original), "at its own path"
    for folder, how in places:
        candidate = os.path.join(folder, base)
        if os.path.isfile(candidate):
            return candidate, how
    return None, ""


def missing_message(original: str, reader: str, places: list[tuple[str, str]]) -> str:
    looked = ", ".join(folder for folder, _ in places[:4]) or "nowhere else"
    more = f" and {len(places) - 4} more" if len(places) > 4 else ""
    return (f"asset file {original!r} read by node {reader!r} is not there, nor in "
            f"{looked}{more}. Pass {FLAGS_HINT.replace('OLD', original)}")


def _base_name(path: str) -> str:
    # A graph written on Windows names C:\\data\\vocab.txt; its base name is vocab.txt here too.
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _unique_places(places: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    kept = []
    for folder, how in places:
        if folder not in seen:
            seen.add(folder)
            kept.append((folder, how))
    return kept
