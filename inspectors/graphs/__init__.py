"""Graph facts from parsing protos, never from running a graph.

`io` loads GraphDef / MetaGraphDef / SavedModel protos; `roles` finds candidate
inputs and outputs; `signatures` reads SignatureDefs; `variables` matches graph
variables to a checkpoint; `report` assembles what `tfckpt graph` prints.
May import `inspectors.sources`, `inspectors.formats` and `inspectors.errors`.
"""
