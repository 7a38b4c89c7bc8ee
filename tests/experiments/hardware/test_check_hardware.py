"""`rrl check-hardware` against franky-sim, the Interbotix fake and camera recordings."""

from __future__ import annotations

import socket

import pytest

from experiments.cli import main as rrl
from tests.fixtures.camera_recordings import record_colour
from tests.fixtures.interbotix_fake import installed_interbotix_fake

FPS = 60
CAMERA_ARGS = ["--width", "64", "--height", "48", "--fps", str(FPS), "--frames", "8"]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check_hardware")
    return {
        "front": record_colour(folder / "front.db3", "111", frames=40, fps=FPS),
        "wrist": record_colour(folder / "wrist.db3", "222", frames=40, fps=FPS),
        # 8 frames, then nothing for 1.2 s: the camera stalls after the warm-up (5 frames).
        "stalling": record_colour(folder / "stall.db3", "333", frames=10, fps=FPS, stall=(7, 1.2)),
    }


@pytest.fixture(scope="module")
def sim():
    pytest.importorskip("franky")
    pytest.importorskip("franky_sim")
    from tests.fixtures.robot_franky_sim import franky_sim

    with franky_sim() as handle:
        yield handle


def test_franka_and_two_cameras_all_ok(sim, recordings, capsys):
    cameras = f"front={recordings['front']},wrist={recordings['wrist']}"
    code = rrl(
        [
            "check-hardware",
            "--robot",
            "franka",
            "--ip",
            sim.hostname,
            "--cameras",
            cameras,
            *CAMERA_ARGS,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "arm franka:" in out and "end effector (m)" in out and "errors             none" in out
    assert f"camera front (recording {recordings['front']}): 64x48, 60 fps configured" in out
    assert "camera wrist (recording" in out and "latency n/a (device clock)" in out
    assert "cameras together: skew" in out and "hardware check: OK" in out


def test_no_robot_at_the_address(recordings, capsys, monkeypatch):
    from robots import franka

    with socket.socket() as s:  # a port on 127.0.0.1 that nothing listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    monkeypatch.setattr(franka, "FCI_PORT", closed_port)
    code = rrl(
        [
            "check-hardware",
            "--robot",
            "franka",
            "--ip",
            "127.0.0.1",
            "--cameras",
            str(recordings["front"]),
            *CAMERA_ARGS,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert f"FAILED franka: no robot answers at 127.0.0.1:{closed_port}" in err
    assert "camera cam0 (recording" in out  # the camera is still checked
    assert "hardware check: 1 problem(s)" in out


def test_unknown_serial_and_stalling_camera_each_get_a_line(recordings, capsys):
    cameras = f"front={recordings['front']},side=999,stuck={recordings['stalling']}"
    code = rrl(["check-hardware", "--cameras", cameras, "--timeout", "0.3", *CAMERA_ARGS])
    out, err = capsys.readouterr()
    assert code == 1
    assert "FAILED camera side: no RealSense with serial 999 is connected; connected: none" in err
    assert "FAILED camera stuck: no new frame within 0.3 s (the camera stalls)" in err
    assert "camera front (recording" in out and "hardware check: 2 problem(s)" in out


def test_widowx_through_the_sdk(capsys):
    with installed_interbotix_fake():
        code = rrl(["check-hardware", "--robot", "widowx"])
    out, _ = capsys.readouterr()
    assert code == 0 and "arm widowx:" in out and "gripper width (m)  0.0740" in out


def test_franka_needs_an_explicit_ip(capsys):
    with pytest.raises(SystemExit) as exit_info:
        rrl(["check-hardware", "--robot", "franka"])
    assert exit_info.value.code == 2
    assert "--robot franka needs --ip" in capsys.readouterr().err
