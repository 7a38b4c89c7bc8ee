"""rrl: real-robot reinforcement learning with a vision-language reward model in the loop."""

from setuptools import setup

setup(
    name="rrl",
    version="0.1.0",
    description="Real-robot RL with a vision-language reward model in the loop",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=[
        "agents",
        "configs",
        "envs",
        "envs.sim",
        "experiments",
        "reward_clients",
        "robots",
    ],
    package_data={"envs.sim": ["assets/*.xml"]},
    install_requires=[
        "numpy>=2.0",
        "mujoco>=3.2",
        "gymnasium>=1.0",
        "dm-env>=1.6",
        "av>=14",
        "requests>=2.31",
        "pyrealsense2>=2.55",
        "jax>=0.6",
        "flax>=0.10",
        "optax>=0.2.4",
        "orbax-checkpoint>=0.11",
        "ray[default]>=2.40",
        "matplotlib>=3.8",
        "tensorboardX>=2.6",
        "tqdm>=4.66",
    ],
    extras_require={
        "test": ["pytest>=8", "ruff>=0.6"],
        "bench": ["gym-hil"],
        # franky-control is LGPL-3.0 for non-commercial use only; see the README.
        "franka": ["franky-control>=1.0"],
    },
    entry_points={"console_scripts": ["rrl=experiments.cli:main"]},
)
