"""reloader: roll workloads once per real ConfigMap/Secret change; apply git to the cluster."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reloader")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
