"""The training loop and what surrounds it: Ray actors, rollouts, pretraining of the base policy,
evaluation, reward-source ablations and the end-of-run report."""
