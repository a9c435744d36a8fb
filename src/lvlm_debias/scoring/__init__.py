"""First-position label probabilities of a model under each probe input."""
