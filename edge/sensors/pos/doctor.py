"""Doctor's check of a POS sensor: its ports (the POS side's, and the printer's with
passthrough) open with pyserial exactly as the live source opens them (exclusively),
and close again; the printer's text encoding, configured or detected, is said."""

from __future__ import annotations

from typing import Any

from edge.doctor.host import Host, edge_running
from edge.doctor.result import Check
from edge.sensors.pos.config import PosSensorConfig

__all__ = ["check"]


def check(sensor: PosSensorConfig, host: Host) -> Check:
    """The POS side's port (and the printer's, with passthrough) open, as the source opens them."""
    name = f"pos:{sensor.name}"
    from drivers.pos.line.line import LineError
    from drivers.pos.line.serial_line import open_serial_line
    from edge.sensors.pos.settings import describe_encoding, line_settings

    settings = line_settings(sensor)
    if settings.baudrate is None:
        settings = settings.at(9600)  # auto: any rate opens the port; the source detects it
    ports = [("port", sensor.port)]
    if sensor.passthrough_port is not None:
        ports.append(("passthrough_port", sensor.passthrough_port))
    opened: list[str] = []
    facts: dict[str, Any] = {"ports": dict(ports)}
    for key, port in ports:
        try:
            line = open_serial_line(port, settings)
        except LineError as exc:
            if "in use" in str(exc) and edge_running(host):
                detail = f"{key} {port} is in use, most likely by the running mallsense-edge"
                fix = "to open it here, stop mallsense-edge first; its status shows the line"
                return Check(name, "warn", detail, fix, facts)
            detail, fix = _serial_problem(key, port, str(exc))
            return Check(name, "fail", detail, fix, facts)
        opened.append(port if line.device == port else f"{port} (-> {line.device})")
        line.close()
    baud = "auto" if sensor.baudrate == "auto" else str(sensor.baudrate)
    encoding = describe_encoding(sensor)
    detail = f"{' and '.join(opened)} opened (baud rate {baud}), printer encoding {encoding}"
    return Check(name, "pass", detail, facts=facts)


_SERIAL_PROBLEMS = (
    # (what the drivers' message says, the detail here, the fix)
    (
        "does not exist",
        "does not exist",
        "plug the USB serial adapter in (`ls -l /dev/serial/by-id/` lists the adapters), or"
        " correct the sensor's {key} key",
    ),
    (
        "permission denied",
        "cannot be opened: permission denied",
        "add the service user to the 'dialout' group (`sudo usermod -aG dialout mallsense`),"
        " then restart mallsense-edge",
    ),
    (
        "in use",
        "is in use by another program",
        "stop the program holding it (a getty, ModemManager, a terminal program), or use"
        " another port",
    ),
)


def _serial_problem(key: str, port: str, message: str) -> tuple[str, str]:
    """(detail, fix) from the POS driver's explanation of a port that does not open."""
    for words, detail, fix in _SERIAL_PROBLEMS:
        if words in message:
            return f"{key} {port} {detail}", fix.format(key=key)
    fix = "check the adapter and its cable (`dmesg | tail` shows what the kernel saw)"
    return f"{key}: {message}", fix
