"""Intel RealSense colour cameras through pyrealsense2, live or played back from a recording.

    with RealSenseCamera(CameraSpec("front", "123622270136")) as camera:
        frame = camera.read()                 # Frame: uint8 RGB image + capture/arrival times

One rs.pipeline per camera; a recording (.db3 rosbag2 or .bag) goes through the same pipeline
via `enable_device_from_file`. A background thread keeps only the newest frame with its device
timestamp and host arrival time. `read()` never silently reuses an old frame: a frame older than
`stale_after_s` raises CameraStale, no frame within `frame_timeout_s` raises CameraTimeout, the
end of a recording raises CameraEnded. When frames stop, the thread hardware-resets a live camera
(`dev.hardware_reset()`), waits for it to re-enumerate and restarts its pipeline, at most
`max_reconnects` times. `query_devices()` is checked before a pipeline starts, because starting
one for an absent camera blocks about 15 s.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from robots.cameras.camera import (
    CameraEnded,
    CameraError,
    CameraNotFound,
    CameraRig,
    CameraSpec,
    CameraStale,
    CameraStats,
    CameraTimeout,
    Frame,
)

__all__ = ["RealSenseCamera", "realsense_rig", "connected_serials"]


def _rs():
    try:
        import pyrealsense2 as rs
    except ImportError as e:  # libusb missing is the usual cause
        raise CameraError(
            f"realsense: pyrealsense2 cannot be imported ({e}); on Debian/Ubuntu install "
            "libusb-1.0-0 (apt-get install libusb-1.0-0)"
        ) from e
    return rs


def connected_serials() -> list[str]:
    """Serial numbers of the RealSense devices connected now (returns at once)."""
    rs = _rs()
    return [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]


def wait_until(predicate, timeout_s: float, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True


class RealSenseCamera:
    """One camera: a pipeline plus a reader thread that keeps the newest frame."""

    def __init__(self, spec: CameraSpec):
        self.spec = spec
        self.reconnects = 0
        self._rs = _rs()
        self._pipeline = None
        self._playback = None
        self._latest: Frame | None = None
        self._returned_number: int | None = None
        self._failure: CameraError | None = None
        self._ended = False
        # pause_playback's stall: a looping recording restarted at its end stays paused; a
        # reconnect (a hardware reset on a live camera) ends it.
        self._paused = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- start -------------------------------------------------------------------------------
    def open(self) -> RealSenseCamera:
        spec = self.spec
        if spec.is_recording:
            if not Path(spec.source).is_file():
                raise CameraNotFound(f"camera {spec.name}: recording {spec.source} does not exist")
        else:
            serials = connected_serials()
            if spec.source not in serials:
                raise CameraNotFound(
                    f"camera {spec.name}: no RealSense with serial {spec.source} is connected; "
                    f"connected: {', '.join(serials) if serials else 'none'}"
                )
        self._start_pipeline()
        try:
            for _ in range(spec.warmup_frames):
                self._pipeline.wait_for_frames(int(spec.frame_timeout_s * 1000))
        except RuntimeError as e:
            self._stop_pipeline()
            raise CameraTimeout(
                f"camera {spec.name}: no frame during warm-up within {spec.frame_timeout_s} s: {e}"
            ) from e
        self._thread = threading.Thread(target=self._run, name=f"camera-{spec.name}", daemon=True)
        self._thread.start()
        return self

    def _start_pipeline(self) -> None:
        rs, spec = self._rs, self.spec
        config = rs.config()
        if spec.is_recording:
            config.enable_device_from_file(str(spec.source), repeat_playback=spec.loop)
        else:
            config.enable_device(spec.source)
        config.enable_stream(rs.stream.color, spec.width, spec.height, rs.format.rgb8, spec.fps)
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(config)
        except RuntimeError as e:
            raise CameraError(
                f"camera {spec.name}: cannot start colour {spec.width}x{spec.height} at {spec.fps} fps "
                f"from {spec.source}: {e}"
            ) from e
        if spec.is_recording:
            device = profile.get_device()
            recorded = device.get_info(rs.camera_info.serial_number)
            if spec.serial is not None and recorded != spec.serial:
                del device, profile  # no device handle outlives its pipeline (_stop_pipeline)
                pipeline.stop()
                raise CameraNotFound(
                    f"camera {spec.name}: recording {spec.source} is of serial {recorded}, "
                    f"not the requested {spec.serial}"
                )
            playback = device.as_playback()
            playback.set_real_time(spec.real_time)
            with self._cond:  # pause_playback may run meanwhile, on the old playback
                self._playback = playback
                if self._paused:
                    playback.pause()
        self._pipeline = pipeline

    def _restart_pipeline(self) -> None:
        self._stop_pipeline()
        self._start_pipeline()

    def _stop_pipeline(self) -> None:
        # The playback device goes first: librealsense can crash when a device handle outlives
        # the pipeline it came from (librealsense#4897; seen here as a segfault in close()).
        with self._cond:
            self._playback = None
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            try:
                pipeline.stop()
            except RuntimeError:
                pass  # already stopped

    # -- reader thread -----------------------------------------------------------------------
    def _run(self) -> None:
        spec = self.spec
        poll_ms = int(1000 * min(spec.frame_timeout_s, 0.1))  # short waits: notice an end early
        last_frame = time.monotonic()
        while not self._stop.is_set():
            try:
                frames = self._pipeline.wait_for_frames(poll_ms)
            except RuntimeError as e:
                if self._stop.is_set():
                    return
                if (
                    self._playback is not None
                    and self._playback.current_status() == self._rs.playback_status.stopped
                ):
                    if not spec.loop:
                        self._finish(None, ended=True)
                        return
                    # librealsense's repeat can stop at the end of the file when this thread is
                    # late (a loaded machine): a looping recording starts again, it never ends.
                    restart = self._restart_pipeline
                elif time.monotonic() - last_frame < spec.frame_timeout_s:
                    continue
                elif self.reconnects >= spec.max_reconnects:
                    self._finish(
                        CameraTimeout(
                            f"camera {spec.name}: no frame for {spec.frame_timeout_s} s after "
                            f"{self.reconnects} reconnects: {e}"
                        )
                    )
                    return
                else:
                    restart = self._reconnect
                if self._stop.is_set():  # close() owns the pipeline now: never restart under it
                    return
                try:
                    restart()
                except CameraError as failure:
                    self._finish(failure)
                    return
                last_frame = time.monotonic()
                continue
            last_frame = time.monotonic()
            color = frames.get_color_frame()
            if not color:
                continue
            frame = Frame(
                camera=spec.name,
                image=np.asanyarray(color.get_data()).copy(),
                frame_number=int(color.get_frame_number()),
                device_timestamp_ms=float(color.get_timestamp()),
                timestamp_domain=color.get_frame_timestamp_domain().name,
                arrival_time=time.time(),
                arrival_monotonic=time.monotonic(),
            )
            with self._cond:
                self._latest = frame
                self._cond.notify_all()

    def _finish(self, failure: CameraError | None, *, ended: bool = False) -> None:
        with self._cond:
            self._failure, self._ended = failure, ended
            self._cond.notify_all()

    def _reconnect(self) -> None:
        """Hardware-resets a live camera (or restarts a recording) and restarts the pipeline."""
        spec = self.spec
        self.reconnects += 1
        device = (
            None if spec.is_recording else self._pipeline.get_active_profile().get_device()
        )
        self._stop_pipeline()
        if device is not None:
            device.hardware_reset()
            time.sleep(1.0)  # the camera drops off the bus before it comes back
            if not wait_until(lambda: spec.source in connected_serials(), spec.reconnect_timeout_s):
                raise CameraTimeout(
                    f"camera {spec.name}: did not come back within {spec.reconnect_timeout_s} s of a hardware reset"
                )
        with self._cond:
            self._paused = False
        self._start_pipeline()

    # -- reading -----------------------------------------------------------------------------
    def read(self, *, wait_new: bool = False) -> Frame:
        """The newest frame; with wait_new, the first one newer than the last returned."""
        spec = self.spec
        deadline = time.monotonic() + spec.frame_timeout_s + 0.2  # the reader decides first
        with self._cond:
            while True:
                frame = self._latest
                fresh = frame is not None and not (
                    wait_new and frame.frame_number == self._returned_number
                )
                if self._failure is not None:
                    raise self._failure
                if self._ended:
                    raise CameraEnded(f"camera {spec.name}: recording {spec.source} has ended")
                if fresh:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CameraTimeout(
                        f"camera {spec.name}: no {'new ' if wait_new else ''}frame within {spec.frame_timeout_s} s"
                    )
                self._cond.wait(remaining)
            age = time.monotonic() - frame.arrival_monotonic
            if age > spec.stale_after_s:
                raise CameraStale(
                    f"camera {spec.name}: newest frame is {age:.3f} s old (limit {spec.stale_after_s} s)"
                )
            self._returned_number = frame.frame_number
            return frame

    def measure(self, frames: int = 30) -> CameraStats:
        """Reads `frames` new frames and reports the measured rate and capture-to-arrival latency."""
        got = [self.read(wait_new=True) for _ in range(frames)]
        span = got[-1].arrival_monotonic - got[0].arrival_monotonic
        latencies = [f.arrival_time - f.capture_time for f in got if f.capture_time is not None]
        return CameraStats(
            name=self.spec.name,
            width=int(got[-1].image.shape[1]),
            height=int(got[-1].image.shape[0]),
            fps=float(self.spec.fps),
            measured_fps=(len(got) - 1) / span if span > 0 else float("inf"),
            latency_ms=1000.0 * float(np.median(latencies)) if len(latencies) == len(got) else None,
            frames=len(got),
        )

    def pause_playback(self) -> None:
        """Recordings only: stop delivering frames (as a stalled camera would); for tests."""
        if not self.spec.is_recording:
            raise CameraError(f"camera {self.spec.name}: pause_playback needs a recording")
        # The reader thread restarts a looping recording that reached its end; the flag makes the
        # new playback start paused, where pausing only the old one left frames coming.
        with self._cond:
            self._paused = True
            if self._playback is not None:
                self._playback.pause()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.spec.frame_timeout_s + 2.0)
        self._stop_pipeline()

    def __enter__(self) -> RealSenseCamera:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def realsense_rig(specs: list[CameraSpec]) -> CameraRig:
    """A rig of RealSense cameras (live by serial, or played back from recordings)."""
    return CameraRig(specs, RealSenseCamera)
