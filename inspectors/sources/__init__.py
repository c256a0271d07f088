"""Sources: what the user typed -> one resolved `Source` (prefix, format, step, files).

The storage seam: every reader opens files through what this package resolves,
so remote stores (s3://, gs://, http(s)://) plug in here and nowhere else.
May import `inspectors.errors` only.
"""
