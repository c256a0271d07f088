"""Checkpoint and weight-file formats, read without TensorFlow where possible.

`checkpoint` is THE reader seam (`open_reader(source)` -> `VariableInfo` records from
`records`); `bundle` parses V1/V2 indexes and data, `crc` and `wire` are the
checksum and protobuf-varint primitives, `keras_h5` reads Keras HDF5 files in a
child process (`isolate`). May import `inspectors.sources` and `inspectors.errors`.
"""
