"""rrl configs."""
