"""Models: the embedded ShapesWorld LLaVA (build, train, evaluate) and the loader every model goes through."""
