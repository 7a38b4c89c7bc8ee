"""rrl experiments."""
