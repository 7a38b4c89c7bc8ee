# The README's two commands: `make run` (a short sim run, no hardware, no API key) and
# `make test`. Both set everything up on a fresh Debian machine: system packages (as root),
# a virtualenv in .venv, and the project installed into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages needed at run time: EGL/Mesa for headless MuJoCo rendering, libusb for
# pyrealsense2.
APT_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libusb-1.0-0

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

run: setup
	$(BIN)/rrl rollout --robot widowx --task pick_place --episodes 4 --noise 0.1

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
	$(BIN)/rrl bench env --gym-hil-python $(VENV)-gymhil/bin/python --json bench_results/env.json

clean:
	rm -rf $(VENV) $(VENV)-gymhil *.egg-info
