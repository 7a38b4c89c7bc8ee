"""rrl robots."""
