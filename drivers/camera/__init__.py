"""Camera footfall: capture, motion gating, person detection, tracking and counting.

Frames, crops and faces stay inside this package; what leaves it are the plain
observations of ``drivers.camera.observations`` (counts, occupancy, dwell times).
"""
