"""rrl: real-robot reinforcement learning with a vision-language reward model in the loop."""

from setuptools import find_packages, setup

setup(
    name="rrl",
    version="0.1.0",
    description="Real-robot RL with a vision-language reward model in the loop",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["agents*", "configs*", "envs*", "experiments*", "reward_clients*", "robots*"]),
    package_data={"experiments.dashboard": ["templates/*.html", "static/*.js", "static/*.css"]},
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
        # The local Ray relies on token authentication (2.59+) and on how 2.60 picks its node address
        # (experiments/training/local_ray.py); check that module before moving past 2.60.
        "ray[default]>=2.59,<2.61",
        "matplotlib>=3.8",
        "tensorboardX>=2.6",
        "tqdm>=4.66",
        "flask>=3.0",
        "pillow>=10",
        # Reads the comment beside each config field for `rrl train <config> --help`.
        "simple-parsing>=0.1.5",
    ],
    extras_require={
        # franky-sim (Apache-2.0) serves the libfranka protocol on 127.0.0.1 for the driver tests.
        "test": ["pytest>=8", "ruff>=0.6", "franky-control>=2.0", "franky-sim>=1.0", "selenium>=4.20"],
        "bench": ["gym-hil"],
        # franky-control >= 2.0 is MIT-licensed (earlier releases were LGPL-3.0).
        "franka": ["franky-control>=2.0"],
        "teleop": ["pyspacemouse"],
    },
    entry_points={"console_scripts": ["rrl=experiments.cli:main"]},
)
