"""Sensor types, one package each (``edge.sensors.<type>``), and the table of them.

See ``edge.sensors.descriptor`` for what a package holds and ``edge.sensors.table``
for the table everything else is derived from. ``docs/architecture.md`` says how
to add a sensor type.
"""
