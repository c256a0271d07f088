"""The `tfckpt` command: `main` (parsing, dispatch, the one place errors become
exit codes) and one module per writing command (`export`, `map`, `rename`,
`weights`). Nothing here imports TensorFlow until a handler runs.
May import all of `inspectors` and `migrate`.
"""
