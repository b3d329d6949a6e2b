"""The hour's pseudonym sets (edge.aggregate.idset): exact counts at 8 bytes a pseudonym."""

from __future__ import annotations

import orjson

from drivers.privacy import Pseudonymizer
from edge.aggregate.idset import PseudonymSet, key_of, keys_of
from edge.aggregate.state import HourState
from edge.checkpoint_json import dump_checkpoint

KEY = b"idset-test-key-0123456789abcdefg"


def pseudonyms(n: int) -> list[str]:
    """``n`` locally administered MACs, pseudonymized as the parser does."""
    p = Pseudonymizer(KEY)
    return [p.pseudonym(b"\x02\x00\x00" + i.to_bytes(3, "big"), 0.0) for i in range(n)]


def test_counts_distinct_pseudonyms_across_windows() -> None:
    names = pseudonyms(5000)
    hour = PseudonymSet()
    hour.update(names[:3000])
    hour.update(names[2000:])  # 1,000 heard again
    assert len(hour) == 5000
    assert names[0] in hour and "not-heard" not in hour


def test_a_pseudonym_is_kept_as_its_own_64_bits() -> None:
    (name,) = pseudonyms(1)
    assert len(name) == 16 and key_of(name) == int(name, 16)
    assert key_of("a") == key_of("a") != key_of("b")  # other keys: a stable hash


def test_a_checkpoint_restores_the_same_set_in_either_form() -> None:
    names = [*pseudonyms(300), "a", "b"]
    hour = PseudonymSet(names)
    written = orjson.loads(dump_checkpoint({"hour": hour.to_json()}))["hour"]
    assert all(isinstance(k, int) for k in written)
    again = PseudonymSet(written)
    assert len(again) == 302 and all(n in again for n in names)
    before = PseudonymSet(sorted(names))  # a checkpoint from before: hex strings
    assert before.to_json().tolist() == again.to_json().tolist()


def test_keys_taken_for_a_checkpoint_do_not_change_afterwards() -> None:
    hour = PseudonymSet(pseudonyms(10))
    taken = hour.to_json()
    hour.update(pseudonyms(20))
    assert len(taken) == 10 and len(hour) == 20


def test_an_hour_of_a_crowd_holds_8_bytes_a_pseudonym() -> None:
    names = pseudonyms(50_000)
    hour = HourState(0.0)
    for window in range(50):
        hour.raw.update(names[window * 1000 : (window + 1) * 1000])
    assert len(hour.raw) == 50_000
    assert hour.raw.to_json().nbytes == 8 * 50_000  # as strings in a set: about 6 MB


def test_many_at_once_read_the_same_keys_as_one_by_one() -> None:
    names = pseudonyms(1000)
    assert keys_of(names).tolist() == [key_of(n) for n in names]
    mixed = [*names[:3], "a", "not-hex-16-chars"]
    assert keys_of(mixed).tolist() == [key_of(n) for n in mixed]
