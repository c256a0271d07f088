"""Built-in rename presets: named, documented steps for known TensorFlow renames.

Each preset is a list of name rules (usable on their own, e.g. by `tfckpt map`
to match names: `get(name).rename(variable_name)`) plus, for some, a structural
step that needs to see all variables (slot owners, partitions, folding).

Facts used (from TensorFlow sources, not copied): the 1.0 -> 1.2 RNN renames and
TF 0.x cell names of `tensorflow/contrib/rnn/python/tools/checkpoint_convert.py`;
contrib.learn canned names (`contrib/learn/.../estimators/dnn.py`, `linear.py`,
`head.py`) versus tf.estimator's (`python/estimator/canned/dnn.py`, `linear.py`);
slot naming of `python/training/slot_creator.py` (a partitioned variable's slot is
named after the last `len(optimizer scope) + len(slot)` characters of
`<part name>/<slot>`); Keras optimizer slot names (`m`, `v`, `accumulator`, `linear`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from inspectors.formats.checkpoint import BOOKKEEPING, OPTIMIZER
from inspectors.errors import MappingConflict
from migrate.names.rules import (DERIVED, DROPPED, FOLDED, MERGED, Context, Item, NamedStep, Rule, Transform, rename_item, rules_step)

TF1_SLOTS = ("Adagrad", "Adam", "Adam_1", "Ftrl", "Ftrl_1", "Momentum", "RMSProp", "RMSProp_1")
# TF1 slot suffix -> (Keras optimizer scope, Keras slot name)
KERAS_SLOTS = {"Adagrad": ("Adagrad", "accumulator"), "Adam": ("Adam", "m"),
               "Adam_1": ("Adam", "v"), "Ftrl": ("Ftrl", "accumulator"),
               "Ftrl_1": ("Ftrl", "linear"), "Momentum": ("SGD", "momentum"),
               "RMSProp": ("RMSprop", "rms"), "RMSProp_1": ("RMSprop", "momentum")}
ADAM_BETA1 = 0.9  # Keras and TF1 default; the checkpoint does not store it


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    rules: tuple[Rule, ...] = ()
    structural: Callable[[list[Item], Context], list[Item]] | None = None
    rules_in_structural: bool = False  # the structural step applies `rules` itself

    def rename(self, name: str) -> str | None:
        """This preset's name rules on one name (None = dropped); structural steps aside."""
        for rule in self.rules:
            if name is None:
                return None
            name = rule.apply(name)
        return name

    def step(self) -> NamedStep:
        label = f"preset {self.name}"

        def run(items: list[Item], ctx: Context) -> list[Item]:
            before = [(item.name, item.action) for item in items]
            if not self.rules_in_structural:
                items = rules_step(self.rules, label, warn_unmatched=False).run(items, ctx)
            if self.structural:
                items = self.structural(items, ctx)
            if [(item.name, item.action) for item in items] == before:
                ctx.warnings.append(f"{label} changed no variable")
            return items

        return NamedStep(label, run)

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description,
                "rules": [rule.describe() for rule in self.rules]}


def _segment_rules(pairs: Sequence[tuple[str, str]], origin: str) -> tuple[Rule, ...]:
    """Literal path pieces replaced where they start at a segment boundary and end at one."""
    return tuple(Rule("replace", rf"(^|/){re.escape(old)}(?=/|$)", rf"\g<1>{new}", origin=origin)
                 for old, new in pairs)


def _regex_rules(pairs: Sequence[tuple[str, str]], origin: str) -> tuple[Rule, ...]:
    return tuple(Rule("replace", old, new, origin=origin) for old, new in pairs)


# --- rnn-1.0-to-1.2 ----------------------------------------------------------------

_RNN_CELLS_1_0 = ("basic_rnn_cell", "gru_cell", "gru_cell/gates", "gru_cell/candidate",
                  "basic_lstm_cell", "lstm_cell", "lstm_cell/projection",
                  "output_projection_wrapper", "input_projection_wrapper", "lstm_block_wrapper",
                  "layer_norm_basic_lstm_cell", "ugrnn_cell", "intersection_rnn_cell",
                  "intersection_rnn_cell/in_projection", "phased_lstm_cell/mask_gates",
                  "phased_lstm_cell/new_input", "phased_lstm_cell/output_gate",
                  "attention_cell_wrapper", "attention_cell_wrapper/attn_output_projection",
                  "attention_cell_wrapper/attention")
_RNN_1_0_PAIRS = [(f"{cell}/{old}", f"{cell}/{new}") for cell in _RNN_CELLS_1_0
                  for old, new in (("weights", "kernel"), ("biases", "bias"))]
_RNN_1_0_PAIRS += [("nas_rnn/weights", "nas_rnn/kernel"),
                   ("nas_rnn/recurrent_weights", "nas_rnn/recurrent_kernel")]
# TF 0.x: capitalised scopes, `Linear/Matrix` + `Linear/Bias`, `W_<shard>` matrices.
_RNN_0_X = [
    (r"(^|/)MultiRNNCell/Cell(\d+)(?=/|$)", r"\1multi_rnn_cell/cell_\2"),
    (r"(^|/)BiRNN/FW(?=/|$)", r"\1bidirectional_rnn/fw"),
    (r"(^|/)BiRNN/BW(?=/|$)", r"\1bidirectional_rnn/bw"),
    (r"(^|/)RNN(?=/)", r"\1rnn"),
    (r"(^|/)LSTMCell/W_P_(\d+)$", r"\1lstm_cell/projection/kernel/part_\2"),
    (r"(^|/)LSTMCell/W_([FIO])_diag$", r"\1lstm_cell/w_\2_diag"),
    (r"(^|/)LSTMCell/W_(\d+)$", r"\1lstm_cell/kernel/part_\2"),
    (r"(^|/)LSTMCell/B$", r"\1lstm_cell/bias"),
    (r"(^|/)BasicLSTMCell/Linear/Matrix_(\d+)$", r"\1basic_lstm_cell/kernel/part_\2"),
    (r"(^|/)GRUCell/W_(\d+)$", r"\1gru_cell/kernel/part_\2"),
    (r"(^|/)BasicLSTMCell/Linear/Matrix$", r"\1basic_lstm_cell/kernel"),
    (r"(^|/)BasicLSTMCell/Linear/Bias$", r"\1basic_lstm_cell/bias"),
    (r"(^|/)BasicRNNCell/Linear/Matrix$", r"\1basic_rnn_cell/kernel"),
    (r"(^|/)BasicRNNCell/Linear/Bias$", r"\1basic_rnn_cell/bias"),
    (r"(^|/)GRUCell/Gates/Linear/Matrix$", r"\1gru_cell/gates/kernel"),
    (r"(^|/)GRUCell/Gates/Linear/Bias$", r"\1gru_cell/gates/bias"),
    (r"(^|/)GRUCell/Candidate/Linear/Matrix$", r"\1gru_cell/candidate/kernel"),
    (r"(^|/)GRUCell/Candidate/Linear/Bias$", r"\1gru_cell/candidate/bias"),
    (r"(^|/)OutputProjectionWrapper/Linear/Matrix$", r"\1output_projection_wrapper/kernel"),
    (r"(^|/)OutputProjectionWrapper/Linear/Bias$", r"\1output_projection_wrapper/bias"),
    (r"(^|/)InputProjectionWrapper/Linear/Matrix$", r"\1input_projection_wrapper/kernel"),
    (r"(^|/)InputProjectionWrapper/Linear/Bias$", r"\1input_projection_wrapper/bias"),
]


def _lower_diag(items: list[Item], ctx: Context) -> list[Item]:
    """`w_F_diag` -> `w_f_diag` (TF 1.x spells the peephole weights in lower case),
    then a lone `part_0` with no sibling part becomes the whole variable."""
    for item in items:
        if item.live and re.search(r"lstm_cell/w_[FIO]_diag$", item.name):
            rename_item(item, item.name[:-6] + item.name[-6].lower() + "_diag", "preset rnn-1.0-to-1.2")
    return _unshard_lone_parts(items, "preset rnn-1.0-to-1.2")


def _unshard_lone_parts(items: list[Item], origin: str) -> list[Item]:
    names = {item.name for item in items if item.live}
    for item in items:
        if item.live and not item.slices and item.name.endswith("/part_0") \
                and item.name[:-1] + "1" not in names and item.name[:-7] not in names:
            rename_item(item, item.name[:-7], origin)
    return items


RNN = Preset(
    "rnn-1.0-to-1.2",
    "TF 1.0 -> 1.2 RNN cell names (weights/biases -> kernel/bias) and TF 0.x cell names "
    "(LSTMCell/W_0, BasicLSTMCell/Linear/Matrix, MultiRNNCell/Cell0, ...)",
    rules=_regex_rules(_RNN_0_X, "preset rnn-1.0-to-1.2")
    + _segment_rules(_RNN_1_0_PAIRS, "preset rnn-1.0-to-1.2"),
    structural=_lower_diag)


# --- layers-weights-to-kernel ---------------------------------------------------------

LAYERS = Preset(
    "layers-weights-to-kernel",
    "contrib.layers / slim weights/biases -> kernel/bias, and the default scope "
    "fully_connected[_N] -> dense[_N] of tf.layers.dense",
    rules=_regex_rules([
        (r"(^|/)fully_connected(_\d+)?/weights(?=/|$)", r"\1dense\2/kernel"),
        (r"(^|/)fully_connected(_\d+)?/biases(?=/|$)", r"\1dense\2/bias"),
        (r"(^|/)weights(?=/|$)", r"\1kernel"),
        (r"(^|/)biases(?=/|$)", r"\1bias"),
    ], "preset layers-weights-to-kernel"))


# --- strip-optimizer --------------------------------------------------------------------

def _strip_optimizer(items: list[Item], ctx: Context) -> list[Item]:
    for item in items:
        if item.live and item.kind in (OPTIMIZER, BOOKKEEPING):
            rename_item(item, None, "preset strip-optimizer",
                        note=f"{item.kind} variable, not needed to predict")
    return items


STRIP = Preset("strip-optimizer",
               "drop optimizer slots and bookkeeping (global_step, learning rates, beta powers)",
               structural=_strip_optimizer)


# --- slots -------------------------------------------------------------------------------

_SLOT_RE = re.compile(rf"/({'|'.join(TF1_SLOTS)})$")


def slot_owners(items: list[Item]) -> dict[int, tuple[Item, str]]:
    """For each TF1 slot item: (owner item, slot suffix). The owner is the longest live
    variable whose name + '/' starts the slot's name (slot names may be truncated)."""
    by_name = {item.name: item for item in items if item.live}
    owners = {}
    for index, item in enumerate(items):
        match = _SLOT_RE.search(item.name or "")
        if not match:
            continue
        head = item.name[:match.start()]
        while head:
            owner = by_name.get(head)
            if owner is not None and owner is not item and not _SLOT_RE.search(head):
                owners[index] = (owner, match.group(1))
                break
            head = head.rpartition("/")[0]
    return owners


def _slots_to_keras(items: list[Item], ctx: Context) -> list[Item]:
    origin = "preset tf1-slots-to-keras"
    owners = slot_owners(items)
    for index, (owner, slot) in owners.items():
        scope, keras_slot = KERAS_SLOTS[slot]
        rename_item(items[index], f"training/{scope}/{owner.name}/{keras_slot}", origin)
    for item in items:
        if not item.live:
            continue
        if re.search(r"(^|/)beta2_power(_\d+)?$", item.name):
            rename_item(item, None, origin, note="Keras Adam derives beta_2**t from iter")
        elif re.search(r"(^|/)beta1_power(_\d+)?$", item.name):
            _beta_power_to_iter(item, items, ctx, origin)
    return items


def _beta_power_to_iter(item: Item, items: list[Item], ctx: Context, origin: str) -> None:
    """Keras Adam's `iter` (updates made so far) for a TF1 `beta1_power`, which holds
    beta1 ** (updates + 1). Counted at plan time; the note says how."""
    power = _scalar(ctx, item.sources[0])
    step_item = next((i for i in items if i.old == "global_step"), None)
    step = _scalar(ctx, step_item.sources[0]) if step_item else None
    count, note = adam_iterations(power, None if step is None else int(step))
    if count is None:
        rename_item(item, None, origin, note=note)
        ctx.warnings.append(f"{origin}: {item.old}: {note}")
        return
    rename_item(item, "training/Adam/iter", origin, note=note)
    item.transforms.append(Transform("iterations", dtype="int64", value=count))
    item.new_dtype, item.new_shape, item.action = "int64", (), DERIVED


def adam_iterations(power: float | None, step: int | None) -> tuple[int | None, str]:
    """(updates, how they were found) from beta1_power and global_step, either may be None.

    float32 beta1_power underflows to 0 after ~1000 updates at beta1 0.9, so a long-trained
    model can only be counted by its global_step; the checkpoint does not store beta1."""
    usable = power is not None and 1e-30 < power < 1
    counted = round(math.log(power) / math.log(ADAM_BETA1)) - 1 if usable else None
    if step is not None:
        if counted == step:
            return step, f"iter = global_step {step} = log(beta1_power) / log(0.9) - 1"
        if usable:
            implied = power ** (1 / (step + 1))
            return step, (f"iter = global_step {step}; beta1_power {power:.6g} fits beta1 "
                          f"{implied:.6g}, not Adam's default 0.9: check the Keras optimizer's beta_1")
        return step, f"iter = global_step {step} (beta1_power {power!r} has underflowed)"
    if usable:
        return counted, (f"iter = log(beta1_power) / log(0.9) - 1 = {counted}, assuming Adam's "
                         f"default beta1 0.9 (no global_step to check it against)")
    return None, (f"beta1_power is {power!r} and there is no global_step: the number of Adam "
                  f"updates cannot be told; dropped (Keras starts iter at 0)")


def _scalar(ctx: Context, name: str) -> float | None:
    try:
        return float(ctx.reader.read(name))
    except (TypeError, ValueError):  # not a number-like scalar
        return None


KERAS_SLOTS_PRESET = Preset(
    "tf1-slots-to-keras",
    "TF1 optimizer slots -> Keras optimizer slots of TF2 canned Estimators "
    "(Adagrad -> accumulator, Adam/Adam_1 -> m/v, Ftrl/Ftrl_1 -> accumulator/linear, "
    "beta powers -> iter)",
    structural=_slots_to_keras)


# --- merge-partitions -------------------------------------------------------------------

_PART_RE = re.compile(r"^(?P<base>.+)/part_(?P<index>\d+)(?P<rest>/.*)?$")


def partitioned_base(name: str) -> str | None:
    """The whole variable's name of a `.../part_N[/slot]` key, else None."""
    match = _PART_RE.match(name)
    return match["base"] + (match["rest"] or "") if match else None


def _merge_partitions(items: list[Item], ctx: Context) -> list[Item]:
    origin = "preset merge-partitions"
    groups: dict[str, list[tuple[int, Item]]] = {}
    for item in items:
        match = _PART_RE.match(item.name or "")
        if match and item.action != MERGED:
            groups.setdefault(match["base"] + (match["rest"] or ""), []).append(
                (int(match["index"]), item))
    live = {item.name for item in items if item.live}
    for base, parts in sorted(groups.items()):
        parts.sort(key=lambda pair: pair[0])
        if base in live:
            ctx.warnings.append(f"{origin}: parts of {base!r} not merged: a variable of that "
                                f"name exists")
        elif [index for index, _ in parts] != list(range(len(parts))):
            ctx.warnings.append(f"{origin}: parts of {base!r} are not part_0..part_N "
                                f"(found {[index for index, _ in parts]}); not merged")
        else:
            _merge_group(base, [item for _, item in parts], ctx, origin)
    return items


def _merge_group(base: str, parts: list[Item], ctx: Context, origin: str) -> None:
    first = parts[0]
    if all(part.slices for part in parts):  # one stored slice each: place by extents
        covered = sum(_volume(part.slices, part.shape) for part in parts)
        if covered != _volume((), first.shape) or any(p.shape != first.shape for p in parts):
            ctx.warnings.append(f"{origin}: the slices of {base!r} do not tile its shape "
                                f"{list(first.shape)}; not merged")
            return
        transform, shape = Transform("merge-slices"), first.shape
    elif not any(part.slices for part in parts):  # separate variables: concatenate
        axis = _concat_axis([part.shape for part in parts])
        if axis is None:
            ctx.warnings.append(f"{origin}: parts of {base!r} have shapes that do not "
                                f"concatenate along one axis; not merged")
            return
        shape = list(first.shape)
        shape[axis] = sum(part.shape[axis] for part in parts)
        transform, shape = Transform("concat", axis=axis), tuple(shape)
    else:
        ctx.warnings.append(f"{origin}: parts of {base!r} mix slices and whole variables")
        return
    rename_item(first, base, origin, note=f"assembled from {len(parts)} parts")
    first.sources = [source for part in parts for source in part.sources]
    first.transforms.append(transform)
    first.new_shape, first.action = shape, MERGED
    for part in parts[1:]:
        rename_item(part, None, origin, note=f"part of {base}")
        part.action = MERGED


def _volume(extents, shape) -> int:
    total = 1
    for index, dim in enumerate(shape):
        length = extents[index][1] if extents and extents[index][1] != -1 else dim
        total *= length
    return total


def _concat_axis(shapes: list[tuple[int, ...]]) -> int | None:
    ranks = {len(shape) for shape in shapes}
    if len(ranks) != 1 or not shapes[0]:
        return None
    differing = [axis for axis in range(len(shapes[0]))
                 if len({shape[axis] for shape in shapes}) > 1]
    if len(differing) > 1:
        return None
    return differing[0] if differing else 0


MERGE = Preset("merge-partitions",
               "part_0..N variables and stored slices -> one whole variable each, assembled "
               "from the slice information (or concatenated along the partitioned axis)",
               structural=_merge_partitions)


# --- contrib-learn-to-estimator ------------------------------------------------------------

_CONTRIB_MODEL_RULES = _regex_rules([
    (r"^dnn/(hiddenlayer_\d+|logits)/weights$", r"dnn/\1/kernel"),
    (r"^dnn/(hiddenlayer_\d+|logits)/biases$", r"dnn/\1/bias"),
    (r"^dnn/input_from_feature_columns/(.+)_embedding/weights$",
     r"dnn/input_from_feature_columns/input_layer/\1_embedding/embedding_weights"),
    (r"^linear/bias_weight$", r"linear/linear_model/bias_weights"),
    (r"^linear/(?!linear_model/)(.+)/weights?$", r"linear/linear_model/\1/weights"),
], "preset contrib-learn-to-estimator")
_FOLD_TARGETS = ("linear/linear_model/bias_weights", "dnn/logits/bias")


def _contrib_to_estimator(items: list[Item], ctx: Context) -> list[Item]:
    origin = "preset contrib-learn-to-estimator"
    owners = slot_owners(items)
    slots = {id(items[index]): owner_slot for index, owner_slot in owners.items()}
    model = [item for item in items if id(item) not in slots]
    rules_step(_CONTRIB_MODEL_RULES, origin, warn_unmatched=False).run(model, ctx)
    for item in model:
        if item.live and re.search(r"(^|/)learning_rate$", item.name):
            rename_item(item, None, origin, note="contrib optimize_loss variable; "
                                                 "tf.estimator has none")
    _fold_centered_bias(items, ctx, origin)
    for item in items:
        if id(item) in slots:
            owner, slot = slots[id(item)]
            _rename_slot(item, owner, slot, origin)
    return items


def _rename_slot(item: Item, owner: Item, slot: str, origin: str) -> None:
    if not owner.live:
        rename_item(item, None, origin, note=f"slot of {owner.old}, which is not kept")
        return
    part = re.search(r"/part_(\d+)/[^/]+$", item.old)
    scope = owner.name.split("/")[0] + "/"
    full = f"{owner.name}/part_{part.group(1) if part else 0}/{slot}"
    rename_item(item, f"{owner.name}/{full[-(len(scope) + len(slot)):]}", origin)


def _fold_centered_bias(items: list[Item], ctx: Context, origin: str) -> None:
    by_name = {item.name: item for item in items if item.live}
    for bias in [i for i in items if i.live and re.search(r"(^|/)centered_bias_weight$", i.name)]:
        target = next((by_name[name] for name in _FOLD_TARGETS if name in by_name
                       and by_name[name].shape == bias.shape
                       and by_name[name].dtype == bias.dtype), None)
        if target is None:
            ctx.warnings.append(
                f"{bias.old} {list(bias.shape)} kept under its name: no logits bias of the same "
                f"shape and dtype ({', '.join(_FOLD_TARGETS)}) to fold it into, so a "
                f"tf.estimator model restored from this checkpoint would not add it")
            continue
        target.sources.append(bias.old)
        if not any(t.op == "add" for t in target.transforms):
            target.transforms.append(Transform("add"))
        target.action = FOLDED
        target.note = f"{bias.old} added (contrib's centered bias, added to the logits)"
        if origin not in target.by:
            target.by.append(origin)
        rename_item(bias, None, origin, note=f"folded into {target.name}")
        bias.action = DROPPED


CONTRIB = Preset(
    "contrib-learn-to-estimator",
    "tf.contrib.learn canned DNN/Linear names -> tf.estimator (v1) names: layers, logits, "
    "linear columns and bias, optimizer slots; centered_bias_weight folded into the logits bias",
    rules=_CONTRIB_MODEL_RULES, structural=_contrib_to_estimator, rules_in_structural=True)


PRESETS: dict[str, Preset] = {p.name: p for p in (RNN, CONTRIB, LAYERS, STRIP,
                                                   KERAS_SLOTS_PRESET, MERGE)}


def get(name: str) -> Preset:
    """The preset called `name`; an unknown name raises MappingConflict listing them all."""
    if name not in PRESETS:
        raise MappingConflict(f"unknown preset {name!r}. Presets: {', '.join(PRESETS)} "
                              f"(see tfckpt rename --list-presets)")
    return PRESETS[name]
