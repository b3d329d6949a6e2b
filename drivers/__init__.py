"""Sensor I/O and pure parsing. Imports nothing from ``edge`` or ``sync``."""
