"""The local Ray that `rrl train` starts when it is given no cluster: private to this machine and run.

    start_local_ray(num_cpus=4)

- Loopback only. Ray's servers (GCS, raylet, object manager, workers, the dashboard and
  runtime-env agents) listen on the node address, and Ray takes 127.0.0.1 as the node address
  only where it forms no cluster: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, the setting Ray runs
  with on macOS and Windows. (`_node_ip_address="127.0.0.1"` is not enough: Ray replaces a
  loopback address by the host's outward one.)
- Token authentication, on by default for Ray's local clusters since 2.59, stays on, with a token
  made for this process and held only in the environment of its processes (not written to
  ~/.ray/auth_token). A client with any other token is refused.
- No dashboard web server (include_dashboard=False); the dashboard agent that every raylet
  starts remains, on loopback, behind the token.
- Nothing left behind: a reaper process outlives the driver and, once the driver is gone
  (ray.shutdown and exit, a crash, kill -9), kills every process started from it since. Ray's
  dashboard and runtime-env agents otherwise survive a killed driver, listening, and a worker
  being started lingers for half a minute.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import ray
from ray._private import ray_constants
from ray._raylet import AuthenticationTokenLoader

__all__ = ["start_local_ray", "start_reaper", "REAPER_SOURCE", "REAPER_MARK"]

# Every process this driver starts from now on inherits it in its environment.
REAPER_MARK = "RRL_LOCAL_RAY_OF"
# Run as `python -c REAPER_SOURCE <driver pid> <mark>`, its stdin a pipe from the driver: end of
# file on it means the driver is gone, however it ended. It kills what it saw descend from the
# driver (Ray's agents rewrite their environment with their process title) and what has the
# mark (a worker the raylet started just before it died, whose parent is gone).
REAPER_SOURCE = f"""
import os, select, signal, sys, time
import psutil
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the driver; cleaning up comes after
driver, mark, seen = psutil.Process(int(sys.argv[1])), sys.argv[2], {{}}
while True:
    try:
        seen.update((p.pid, p) for p in driver.children(recursive=True) if p.pid != os.getpid())
    except psutil.NoSuchProcess:
        break
    ready, _, _ = select.select([0], [], [], 1.0)
    if ready and not os.read(0, 4096):
        break
for sweep in range(20):  # again until none is left: a dying process may just have started one
    found = [p for p in seen.values() if sweep == 0]
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get({REAPER_MARK!r}) == mark:
                found.append(process)
        except psutil.Error:  # gone meanwhile, or another user's: not ours
            pass
    for process in found:
        try:
            process.kill()  # SIGKILL: a stranded Ray agent ignores SIGTERM; psutil skips reused pids
        except psutil.Error:  # already gone
            pass
    if sweep and not found:
        break
    time.sleep(0.5)
"""
_reaper: subprocess.Popen | None = None


def start_reaper() -> subprocess.Popen:
    """The reaper of this process (started once), in its own session so that Ctrl-C or a signal
    to the driver's process group does not end it before it has cleaned up."""
    global _reaper
    if _reaper is None or _reaper.poll() is not None:
        mark = f"{os.getpid()}-{secrets.token_hex(8)}"
        os.environ[REAPER_MARK] = mark
        _reaper = subprocess.Popen([sys.executable, "-c", REAPER_SOURCE, str(os.getpid()), mark],
                                   stdin=subprocess.PIPE, start_new_session=True)
    return _reaper


@contextlib.contextmanager
def _loopback_node() -> Iterator[None]:
    """Within: Ray in this process, and the daemons it starts, take 127.0.0.1 as the node address."""
    name = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    saved_env, saved_flag = os.environ.get(name), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[name] = "0"  # the daemons read it at start
    ray_constants.ENABLE_RAY_CLUSTER = False  # this process read it when ray was imported
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved_env


def _private_token() -> None:
    """Token authentication on, with a token of this process unless one is configured."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        # Unset, Ray turns token authentication on for a local cluster; "disabled" would turn it off.
        os.environ.pop("RAY_AUTH_MODE", None)
    if not (os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")):
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        AuthenticationTokenLoader.instance().reset_cache()  # it may hold a token read earlier


def start_local_ray(num_cpus: int) -> None:
    """Starts a Ray on this machine only: loopback, token authentication, no dashboard, reaped."""
    start_reaper()
    _private_token()
    # Ray warns that token authentication is on and how to opt out: here it is on by design.
    setup_log = logging.getLogger("ray._private.authentication.authentication_token_setup")
    level = setup_log.level
    setup_log.setLevel(logging.ERROR)
    try:
        with _loopback_node():
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
    finally:
        setup_log.setLevel(level)
