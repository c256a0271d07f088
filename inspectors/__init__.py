"""Everything tfckpt READS: checkpoints, graphs, model dirs, HDF5 files.

Nothing in this package writes a file or executes a graph. TensorFlow is imported
lazily, inside the functions that need it, so that `tfckpt --help` stays fast.
"""

__version__ = "0.1.0"
