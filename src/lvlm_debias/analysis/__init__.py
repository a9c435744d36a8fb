"""Tables built from scored questions."""
