"""glibc-farm: a container-based test farm for glibc patch series."""

__version__ = "0.1.0"
