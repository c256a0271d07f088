"""The reading commands, one module each (`ls`, `show`, `diff`, `model_dir` for
`dir`, `graph`); `commands.register` adds them to the parser, `options` holds
what several share. Handlers import their library modules when they run, so
`--help` never pays for numpy or TensorFlow. May import all of `inspectors`.
"""
