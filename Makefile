# The README's two commands: `make run` (a short sim run, no hardware, no API key) and
# `make test`. Both set everything up on a fresh Debian machine: system packages (as root),
# a virtualenv in .venv, and the project installed into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages: EGL/Mesa for headless MuJoCo rendering, libusb for pyrealsense2, and
# Chromium with its driver for the dashboard's browser tests.
APT_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libusb-1.0-0 chromium chromium-driver

.PHONY: setup system-deps run test lint bench clean

setup: $(VENV)/.installed

system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		if [ -n "$$missing" ]; then apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; fi; \
	else \
		echo "Not root (or no apt-get): make sure these Debian packages are installed: $(APT_PACKAGES)"; \
	fi

$(VENV)/.installed: setup.py | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# A short DSRL run in sim with the oracle reward; it prints where its plots are.
run: setup
	$(BIN)/rrl train widowx_pick_place_dsrl run.episodes=40

lint: setup
	$(BIN)/ruff check .

test: setup lint
	$(BIN)/python -m pytest -q

# gym_hil (the comparison env) pins mujoco < 3.9, so it lives in its own virtualenv.
$(VENV)-gymhil/.installed:
	$(PYTHON) -m venv $(VENV)-gymhil
	$(VENV)-gymhil/bin/pip install -q gym-hil
	touch $@

bench: setup $(VENV)-gymhil/.installed
	mkdir -p bench_results
	$(BIN)/rrl bench env --gym-hil-python $(VENV)-gymhil/bin/python --json bench_results/env.json
	$(BIN)/rrl bench reward
	$(BIN)/rrl bench learner
	$(BIN)/rrl bench loop --json bench_results/loop.json

clean:
	rm -rf $(VENV) $(VENV)-gymhil *.egg-info
