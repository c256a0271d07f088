"""What the user tells a rebuild: the way, and the facts a checkpoint cannot say itself.

Its own module so that predictors (which open any source) and the way choice
(which predictors call for checkpoints) both use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.rebuild.assets import AssetSearch
from migrate.rebuild.inference import SERVING_DEFAULT, FeatureSpec


@dataclass
class Options:
    """How to rebuild a checkpoint: the way, and the facts the user supplies."""

    via: str | None = None
    outputs: dict[str, str] | None = None
    inputs: tuple[str, ...] | None = None  # the graph inputs to keep (by key, tensor or node)
    features: tuple[FeatureSpec, ...] | None = None
    model_fn: str | None = None
    params: dict = field(default_factory=dict)
    signature: str = SERVING_DEFAULT
    allow_risky_ops: bool = False
    assets: AssetSearch = AssetSearch()  # --assets DIR, --asset OLD=NEW
