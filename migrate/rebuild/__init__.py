"""Rebuilding a model for inference: every way ends in one `InferenceGraph` record.

`choose` picks the way (`ways` names them; `options` holds what the user tells
it); `metagraph` cuts a training graph down to inference (with `surgery`),
`canned` rebuilds canned Estimators from variable names, `model_fn` runs an old
`model_fn`; `inference` is the record, `inputs` reads and generates its feeds.
May import `inspectors`, `migrate.names` and `migrate.safety`.
"""
