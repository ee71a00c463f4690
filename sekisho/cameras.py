"""Cameras from the site file: OpenCV drivers and the core's camera service (issue 7).

Evidence lives in the data folder (``camera_evidence.dir``, default ``DATA_DIR/evidence``),
sealed with the key in ``camera_evidence.key_file`` (default ``DATA_DIR/camera-evidence.key``,
0600, created on first use). A relative file source is relative to the site file's folder.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from devices.camera import AnalysisSettings, Inside, OpenCvCamera, PictureSettings, StreamSettings
from gateway.cameras.config import CameraConfig
from gateway.cameras.crypto import load_or_create_key
from gateway.cameras.service import CameraService
from gateway.config.site import SiteConfig
from gateway.runtime import Gateway

_NETWORK = ("rtsp://", "rtsps://", "http://", "https://", "device:")


def _source(cfg: CameraConfig, base: Path) -> str:
    """The source, with a relative file path made absolute against the site file's folder."""
    if cfg.source.startswith(_NETWORK):
        return cfg.source
    path = Path(cfg.source.removeprefix("file:"))
    return f"file:{path if path.is_absolute() else base / path}"


def build_camera(cfg: CameraConfig, base: Path) -> OpenCvCamera:
    """One OpenCV camera driver from its site-file entry."""
    s, p, a = cfg.stream, cfg.picture, cfg.analysis
    return OpenCvCamera(
        cfg.id,
        _source(cfg, base),
        stream=StreamSettings(
            buffer_s=s.buffer_s,
            buffer_fps=s.buffer_fps,
            open_timeout_s=s.open_timeout_s,
            read_timeout_s=s.read_timeout_s,
            offline_after_s=s.offline_after_s,
            backoff_initial_s=min(0.5, s.backoff_max_s),
            backoff_max_s=s.backoff_max_s,
            jpeg_quality=s.jpeg_quality,
        ),
        picture=PictureSettings(
            frozen_after_s=p.frozen_after_s,
            frozen_diff=p.frozen_diff,
            blinded_after_s=p.blinded_after_s,
            dark_level=p.dark_level,
            min_contrast=p.min_contrast,
            clear_after_s=p.clear_after_s,
        ),
        analysis=AnalysisSettings(
            width=a.width,
            max_fps=a.max_fps,
            door_line=a.door_line,
            inside=Inside(a.inside),
            line_band=a.line_band,
            min_blob=a.min_blob,
            max_jump=a.max_jump,
            motion_level=a.motion_level,
            motion_quiet_s=a.motion_quiet_s,
            var_threshold=a.var_threshold,
            learning_rate=a.learning_rate,
        ),
    )


def build_cameras(site: SiteConfig, base: Path) -> list[OpenCvCamera]:
    """Every camera of the site file."""
    return [build_camera(c, base) for c in site.cameras]


def attach_cameras(
    gateway: Gateway,
    engine: Engine,
    *,
    base: Path,
    data_dir: Path,
    cameras: list[OpenCvCamera] | None = None,
) -> CameraService | None:
    """The camera service of a site with cameras (None without); start it after the gateway."""
    site = gateway.site
    if not site.cameras:
        return None
    ev = site.camera_evidence
    # Fail before anything starts when the key file is unusable (readable by others, not a
    # key): EvidenceKeyError names the file and what to do. Created here on first use.
    load_or_create_key(data_dir / ev.key_file)
    return CameraService(
        gateway,
        engine,
        build_cameras(site, base) if cameras is None else cameras,
        evidence_dir=data_dir / ev.dir,
        key_file=data_dir / ev.key_file,
    )
