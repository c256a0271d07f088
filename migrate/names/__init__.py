"""Variable names: rename rules (`rules`), built-in presets (`presets`), the
checked plan they compose into (`plan`), and mapping a checkpoint onto a
target graph (`mapping`). May import `inspectors`, `migrate.write` and `migrate.rebuild`.
"""
