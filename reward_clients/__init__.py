"""rrl reward_clients."""
