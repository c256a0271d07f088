"""Turn whatever the user typed into one resolved `Source`, or one clear error.

Accepted forms: a V2 prefix or any of its `.index` / `.data-*` / `.meta` files; a
V1 single file; a V1 sharded set (pattern `-?????-of-NNNNN`, its bare prefix or
one concrete shard); a directory with a `checkpoint` state file (entries with
absolute paths from another machine fall back to the file beside it); a
directory without one (newest step); `MODEL_DIR@STEP`; a SavedModel directory;
a Keras `.h5`. Only the file system is consulted: no TensorFlow import, so a
wrong path answers at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import os
import re
from dataclasses import dataclass

from inspectors.errors import CorruptCheckpoint, SourceNotFound, UnsupportedSource

# LevelDB-style table footer magic (0xdb4775248b80fb57, little-endian): both the
# V1 checkpoint file and the V2 `.index` end with it.
TABLE_MAGIC = bytes.fromhex("57fb808b247547db")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
STATE_FILE = "checkpoint"
V2_DATA_RE = re.compile(r"^(?P<prefix>.+)\.data-\d{5}-of-\d{5}$")
V1_SHARD_RE = re.compile(r"^(?P<prefix>.+)-(?:\d{5}|\?{5})-of-(?P<count>\d{5})$")
STEP_RE = re.compile(r"-(\d+)$")
AT_STEP_RE = re.compile(r"^(?P<dir>.+)@(?P<step>\d+)$")
HINT = ("Pass a checkpoint prefix (model.ckpt-N), its .index/.data/.meta file, a V1 file, "
        "a model dir, DIR@STEP, a SavedModel dir or a Keras .h5")


@dataclass(frozen=True)
class Source:
    """A resolved artifact: what the user typed and what the reader opens."""

    given: str
    format: str  # "V1" | "V2" | "keras-h5"
    path: str  # V2 prefix, V1 file or V1 shard pattern, or the .h5 file
    step: int | None = None
    model_dir: str | None = None
    meta_graph: str | None = None
    saved_model: str | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Found:
    """One checkpoint found on disk, before it becomes a Source."""

    format: str
    path: str
    step: int | None


def resolve(given: str) -> Source:
    """Resolve a user-typed path; raise SourceNotFound / UnsupportedSource / CorruptCheckpoint."""
    path = os.path.expanduser(given)
    at = AT_STEP_RE.match(path)
    if at and not os.path.exists(path):
        return _resolve_dir(given, at["dir"], step=int(at["step"]))
    if os.path.isdir(path):
        return _resolve_dir(given, path, step=None)
    if os.path.isfile(path):
        return _resolve_file(given, path)
    found = find_checkpoint(path)
    if found:
        return _source(given, found)
    raise SourceNotFound(f"no such file or directory: {given}.{_suggest(path)} {HINT}")


def find_checkpoint(prefix: str) -> Found | None:
    """The checkpoint stored under `prefix` (V2 prefix, V1 file or V1 pattern), if any."""
    base = _strip_shard(prefix)
    if prefix.endswith(".index") and os.path.isfile(prefix):
        prefix = prefix[:-6]  # a state file (or a user) naming the .index of a V2 prefix
    if os.path.isfile(prefix + ".index"):
        return Found("V2", prefix, _step_of(prefix))
    if "?????" in prefix and glob.glob(glob.escape(base) + prefix[len(base):]):
        return Found("V1", prefix, _step_of(base))
    shards = sorted(glob.glob(glob.escape(prefix) + "-?????-of-?????"))
    if shards:
        return Found("V1", _pattern_of(shards[0]), _step_of(prefix))
    if os.path.isfile(prefix) and is_table(prefix):
        return Found("V1", prefix, _step_of(prefix))
    return None


def scan_dir(directory: str) -> list[Found]:
    """Every checkpoint directly inside `directory`, oldest step first."""
    found: dict[str, Found] = {}
    for name in sorted(os.listdir(directory)):
        full = os.path.join(directory, name)
        if name.endswith(".index"):
            found[full[:-6]] = Found("V2", full[:-6], _step_of(full[:-6]))
        elif (shard := V1_SHARD_RE.match(full)) and not V2_DATA_RE.match(full):
            pattern = _pattern_of(full)
            found[pattern] = Found("V1", pattern, _step_of(shard["prefix"]))
        elif _maybe_v1_file(full):
            found[full] = Found("V1", full, _step_of(full))
    return sorted(found.values(), key=lambda f: (f.step is None, f.step or 0, f.path))


def read_state_file(directory: str) -> tuple[str | None, list[str]]:
    """(latest, all) checkpoint paths named by `directory/checkpoint`, as written."""
    latest, every = None, []
    with open(os.path.join(directory, STATE_FILE), encoding="utf-8", errors="replace") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            value = _unquote(value.strip())
            if key.strip() == "model_checkpoint_path":
                latest = value
            elif key.strip() == "all_model_checkpoint_paths":
                every.append(value)
    return latest, every


def locate_state_entry(directory: str, entry: str) -> tuple[Found | None, str | None]:
    """Find a state-file entry on disk. Returns (found, note about a fallback)."""
    candidate = entry if os.path.isabs(entry) else os.path.join(directory, entry)
    found = find_checkpoint(candidate)
    if found or not os.path.isabs(entry):
        return found, None
    beside = find_checkpoint(os.path.join(directory, os.path.basename(entry)))
    if beside:
        note = (f"state file names {entry}, which is not on this machine; "
                f"using {os.path.basename(entry)} beside it")
        return beside, note
    return None, None


def _resolve_dir(given: str, directory: str, *, step: int | None) -> Source:
    if not os.path.isdir(directory):
        raise SourceNotFound(f"no such directory: {directory} (from {given}). {HINT}")
    saved_model = _saved_model_variables(directory)
    if saved_model:
        return saved_model
    found = scan_dir(directory)
    if step is not None:
        return _pick_step(given, directory, found, step)
    note = None
    if os.path.isfile(os.path.join(directory, STATE_FILE)):
        latest, _ = read_state_file(directory)
        chosen, note = locate_state_entry(directory, latest) if latest else (None, None)
        if chosen:
            return _source(given, chosen, model_dir=directory, notes=_notes(note))
        if found:
            note = f"state file names {latest!r}, which is not there; using the newest checkpoint"
    if found:
        return _source(given, found[-1], model_dir=directory, notes=_notes(note))
    raise SourceNotFound(f"no checkpoint in {given} (it holds: {_describe_dir(directory)}). {HINT}")


def _pick_step(given: str, directory: str, found: list[Found], step: int) -> Source:
    matches = [f for f in found if f.step == step]
    if matches:
        return _source(given, matches[-1], model_dir=directory)
    steps = ", ".join(str(f.step) for f in found if f.step is not None) or "none"
    raise SourceNotFound(f"no checkpoint for step {step} in {directory} (steps there: {steps}). "
                         f"Pass one of those steps as DIR@STEP")


def _saved_model_variables(directory: str) -> Source | None:
    names = ("saved_model.pb", "saved_model.pbtxt")
    if not any(os.path.isfile(os.path.join(directory, n)) for n in names):
        return None
    prefix = os.path.join(directory, "variables", "variables")
    if not os.path.isfile(prefix + ".index"):
        raise UnsupportedSource(f"SavedModel {directory} has no variables/variables.index "
                                f"(a constant-only model). Inspect its graph with `tfckpt graph`")
    return Source(given=directory, format="V2", path=prefix, saved_model=directory)


def _resolve_file(given: str, path: str) -> Source:
    if path.endswith(".index"):
        return _source(given, Found("V2", path[:-6], _step_of(path[:-6])))
    data = V2_DATA_RE.match(path)
    if data:
        if not os.path.isfile(data["prefix"] + ".index"):
            raise CorruptCheckpoint(f"{given} is a V2 data file but its index "
                                    f"{os.path.basename(data['prefix'])}.index is missing. "
                                    f"Restore the .index file beside it")
        return _source(given, Found("V2", data["prefix"], _step_of(data["prefix"])))
    if path.endswith(".meta"):
        return _resolve_meta(given, path)
    if _has_magic(path, HDF5_MAGIC):
        return Source(given=given, format="keras-h5", path=path)
    if V1_SHARD_RE.match(path) and is_table(path):
        return _source(given, Found("V1", _pattern_of(path), _step_of(_strip_shard(path))))
    if is_table(path):
        return _source(given, Found("V1", path, _step_of(path)))
    raise UnsupportedSource(f"{given} is not a checkpoint (found {sniff(path)}). {HINT}")


def _resolve_meta(given: str, path: str) -> Source:
    found = find_checkpoint(path[:-5])
    if not found:
        raise SourceNotFound(f"no checkpoint beside the graph {given} (looked for "
                             f"{os.path.basename(path[:-5])}.index and V1 files). "
                             f"Inspect the graph alone with `tfckpt graph {given}`")
    return _source(given, found)


def _source(given: str, found: Found, *, model_dir: str | None = None,
            notes: tuple[str, ...] = ()) -> Source:
    meta = _strip_shard(found.path) + ".meta"
    return Source(given=given, format=found.format, path=found.path, step=found.step,
                  model_dir=model_dir, meta_graph=meta if os.path.isfile(meta) else None,
                  notes=notes)


def sniff(path: str) -> str:
    """A few words on what a file that is not a checkpoint seems to be."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as error:
        return f"an unreadable file: {error.strerror}"
    if size == 0:
        return "an empty file"
    if _has_magic(path, HDF5_MAGIC):
        return "an HDF5 file"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive"
    if b"\x00" not in head and _is_text(head):
        return f"a text file of {size} bytes"
    return f"a binary file of {size} bytes that is not a TensorFlow checkpoint"


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _maybe_v1_file(path: str) -> bool:
    name = os.path.basename(path)
    skip = (".meta", ".pbtxt", ".pb", ".json", ".txt", ".h5", ".hdf5", ".npz", ".md")
    if name == STATE_FILE or name.endswith(skip) or name.startswith("events.out.tfevents"):
        return False
    return V2_DATA_RE.match(path) is None and os.path.isfile(path) and is_table(path)


def is_table(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() < 48:
                return False
            handle.seek(-8, os.SEEK_END)
            return handle.read(8) == TABLE_MAGIC
    except OSError:
        return False


def _has_magic(path: str, magic: bytes) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(magic)) == magic
    except OSError:
        return False


def _strip_shard(path: str) -> str:
    shard = V1_SHARD_RE.match(path)
    return shard["prefix"] if shard else path


def _pattern_of(shard_path: str) -> str:
    match = V1_SHARD_RE.match(shard_path)
    return f"{match['prefix']}-?????-of-{match['count']}"


def _step_of(prefix: str) -> int | None:
    match = STEP_RE.search(os.path.basename(prefix))
    return int(match.group(1)) if match else None


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value.replace('\\"', '"').replace("\\\\", "\\")


def _notes(note: str | None) -> tuple[str, ...]:
    return (note,) if note else ()


def _describe_dir(directory: str) -> str:
    names = sorted(os.listdir(directory))
    if not names:
        return "nothing"
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _suggest(path: str) -> str:
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        return ""
    close = difflib.get_close_matches(os.path.basename(path), os.listdir(parent), n=3)
    return f" Did you mean: {', '.join(close)}?" if close else ""
