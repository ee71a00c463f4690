"""Camera driver: OpenCV sources read in a worker thread, a ring buffer, picture checks,
motion and door-line counting (4-8-7(4)); see ``devices.camera.driver``."""

from devices.camera.driver import OpenCvCamera
from devices.camera.settings import AnalysisSettings, Inside, PictureSettings, StreamSettings
from devices.camera.source import MemoryReader, OpenCvReader

__all__ = [
    "AnalysisSettings",
    "Inside",
    "MemoryReader",
    "OpenCvCamera",
    "OpenCvReader",
    "PictureSettings",
    "StreamSettings",
]
