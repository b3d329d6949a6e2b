"""The crowd simulator and benchmark: a mall day of phones that randomize their MACs.

``render.generate`` writes one pcap per sensor plus the truth; ``evaluate``
replays them through the real parser and ``edge.grouping``; ``run.py`` prints
the figures (raw MAC counting against grouping). Imported as ``crowd`` with
``benchmarks/`` on the path (the benchmarks folder is not a package).
"""
