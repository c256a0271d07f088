"""Everything tfckpt WRITES or RUNS: rename, rewrite, freeze, export, verify.

Depends on `inspectors`; `inspectors` never imports from here.
"""
