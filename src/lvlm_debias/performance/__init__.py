"""Measuring the workflow against the way the official code works (the `make bench` benchmark)."""
