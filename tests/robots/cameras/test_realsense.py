"""RealSense cameras read through pyrealsense2's rs.pipeline from recordings made by rs.recorder.

Recordings are written in real time (the playback paces frames by when they were recorded), so
they are made once per module and kept short.
"""

from __future__ import annotations

import time

import numpy as np
import pyrealsense2 as rs
import pytest

from robots.cameras import (
    CameraEnded,
    CameraNotFound,
    CameraSpec,
    CameraStale,
    CameraTimeout,
    RealSenseCamera,
    parse_camera_specs,
    realsense_rig,
)
from tests.fixtures.camera_recordings import frame_image, record_colour

FPS, W, H = 60, 64, 48


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recordings")
    return {
        "front": record_colour(folder / "front.db3", "111", frames=36, fps=FPS, width=W, height=H),
        "wrist": record_colour(
            folder / "wrist.db3", "222", frames=36, fps=FPS, width=W, height=H,
            domain=rs.timestamp_domain.global_time, start_ms=time.time() * 1000,
        ),
    }  # fmt: skip


def spec(path, name="front", **kwargs) -> CameraSpec:
    base = {"width": W, "height": H, "fps": FPS, "warmup_frames": 2}
    return CameraSpec(name, path, **{**base, **kwargs})


def test_single_camera_keeps_the_newest_frame_with_its_timestamps(recordings):
    with RealSenseCamera(spec(recordings["front"])) as cam:
        first = cam.read(wait_new=True)
        second = cam.read(wait_new=True)
    assert first.image.shape == (H, W, 3) and first.image.dtype == np.uint8
    assert second.frame_number > first.frame_number >= 2  # the warm-up frames were dropped
    np.testing.assert_array_equal(second.image, frame_image(second.frame_number, W, H))
    gap_ms = second.device_timestamp_ms - first.device_timestamp_ms
    assert gap_ms == pytest.approx(1000.0 * (second.frame_number - first.frame_number) / FPS)
    assert first.timestamp_domain == "hardware_clock" and first.capture_time is None
    assert 0 <= time.time() - second.arrival_time < 1.0


def test_read_without_wait_returns_the_same_newest_frame(recordings):
    with RealSenseCamera(spec(recordings["front"], real_time=True)) as cam:
        frame = cam.read(wait_new=True)
        assert cam.read().frame_number in (frame.frame_number, frame.frame_number + 1)


def test_several_cameras_are_read_together_with_their_skew(recordings):
    specs = [spec(recordings["front"]), spec(recordings["wrist"], name="wrist")]
    with realsense_rig(specs) as rig:
        multi = rig.read(wait_new=True)
        stats = rig.cameras["front"].measure(frames=12)
    assert set(multi.frames) == {"front", "wrist"}
    assert multi.skew_source == "arrival"  # front's clock is the device's, not the host's
    arrivals = [f.arrival_time for f in multi.frames.values()]
    assert multi.skew_s == pytest.approx(max(arrivals) - min(arrivals))
    assert multi["wrist"].capture_time is not None  # global_time: host-clock milliseconds
    assert (stats.width, stats.height, stats.fps) == (W, H, FPS)
    assert stats.measured_fps == pytest.approx(FPS, rel=0.25) and stats.latency_ms is None


def test_end_of_recording_is_an_error_not_a_reused_frame(recordings):
    with RealSenseCamera(spec(recordings["front"])) as cam:
        numbers = []
        with pytest.raises(CameraEnded, match="front: recording .* has ended"):
            for _ in range(100):
                numbers.append(cam.read(wait_new=True).frame_number)
    assert numbers == sorted(set(numbers)) and numbers[-1] >= 30


def test_a_looping_recording_never_ends(recordings):
    """Dry runs replay a short recording for a whole run: past its end, again and again."""
    with RealSenseCamera(spec(recordings["front"], loop=True, stale_after_s=2.0)) as cam:
        deadline, frames = time.monotonic() + 2.5, 0  # the 0.6 s recording, about four times
        while time.monotonic() < deadline:
            cam.read(wait_new=True)
            frames += 1
    assert frames > 2 * 36  # it went past the end at least twice


def test_stalled_camera_gives_a_stale_error(recordings):
    options = {"stale_after_s": 0.1, "frame_timeout_s": 2.0, "max_reconnects": 0}
    with RealSenseCamera(spec(recordings["front"], **options)) as cam:
        cam.read(wait_new=True)
        cam.pause_playback()
        time.sleep(0.25)
        with pytest.raises(CameraStale, match=r"front: newest frame is 0\.\d+ s old"):
            cam.read()


def test_stall_past_the_timeout_reconnects_then_gives_up(recordings):
    options = {"stale_after_s": 1.0, "frame_timeout_s": 0.15, "max_reconnects": 1}
    with RealSenseCamera(spec(recordings["front"], **options)) as cam:
        cam.read(wait_new=True)
        cam.pause_playback()
        time.sleep(0.3)
        # The restarted pipeline delivers again: frames keep coming, not one left over.
        frames = [cam.read(wait_new=True) for _ in range(3)]
        assert cam.reconnects == 1 and all(frame.frame_number < 30 for frame in frames)
        cam.pause_playback()
        time.sleep(0.4)
        with pytest.raises(CameraTimeout, match="after 1 reconnects"):
            cam.read(wait_new=True)


def test_wrong_serial_lists_the_connected_cameras():
    with pytest.raises(CameraNotFound, match="no RealSense with serial 999 .*connected: none"):
        RealSenseCamera(CameraSpec("front", "999")).open()


def test_recording_of_another_serial_is_refused(recordings):
    with pytest.raises(CameraNotFound, match="is of serial 111, not the requested 555"):
        RealSenseCamera(spec(recordings["front"], serial="555")).open()


def test_missing_recording_and_unsupported_stream(recordings, tmp_path):
    with pytest.raises(CameraNotFound, match="does not exist"):
        RealSenseCamera(spec(tmp_path / "none.db3")).open()
    with pytest.raises(Exception, match="cannot start colour 640x480 at 30 fps"):
        RealSenseCamera(CameraSpec("front", recordings["front"])).open()


def test_a_failing_camera_closes_the_ones_already_open(recordings):
    rig = realsense_rig([spec(recordings["front"]), CameraSpec("wrist", "999")])
    with pytest.raises(CameraNotFound):
        rig.open()
    assert rig.cameras == {}


def test_parse_camera_specs():
    specs = parse_camera_specs("front=123,runs/wrist.db3", 320, 240, 15)
    assert [(s.name, s.source, s.is_recording) for s in specs] == [
        ("front", "123", False),
        ("cam1", "runs/wrist.db3", True),
    ]
    assert specs[0].width == 320 and specs[1].fps == 15
    with pytest.raises(ValueError, match="unique"):
        parse_camera_specs("a=1,a=2")
    with pytest.raises(ValueError, match="neither a serial number nor a recording"):
        parse_camera_specs("front=video.mp4")
    with pytest.raises(ValueError, match="no camera"):
        parse_camera_specs(" , ")
