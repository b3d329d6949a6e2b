"""The reference platform consumer: MQTT shared subscription -> PostgreSQL (``mallsense ingest``).

``envelopes`` reads and checks a message, ``schema`` makes the tables from the record
models, ``writer`` stores many envelopes per transaction, ``gaps`` keeps ``seq_gaps``,
``consumer`` is one worker. (The throwaway PostgreSQL of the tests and benchmarks is a test
fixture: ``tests/fixtures/local_postgres.py``.)
"""

__all__: list[str] = []
