"""The configuration template an installation starts from: the demo box, made generic.

Built from ``edge/demo/demo.toml`` (which ships in the wheel, unlike any new data
file) so the template cannot drift from a configuration the tests run. The mall
and box ids are left as ``CHANGE-ME``, which the loader refuses, so the services
do not start publishing under a demo identity before a technician has set them.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["PLACEHOLDER", "config_template"]

PLACEHOLDER = "CHANGE-ME"

_HEADER = f"""\
# mallsense configuration of this box (written by `mallsense install`; yours to edit).
#
# Set mall and box (they are {PLACEHOLDER} on purpose: the services refuse to start until
# they are set), the zones, the sensors and the broker; then check with
#   mallsense config validate /etc/mallsense/mallsense.toml
# Every key is described by `mallsense config schema` and docs/configuration.md.
#
# Secrets never go in this file. They are files in /etc/mallsense/credentials/
# (root only, handed to the services by systemd's LoadCredential=):
#   mallsense-key           the mall's pseudonymization key (generated if absent; all
#                           boxes of one mall must have the same one: copy it)
#   mqtt-password           the broker password
#   camera-NAME-password    the RTSP password of camera NAME
# Run `mallsense install` again after adding or removing one.
"""

# (text in the demo, text in the template): each must be found exactly once.
_EDITS = (
    ('mall = "demo-mall"', f'mall = "{PLACEHOLDER}"  # the mall\'s id: the same on all its boxes'),
    ('box = "shop-12"', f'box = "{PLACEHOLDER}"   # this box\'s id, unique in the mall'),
    (
        "# The shop's own stock scanner, known from day one (its MAC is on its label); the\n"
        "# two-hour recording also marks as fixed whatever else stays all along.\n"
        'fixed_devices = ["00:23:68:f1:9f:e7"]\n'
        "fixed_device_after_h = 1.0\n",
        "# Devices known to be fixed (stock scanners, desktop PCs, printers: the MAC on their\n"
        "# label), left out of every figure from their first frame:\n"
        '# fixed_devices = ["aa:bb:cc:dd:ee:ff"]\n',
    ),
    (
        'path = "demo-output/mallsense.db"',
        "# The services may write only in /var/lib/mallsense (systemd's StateDirectory=).\n"
        'path = "/var/lib/mallsense/mallsense.db"',
    ),
    (
        'url = "mqtt://127.0.0.1:1883"',
        '# url = "mqtts://broker.mall.example:8883"\n'
        'url = "mqtt://127.0.0.1:1883"\n'
        '# username = "CHANGE-ME"   # its password: /etc/mallsense/credentials/mqtt-password\n'
        '# ca_file = "/etc/mallsense/broker-ca.pem"',
    ),
)


def config_template() -> str:
    """The demo configuration with an installation's header, paths and placeholders."""
    demo = resources.files("edge.demo").joinpath("demo.toml").read_text(encoding="utf-8")
    lines = demo.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)  # the demo's own header
    body = "".join(lines)
    for old, new in _EDITS:
        if body.count(old) != 1:
            raise RuntimeError(f"edge/demo/demo.toml changed: {old!r} is not there once")
        body = body.replace(old, new)
    return _HEADER + "\n" + body
