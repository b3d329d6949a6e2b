"""Sensor I/O and pure parsing. Imports nothing from ``edge`` or ``sync``."""

from drivers._native import prefer_source_if_requested

prefer_source_if_requested()
