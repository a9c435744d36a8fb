"""The embedded model: a tiny LLaVA-architecture model trained here on the ShapesWorld (corpus, tokenizer,
architecture, training, evaluation, the end-to-end build)."""
