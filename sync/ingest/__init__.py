"""The reference platform consumer: MQTT shared subscription -> PostgreSQL (``mallsense ingest``).

``envelopes`` reads and checks a message, ``schema`` makes the tables from the record
models, ``writer`` stores many envelopes per transaction, ``gaps`` keeps ``seq_gaps``,
``consumer`` is one worker, ``localdb`` a throwaway PostgreSQL for tests and benchmarks.
"""

__all__: list[str] = []
