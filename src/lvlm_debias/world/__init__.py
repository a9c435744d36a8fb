"""The ShapesWorld: scenes with a known, injected language prior, and the embedded benchmarks' data over them (POPE
sampling lives in ``data.pope``; MME/MMMU-style tasks, captions, evidence levels here)."""
