"""Benchmarks, one module per `rrl bench <name>`: env, reward, learner, loop, dataset."""
