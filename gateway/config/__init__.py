"""Site configuration: the YAML file that describes one site's zones, doors and devices."""

from gateway.config.load import ConfigError, load_site
from gateway.config.site import SiteConfig

__all__ = ["ConfigError", "SiteConfig", "load_site"]
