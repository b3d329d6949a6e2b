"""Configuration files as hostile input, and the files they name as secrets.

Issue 17, case 8: a Latin-1 file plus SIGHUP ended the sync agent; ``config validate``
printed tracebacks for a binary file and ``RecursionError`` for nested arrays. Whatever
the file holds, the loader answers with ``ConfigError`` (a one-line head naming the
file, then one line per problem) or a valid configuration, in bounded time; a daemon
reloading such a file refuses it, logs one line and keeps running.

Case 11: a key or password file that others may read, or a named file that is missing,
is an error for ``config validate`` and for ``run``/``sync`` at start and on reload.
Case 13: ``demo --out DIR`` does not empty a folder an earlier demo did not make.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker import Broker, Subscriber
from cli_helpers import DEMO_CONFIG, KEY, MALLSENSE, failed_cleanly, invoke, run_mallsense
from hostile_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from test_reload import RECORDINGS, Daemon, count, env_for, notify
from test_sdnotify import NotifySocket

from edge.config import Config, load_config, parse_config
from edge.config.limits import MAX_CONFIG_BYTES
from edge.demo.run import DEMO_MARKER, may_empty
from edge.errors import ConfigError

__all__ = ["notify"]  # the fixture, shared with test_reload

DEMO_TEXT = DEMO_CONFIG.read_text(encoding="utf-8")
BAD_FILES = {
    "latin1": (DEMO_TEXT.replace("Shop 12", "Café 12").encode("latin-1"), "is not UTF-8 at byte"),
    "binary": (bytes(range(256)) * 8, "is not a text file (control byte 0x00 at byte 0)"),
    "nested": (b"a = " + b"[" * 20_000 + b"]" * 20_000 + b"\n", "nests arrays or tables"),
    "inline": (b"a = " + b"{b = " * 5_000 + b"1" + b"}" * 5_000 + b"\n", "nests arrays or tables"),
    "dotted": (b"a" + b".a" * 50_000 + b" = 1\n", "has a dotted key of more than"),
    "huge": (b"# padding\n" * (MAX_CONFIG_BYTES // 10 + 1), "a configuration file is at most"),
}


def one_line_error(exc: ConfigError) -> None:
    """The head is one line; each problem is one line."""
    head = str(exc.args[0])
    assert head and len(head.splitlines()) == 1, head
    assert all(len(p.splitlines()) == 1 for p in exc.problems), exc.problems
    assert len(str(exc).splitlines()) == 1 + len(exc.problems)


# -- config validate on hostile files ------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "upgrade"])
@pytest.mark.parametrize("name", list(BAD_FILES))
def test_validate_refuses_a_hostile_file_in_one_line(
    tmp_path: Path, name: str, command: str
) -> None:
    data, needle = BAD_FILES[name]
    path = tmp_path / f"{name}.toml"
    path.write_bytes(data)
    stderr = failed_cleanly(invoke("config", command, path), str(path), needle)
    assert len(stderr.splitlines()) == 1, stderr
    assert path.read_bytes() == data  # `config upgrade` wrote nothing


def test_the_latin1_message_names_the_byte_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "box.toml"
    data = BAD_FILES["latin1"][0]
    path.write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path} is not UTF-8 at byte {data.index(b'Caf') + 3}: save the file as UTF-8"
    )


@pytest.mark.parametrize("name", ["binary", "nested", "huge"])
def test_validate_as_a_real_process_prints_no_traceback(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.toml"
    path.write_bytes(BAD_FILES[name][0])
    done = run_mallsense("config", "validate", path, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_a_fifo_or_a_directory_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # opening it would block until a writer came
    failed_cleanly(invoke("config", "validate", fifo), "is not a regular file")
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_config(tmp_path)


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "box.toml"
    path.write_bytes(b"\xef\xbb\xbf" + DEMO_TEXT.encode())
    assert load_config(path).box == "shop-12"


def test_many_problems_are_capped(tmp_path: Path) -> None:
    text = 'mall = "m"\nbox = "b"\n' + "".join(f'[[zones]]\nid = "Z{i}"\n' for i in range(500))
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "box.toml")
    assert str(caught.value.args[0]) == "box.toml has 500 problem(s):"
    assert len(caught.value.problems) == 51
    assert caught.value.problems[-1] == "... and 450 more (fix these first)"


def test_quoted_keys_and_long_values_stay_on_one_line() -> None:
    text = DEMO_TEXT + '\n"two\\nlines\\u2028here" = 1\n' + "[extra]\nx = 1\n"
    text = text.replace('box = "shop-12"', f'box = "{"x" * 5000}"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "box.toml")
    one_line_error(caught.value)
    assert any(
        p.startswith("mqtt.two\\nlines\\u2028here: unknown key") for p in caught.value.problems
    )
    assert all(len(p) < 400 for p in caught.value.problems)


# -- fuzzing: any bytes --------------------------------------------------------------------

_TOML_BITS = st.sampled_from(
    ["[", "]", "{", "}", "[[", "]]", ".", "=", ",", '"', "'", '"""', "'''", "#", "\n", "\\",
     "a", "zones", "id", "1", "1.5", " ", "\t", "\r", "é", "\x00", "\ufeff", "true"]
)  # fmt: skip


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ms-hostile-config-") as tmp:
        yield Path(tmp)


def load_bytes(scratch: Path, data: bytes) -> Config | None:
    """Load ``data`` as a file: a Config, or None after checking the ConfigError."""
    path = scratch / "fuzz.toml"
    path.write_bytes(data)
    started = time.monotonic()
    try:
        return load_config(path, check_files=True)
    except ConfigError as exc:
        one_line_error(exc)
        assert str(path) in str(exc.args[0])
        return None
    finally:
        assert time.monotonic() - started < 10


@FUZZ
@given(data=st.binary(max_size=4096))
def test_fuzz_any_bytes(scratch: Path, data: bytes) -> None:
    load_bytes(scratch, data)


@FUZZ
@given(bits=st.lists(_TOML_BITS, max_size=400), repeat=st.integers(1, 200))
def test_fuzz_toml_punctuation(scratch: Path, bits: list[str], repeat: int) -> None:
    text = "".join(bits)
    load_bytes(scratch, (text * repeat).encode("utf-8", "surrogatepass"))


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(DEMO_TEXT)), st.integers(0, 8), _TOML_BITS), max_size=12
    )
)
def test_fuzz_a_damaged_demo_config(scratch: Path, edits: list[tuple[int, int, str]]) -> None:
    data = DEMO_TEXT.encode()
    for at, cut, bit in edits:
        data = data[:at] + bit.encode() + data[at + cut :]
    load_bytes(scratch, data)


# -- secrets: modes and missing files -------------------------------------------------------


def secret(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def with_files(
    directory: Path, *, text: str = DEMO_TEXT, key_file: Path | None = None, **mqtt: Path
) -> Path:
    """The demo config naming ``key_file`` (privacy) and ``mqtt`` files (password_file, ...)."""
    lines = "".join(f'{k} = "{v}"\n' for k, v in mqtt.items())
    text = text.replace("[mqtt]\n", "[mqtt]\n" + lines)
    if key_file is not None:
        text += f'\n[privacy]\nkey_file = "{key_file}"\n'
    path = directory / "box.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_config_has_an_mqtt_table() -> None:
    assert "\n[mqtt]\n" in DEMO_TEXT and "[privacy]" not in DEMO_TEXT


def test_a_key_file_others_may_read_is_invalid(tmp_path: Path) -> None:
    key = secret(tmp_path / "key", KEY, 0o644)
    config = with_files(tmp_path, key_file=key)
    stderr = failed_cleanly(invoke("config", "validate", config), "privacy.key_file")
    assert "mode 0644 lets every user of the box read the pseudonymization key" in stderr
    assert f"run `chmod 600 {key}`" in stderr
    key.chmod(0o640)
    assert "lets its group read" in failed_cleanly(invoke("config", "validate", config))
    for good in (0o600, 0o400):
        key.chmod(good)
        assert invoke("config", "validate", config).exit_code == 0


def test_missing_secret_and_tls_files_are_invalid(tmp_path: Path) -> None:
    config = with_files(
        tmp_path,
        key_file=tmp_path / "no-key",
        password_file=tmp_path / "no-password",
        ca_file=tmp_path / "no-ca.pem",
        cert_file=tmp_path / "no-cert.pem",
    )
    tls_key = f'key_file = "{tmp_path / "no-tls.key"}"'  # mqtt.key_file, beside privacy's
    config.write_text(config.read_text().replace("[mqtt]\n", f"[mqtt]\n{tls_key}\n"))
    stderr = failed_cleanly(invoke("config", "validate", config), f"{config} has 5 problem(s)")
    for key_path in ("privacy.key_file", "mqtt.password_file", "mqtt.ca_file", "mqtt.cert_file",
                     "mqtt.key_file"):  # fmt: skip
        assert f"  - {key_path} (got '" in stderr and "the file does not exist" in stderr
    # Written on a laptop for another box: --offline checks the file alone.
    offline = invoke("config", "validate", "--offline", config)
    assert offline.exit_code == 0, offline.output
    assert "were not checked (--offline)" in offline.stdout


def test_a_directory_as_password_file_is_invalid(tmp_path: Path) -> None:
    config = with_files(tmp_path, password_file=tmp_path)
    failed_cleanly(invoke("config", "validate", config), "mqtt.password_file", "not a regular")


def test_run_refuses_to_start_with_a_key_others_may_read(tmp_path: Path) -> None:
    key = secret(tmp_path / "key", KEY, 0o644)
    config = with_files(
        tmp_path, text=DEMO_TEXT.replace("demo-output/", f"{tmp_path}/"), key_file=key
    )
    simulate = [f"--simulate={n}={p}" for n, p in RECORDINGS.items()]
    done = run_mallsense("run", "--config", config, *simulate, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"chmod 600 {key}" in done.stderr and "Traceback" not in done.stderr


def test_sync_refuses_to_start_without_its_ca_file(tmp_path: Path) -> None:
    text = DEMO_TEXT.replace("demo-output/", f"{tmp_path}/").replace("mqtt://", "mqtts://")
    config = with_files(tmp_path, text=text, ca_file=tmp_path / "ca.pem")
    done = run_mallsense("sync", "--config", config, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "mqtt.ca_file" in done.stderr and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


# -- both daemons: SIGHUP with a hostile file -----------------------------------------------

REFUSALS = [("latin1", "is not UTF-8 at byte"), ("binary", "is not a text file"),
            ("nested", "nests arrays"), ("dotted", "dotted key"), ("huge", "at most")]  # fmt: skip


def refuse_each(daemon: Daemon, config: Path) -> None:
    """Write each hostile file, SIGHUP: refused in one line, the process goes on."""
    good = config.read_bytes()
    for name, needle in REFUSALS:
        config.write_bytes(BAD_FILES[name][0])
        line = daemon.reload("config refused:")
        assert needle in line and line.endswith("keeping the running config"), line
        assert daemon.proc.poll() is None
    config.write_bytes(good)


@pytest.mark.broker
def test_the_sync_agent_survives_hostile_files_on_sighup(
    tmp_path: Path, broker: Broker, notify: NotifySocket
) -> None:
    db = tmp_path / "box.db"
    replay = ("replay", "--config", DEMO_CONFIG, "--db", db)
    assert invoke(*replay, "--wifi", f"entrance={RECORDINGS['entrance']}", key=KEY).exit_code == 0
    password = secret(tmp_path / "mqtt-password", "s3cret")
    text = DEMO_TEXT.replace('path = "demo-output/mallsense.db"', f'path = "{db}"')
    text = text.replace("mqtt://127.0.0.1:1883", broker.url)
    config = with_files(tmp_path, text=text, password_file=password)
    config.write_text(config.read_text().replace("[mqtt]\n", '[mqtt]\nusername = "box"\n'))
    platform = Subscriber(broker.host, broker.port, "mallsense/v1/demo-mall/shop-12/data/+")
    sync = Daemon([*MALLSENSE, "sync", "--config", str(config)], env_for(notify),
                  tmp_path / "sync.log", notify)  # fmt: skip
    try:
        sync.wait_for(lambda: count(db, "outbox") == 0)
        refuse_each(sync, config)
        password.chmod(0o644)  # case 11: on reload too
        assert f"chmod 600 {password}" in sync.reload("config refused:")
        password.chmod(0o600)
        config.write_text(config.read_text() + "telemetry_interval_s = 30\n")
        sync.reload("config reloaded: changed mqtt.telemetry_interval_s")
        more = invoke(*replay, "--wifi", f"shop={RECORDINGS['shop']}", key=KEY)
        assert more.exit_code == 0, more.output
        sync.wait_for(lambda: count(db, "outbox") == 0)  # still shipping
    finally:
        code = sync.stop()
        platform.close()
    assert code == 0, sync.text()[-3000:]
    assert "Traceback" not in sync.text()


def test_the_edge_daemon_survives_hostile_files_on_sighup(
    tmp_path: Path, notify: NotifySocket
) -> None:
    db = tmp_path / "box.db"
    key = secret(tmp_path / "key", KEY)
    text = DEMO_TEXT.replace('path = "demo-output/mallsense.db"', f'path = "{db}"')
    config = with_files(tmp_path, text=text, key_file=key)
    simulate = [f"--simulate={n}={p}" for n, p in RECORDINGS.items()]
    argv = [*MALLSENSE, "run", "--config", str(config), *simulate, "--simulate-speed", "100"]
    edge = Daemon(argv, env_for(notify), tmp_path / "edge.log", notify)
    try:
        edge.wait_for(lambda: db.exists() and count(db, "records") > 20)
        refuse_each(edge, config)
        key.chmod(0o640)
        assert f"chmod 600 {key}" in edge.reload("config refused:")
        key.chmod(0o600)
        written = count(db, "records")
        edge.wait_for(lambda: count(db, "records") > written + 5)  # still sensing
    finally:
        code = edge.stop()
    assert code == 0, edge.text()[-3000:]
    assert "Traceback" not in edge.text()


# -- demo --out ----------------------------------------------------------------------------


def test_demo_does_not_empty_a_folder_it_did_not_make(tmp_path: Path) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter-1.tex").write_text("months of work\n", encoding="utf-8")
    result = invoke("demo", "--out", out)
    assert result.exit_code == 2, result.output
    assert f"{out} is not empty and was not made by `mallsense demo`" in result.stderr
    assert "--force" in result.stderr
    assert (out / "chapter-1.tex").read_text(encoding="utf-8") == "months of work\n"


def test_demo_may_empty_only_its_own_or_an_empty_folder(tmp_path: Path) -> None:
    assert may_empty(tmp_path / "new") and may_empty(tmp_path)
    (tmp_path / "notes.txt").write_text("mine\n", encoding="utf-8")
    assert not may_empty(tmp_path) and not may_empty(tmp_path / "notes.txt")
    (tmp_path / DEMO_MARKER).write_text("made by `mallsense demo`\n", encoding="utf-8")
    assert may_empty(tmp_path)
