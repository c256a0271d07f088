"""The seed artifacts the fuzz cases are derived from, and how they are copied.

Each seed is a handful of files of a committed fixture or of a real-world
case in ../shared/real-world, copied into a temp dir (never modified where
they are). A seed says which path each reading command is given.
"""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
REAL_WORLD = (REPO.parent / "shared" / "real-world").resolve()


@dataclass(frozen=True)
class Seed:
    name: str
    root: Path
    files: tuple[str, ...]  # glob patterns relative to root
    checkpoint: str | None = None  # what ls / show / diff get, relative to the copy
    model_dir: str | None = None  # what dir gets
    graph: str | None = None  # what graph gets

    def commands(self) -> tuple[str, ...]:
        found = ("ls", "show", "diff") if self.checkpoint is not None else ()
        found += ("dir",) if self.model_dir is not None else ()
        return found + (("graph",) if self.graph is not None else ())


def _fx(name: str, sub: str, files: tuple[str, ...], **roles) -> Seed:
    return Seed(f"fx/{name}", FIXTURES / sub, files, **roles)


def _rw(name: str, sub: str, files: tuple[str, ...], **roles) -> Seed:
    return Seed(f"rw/{name}", REAL_WORLD / sub, files, **roles)


SEEDS: tuple[Seed, ...] = (
    _fx("saver-v1", "saver-v1", ("model.ckpt-50", "model.ckpt-50.meta", "checkpoint"),
        checkpoint=".", model_dir=".", graph="model.ckpt-50.meta"),
    _fx("saver-v2-sharded", "saver-v2-sharded", ("model.ckpt-7.*", "checkpoint"),
        checkpoint="model.ckpt-7", model_dir=".", graph="model.ckpt-7.meta"),
    _fx("partitioned", "partitioned", ("model.ckpt-0.*", "checkpoint"),
        checkpoint="model.ckpt-0", model_dir=".", graph="model.ckpt-0.meta"),
    _fx("tf2-object", "tf2-object-checkpoint", ("ckpt-*", "checkpoint"), checkpoint=".",
        model_dir="."),
    _fx("rnn-tf1.2", "rnn-tf1.0-names/tf1.2", ("*",), checkpoint=".", model_dir=".",
        graph="model.ckpt-30.meta"),
    _fx("dnn-v1", "dnn-classifier-v1/model_dir", ("*",), checkpoint=".", model_dir=".",
        graph="graph.pbtxt"),
    _fx("wide-deep", "wide-deep/model_dir", ("model.ckpt-40.*", "model.ckpt-20.index",
                                             "model.ckpt-20.data-*", "checkpoint"),
        checkpoint=".", model_dir=".", graph="model.ckpt-40.meta"),
    _fx("keras-model", "keras-h5", ("model.h5",), checkpoint="model.h5"),
    _fx("keras-weights", "keras-h5", ("weights.h5",), checkpoint="weights.h5"),
    _rw("half-plus-two-v1", "serving-half_plus_two-v1/00000123", ("*",), checkpoint="export",
        model_dir=".", graph="export.meta"),
    _rw("half-plus-two-v2", "serving-half_plus_two-v2-export/00000123", ("*",),
        checkpoint="export", model_dir=".", graph="export.meta"),
    _rw("saved-model", "serving-saved_model_half_plus_two_cpu/00000123", ("*", "*/*"),
        checkpoint=".", model_dir=".", graph="saved_model.pb"),
    _rw("nxt-v1", "nxt-tensorflow-v1", ("model.ckpt", "model.ckpt.meta", "video_weights.ckpt",
                                        "checkpoint"),
        checkpoint=".", model_dir=".", graph="model.ckpt.meta"),
    _rw("mnist", "mnist-fully-connected-feed-cpkt/fully_connected_feed",
        ("model.cpkt-*", "checkpoint"), checkpoint=".", model_dir=".",
        graph="model.cpkt-1999.meta"),
    _rw("iris-part0", "contrib-learn-iris-dnn-tf1.14-part0/iris_model",
        ("model.ckpt-*", "checkpoint", "graph.pbtxt"), checkpoint=".", model_dir=".",
        graph="model.ckpt-2000.meta"),
    _rw("linear-wide", "estimator-linear-wide-2017/model",
        ("model.ckpt-1000.*", "model.ckpt-4.index", "model.ckpt-4.data-*", "checkpoint"),
        checkpoint=".", model_dir=".", graph="model.ckpt-1000.meta"),
    _rw("contrib-v1-sharded", "contrib-learn-v1-sharded-tf0.11/model",
        ("model.ckpt-4*", "model.ckpt-3-*", "checkpoint"), checkpoint=".", model_dir=".",
        graph="model.ckpt-4.meta"),
    _rw("lstm-frozen", "tf2onnx-lstm-frozen/lstm", ("frozen.pb",), checkpoint="frozen.pb",
        graph="frozen.pb"),
    _rw("traffic-signs-v1", "traffic-signs-v1-2016-11", ("*",), checkpoint="model.ckpt",
        model_dir=".", graph="model.ckpt.meta"),
    _rw("keras1-full", "keras1-full-model-h5", ("model.h5",), checkpoint="model.h5"),
    _rw("keras1-weights", "keras1-weights-only-h5-json/successful_models", ("nvidia_33_17.h5",),
        checkpoint="nvidia_33_17.h5"),
)


def _latest_in_state(folder: Path) -> str | None:
    """The basename a `checkpoint` state file names as model_checkpoint_path."""
    state = folder / "checkpoint"
    if not state.is_file():
        return None
    for line in state.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model_checkpoint_path":
            return os.path.basename(value.strip().strip('"'))
    return None


def _discovered(case: str, path: Path) -> Seed | None:
    """A seed for a corpus case no seed above covers: its `ls` path with the latest
    checkpoint's files (and state file and .meta), so a new case is fuzzed on arrival."""
    latest = _latest_in_state(path) if path.is_dir() else None
    if path.is_dir() and (latest is None or not glob.glob(str(path / glob.escape(latest)) + "*")):
        # a state file naming checkpoints that are gone: the newest .meta's checkpoint instead
        metas = sorted(path.glob("*.meta"), key=lambda p: (len(p.name), p.name))
        path = metas[-1].with_suffix("") if metas else path
    if latest is not None and glob.glob(str(path / glob.escape(latest)) + "*"):
        graph = f"{latest}.meta" if (path / f"{latest}.meta").is_file() else None
        return Seed(f"rw/{case}", path, ("checkpoint", glob.escape(latest) + "*"), checkpoint=".",
                    model_dir=".", graph=graph)
    if glob.glob(str(path) + "*") and not path.is_dir():
        graph = f"{path.name}.meta" if path.with_name(path.name + ".meta").is_file() else None
        return Seed(f"rw/{case}", path.parent, (glob.escape(path.name) + "*",), checkpoint=path.name,
                    graph=graph)
    return None


def discovered_seeds() -> tuple[Seed, ...]:
    """Seeds for the corpus cases that the hand-picked seeds do not reach."""
    import real_world

    covered = {seed.root.relative_to(REAL_WORLD).parts[0] for seed in SEEDS
               if seed.root.is_relative_to(REAL_WORLD)}
    found = []
    for case, (path, *_) in real_world.sources("ls"):
        if case not in covered:
            seed = _discovered(case, path)
            if seed is not None:
                covered.add(case)
                found.append(seed)
    return tuple(found)


SEEDS = SEEDS + discovered_seeds()
BY_NAME = {seed.name: seed for seed in SEEDS}


def seed_files(seed: Seed) -> list[str]:
    """The relative paths a seed copies, sorted (cases must not depend on listing order)."""
    found = set()
    for pattern in seed.files:
        for path in glob.glob(str(seed.root / pattern)):
            if os.path.isfile(path):
                found.add(os.path.relpath(path, seed.root))
    return sorted(found)


def copy_seed(seed: Seed, target: Path) -> None:
    """Plain writable copies: the originals are read-only and must stay untouched."""
    for relative in seed_files(seed):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed.root / relative, destination)


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, copy_function=shutil.copyfile)
