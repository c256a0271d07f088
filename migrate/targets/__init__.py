"""Export targets of a verified `InferenceGraph`: `saved_model` (TF 2.x-loadable
TF1 SavedModel), `frozen` (a frozen GraphDef), `onnx` (tf2onnx); `kinds` names them
for `export --to` (Keras 3 is to come).
May import `inspectors` and `migrate.rebuild`.
"""
