"""rrl experiments: Ray actors, the run loop, the `rrl` command line, reports and benchmarks."""

import os

# Before any submodule imports mujoco: headless EGL rendering unless the user chose otherwise.
os.environ.setdefault("MUJOCO_GL", "egl")
