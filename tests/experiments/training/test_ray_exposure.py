"""The local Ray of `rrl train` is reachable from this machine only, by its token only, and leaves
nothing behind: not after ray.shutdown(), not after the driver is killed with SIGKILL.

Each test starts a driver process that calls `init_ray()` as `rrl train` does, and looks at it
from outside with psutil. Only 127.0.0.1 is ever contacted.
"""

import ipaddress
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from experiments.training.local_ray import REAPER_SOURCE
from tests.fixtures.train_process import REPO, alive, clean_env, wait_until_gone

# The driver: starts the local Ray, makes it start workers, prints the GCS address, then waits
# for a line on stdin: "shutdown" shuts Ray down (and says so), anything else just exits.
DRIVER = """
import json, os, sys
import ray
from experiments.training.train import init_ray
init_ray()
@ray.remote
def pid():
    return os.getpid()
ray.get([pid.remote() for _ in range(2)])
print(json.dumps({"gcs": ray.get_runtime_context().gcs_address}), flush=True)
if sys.stdin.readline().strip() == "shutdown":
    ray.shutdown()
    print("shut down", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def driver():
    process = subprocess.Popen([sys.executable, "-c", DRIVER], cwd=REPO, env=clean_env(), text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = process.stdout.readline()
    assert line, f"the driver did not start Ray (exit code {process.poll()})"
    process.info = json.loads(line)
    yield process
    for child in ray_processes(process.pid):
        child.kill()
    process.kill()
    process.wait(timeout=30)


def ray_processes(driver_pid: int) -> list[psutil.Process]:
    """The driver and every process it started (GCS, raylet, agents, workers, ...)."""
    try:
        parent = psutil.Process(driver_pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def listening(processes: list[psutil.Process]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening TCP socket of `processes`."""
    pids = {p.pid for p in alive(processes)}
    return [(c.pid, c.laddr.ip, c.laddr.port) for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.pid in pids]


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on an IPv6 socket
    return (mapped or ip).is_loopback


def connect(gcs: str, token: str) -> subprocess.CompletedProcess:
    """A Ray client on this machine joining the cluster at `gcs` with `token`."""
    code = f"import ray; ray.init(address={gcs!r}); print('CONNECTED', ray.cluster_resources()['CPU'])"
    # Like the driver, the client takes 127.0.0.1 as its own address (else Ray swaps the GCS's
    # loopback address for the host's outward one).
    env = {**clean_env(), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token,
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180)


def test_local_ray_listens_on_loopback_only_and_refuses_a_wrong_token(driver):
    processes = ray_processes(driver.pid)
    names = {p.name() for p in alive(processes)}
    assert {"gcs_server", "raylet"} <= names, names
    sockets = listening(processes)
    assert len({pid for pid, _, _ in sockets}) >= 5  # GCS, raylet, agents, workers, the driver
    exposed = [(psutil.Process(pid).name(), ip, port) for pid, ip, port in sockets if not is_loopback(ip)]
    assert exposed == []
    assert driver.info["gcs"].startswith("127.0.0.1:")

    refused = connect(driver.info["gcs"], "0" * 64)
    assert refused.returncode != 0 and "CONNECTED" not in refused.stdout
    assert "InvalidAuthToken" in refused.stderr  # refused for its token, not for being unreachable
    # The same client with the run's token (held only in the run's environment) gets in.
    gcs_server = next(p for p in processes if p.name() == "gcs_server")
    token = gcs_server.environ()["RAY_AUTH_TOKEN"]  # the driver set it after its own start
    assert not (Path.home() / ".ray" / "auth_token").exists() or \
        (Path.home() / ".ray" / "auth_token").read_text().strip() != token
    accepted = connect(driver.info["gcs"], token)
    assert "CONNECTED" in accepted.stdout, accepted.stderr[-2000:]


def test_nothing_listens_after_ray_shutdown(driver):
    processes = ray_processes(driver.pid)[1:]
    assert listening(processes)
    # The reaper waits for the driver's exit (it listens nowhere); every Ray process ends now.
    processes = [p for p in processes if REAPER_SOURCE not in p.cmdline()]
    driver.stdin.write("shutdown\n")
    driver.stdin.flush()
    assert driver.stdout.readline().strip() == "shut down"
    assert wait_until_gone(processes, timeout_s=20) == []
    assert listening(processes) == []


def test_nothing_listens_after_the_driver_is_killed(driver):
    processes = ray_processes(driver.pid)[1:]
    assert len(listening(processes)) >= 4
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=10)
    left = wait_until_gone(processes, timeout_s=20)
    assert [(p.pid, p.name()) for p in left] == []
    assert listening(processes) == []
