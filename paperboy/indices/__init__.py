"""Derived indices (keyword, vector): rebuildable from the store at any time."""
