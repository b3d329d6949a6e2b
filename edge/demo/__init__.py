"""The demo (``mallsense demo``, ``make demo``): the whole box on a simulated shop.

What the command needs, and only that: ``run`` (the box, a consumer playing the
platform, the live view), ``broker`` (a throwaway local Mosquitto), ``privacy_check``
(no address of the recordings reached the database or the messages) and
``demo.toml`` (also the template of ``mallsense install``). The recordings in
``samples/`` are not in the wheel: the demo runs from a source checkout. Their
generators are test fixtures (``tests/fixtures/``, ``make samples``).
"""
