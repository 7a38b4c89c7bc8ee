"""rrl agents."""
