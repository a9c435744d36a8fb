"""Figures, each made by one function from one table."""
