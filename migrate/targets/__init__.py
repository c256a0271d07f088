"""Export targets of a verified `InferenceGraph`: `saved_model` (TF 2.x-loadable
TF1 SavedModel), `frozen` (a frozen GraphDef). New targets (ONNX, Keras 3) go here.
May import `inspectors` and `migrate.rebuild`.
"""
