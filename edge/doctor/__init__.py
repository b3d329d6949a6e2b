"""``mallsense doctor``: is this box able to work? One line per check, with the fix in words.

Checks, in order: the configuration; the pseudonymization key (present, valid,
readable only by whom it must); each Wi-Fi interface (exists, up, monitor mode);
each Bluetooth adapter (present, unblocked, powered); each camera (opens, gives a
picture, its model is there); each POS line (its ports open); the broker (TLS,
credentials, access rules: ``sync.check``'s steps); the clock (synchronized); the
disk budget; the database (``PRAGMA quick_check``). Nothing is written anywhere
except one QoS 1 test message to the box's own ``check`` topic.
"""

from edge.doctor.host import Host
from edge.doctor.result import STATUSES, Check, Status
from edge.doctor.runner import AREAS, SKIPPABLE, run_doctor

__all__ = ["AREAS", "SKIPPABLE", "STATUSES", "Check", "Host", "Status", "run_doctor"]
