"""The ways to rebuild a model for inference, by name, in the order `export` tries
them when none is forced. A module of their own so that the command line can offer
them without importing the inference machinery."""

META_GRAPH, CANNED, MODEL_FN = "meta-graph", "canned", "model-fn"
GRAPH, SAVED_MODEL = "graph", "saved-model"  # a GraphDef alone; a TF1 SavedModel re-exported
WAYS = (META_GRAPH, CANNED, MODEL_FN, GRAPH, SAVED_MODEL)
