"""Bluetooth LE advertisements: from the adapter (or a recording) to ``Advert`` observations.

The flow, one module a step:

- ``source``: the live source, bleak's ``BleakScanner`` on one adapter (BlueZ, its
  watchdog), handing over adverts in batches; needs bleak;
- ``replay``: a recording played as the adapter (a bleak scanner backend), under the
  same ``source``; needs bleak;
- ``recording``: the recording's file format (JSON lines of what bleak reports);
- ``advert_builder``: one report of bleak's (live or replayed) -> a pseudonymous
  ``Advert`` (``AdvertBuilder``, one per sensor);
- ``cached_decoder``: ``BleDecoder``, the per-sensor decoder with caches and counters;
- ``decode/``: the pure decoding steps (AD structures, bleak's parsed form, beacons,
  vendors, device class) and their result, ``Decoded``.

``decode_ad`` / ``decode_hex`` take raw advertising data, ``decode_fields`` /
``decode_advertisement`` take bleak's parsed form; both give the same ``Decoded``.
Nothing here reads a clock outside ``source`` and ``replay``, and nothing imports
from ``edge`` or ``sync``.
"""
