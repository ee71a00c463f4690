"""Build the broker link from the site file's ``mqtt:`` section (paths relative to the file)."""

from __future__ import annotations

from pathlib import Path

from devices.errors import ConfigurationRefused
from devices.mqtt.paho_link import BrokerSettings, PahoLink, TlsFiles
from gateway.mqtt.config import MqttConfig


class PasswordFileError(ConfigurationRefused):
    """The MQTT password file is missing, unreadable, empty or readable by others."""


def read_password(path: Path) -> str:
    """The password in ``path`` (first line); refuse files others can read."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PasswordFileError(f"{path}: cannot read the MQTT password ({exc})") from None
    if mode & 0o077:
        raise PasswordFileError(f"{path}: password file is readable by others (chmod 600 it)")
    password = text.splitlines()[0].strip() if text.strip() else ""
    if not password:
        raise PasswordFileError(f"{path}: empty")
    return password


def settings_for(cfg: MqttConfig, site_id: str, base: Path) -> BrokerSettings:
    """Broker settings: host, credentials, TLS files resolved against ``base``."""
    password = read_password(base / cfg.password_file) if cfg.password_file else None
    tls = None
    if cfg.tls is not None:
        t = cfg.tls
        tls = TlsFiles(
            str(base / t.ca_file) if t.ca_file else None,
            str(base / t.cert_file) if t.cert_file else None,
            str(base / t.key_file) if t.key_file else None,
        )
    return BrokerSettings(
        host=cfg.host,
        port=cfg.port,
        client_id=cfg.client_id_for(site_id),
        username=cfg.username,
        password=password,
        tls=tls,
        keepalive_s=cfg.keepalive_s,
        reconnect_max_s=cfg.reconnect_max_s,
    )


def build_link(cfg: MqttConfig, site_id: str, base: Path) -> PahoLink:
    """The paho link for this site; ConfigurationRefused when its files are unusable."""
    return PahoLink(settings_for(cfg, site_id, base))
