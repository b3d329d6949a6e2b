"""The serial line to the printer: settings, pyserial, baud detection, passthrough.

Imported module by module (pyserial is optional): ``line`` (settings, the port
interface), ``serial_line`` (pyserial), ``baud`` and ``quality`` (``auto`` rate
detection, garbage warnings), ``passthrough`` (forwarding to the printer),
``serial_source`` (the daemon's source), ``line_health`` (counters, warnings),
``replay`` (a recording played as the line), ``recorder`` (``mallsense pos
capture``) and ``capture_format`` (the timestamped-chunk replay format).
"""
