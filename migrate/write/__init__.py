"""Writing outputs safely: staged temp siblings renamed into place after a check
(`staged`), the V2 bundle writer (`bundle_writer`, `byte_ranges`), checkpoint
rewrites (`rewrite`) and weight files (`weights`: h5, npz).
May import `inspectors` only.
"""
