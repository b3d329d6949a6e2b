# mallsense — two commands for a newcomer: `make demo` and `make test`.
# Both create the virtual environment and install the Debian tools they need
# (mosquitto, tshark, tcpdump, postgresql) when missing; apt needs root, as on the box itself.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NATIVE := $(VENV)/.native
# The per-frame hot path (drivers._native.HOT_MODULES) is compiled with mypyc.
HOT_SOURCES := $(wildcard drivers/*.py drivers/wifi/*.py edge/aggregate/*.py edge/grouping/*.py)

.PHONY: demo test lint typecheck unit unit-pure tools footage venv samples bench deb clean

demo: venv tools
	$(BIN)/mallsense demo

test: venv tools footage lint typecheck unit unit-pure

venv: $(STAMP) $(NATIVE)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NATIVE): $(STAMP) $(HOT_SOURCES)
	$(BIN)/python -m edge.build_native
	touch $(NATIVE)

# Installs only what is missing; `apt-get update` only when something is.
tools:
	@missing=""; \
	command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || missing="$$missing mosquitto"; \
	command -v tshark >/dev/null || missing="$$missing tshark"; \
	command -v tcpdump >/dev/null || test -x /usr/bin/tcpdump || missing="$$missing tcpdump"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing with apt-get"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Real camera footage for tests/test_camera_footage.py (after `tools`, for `make test` only,
# not `make demo`): vtest.avi from Debian's opencv-doc, downloaded once (about 96 MB, the
# .deb is deleted after, 8 MB kept); its tests skip when this cannot run.
FOOTAGE := benchmarks/.cache/footage/vtest.avi
footage:
	@test -f $(FOOTAGE) || $(PYTHON) tests/footage.py \
	  || echo "warning: no $(FOOTAGE); tests/test_camera_footage.py will skip"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q

# The same parser and aggregation tests on the Python source of the hot path,
# so the pure-Python fallback stays correct too.
unit-pure: venv
	MALLSENSE_PURE_PYTHON=1 $(BIN)/pytest -q -p no:cacheprovider \
	  tests/test_wifi_parse.py tests/test_wifi_pcap.py tests/test_privacy.py tests/test_aggregate.py \
	  tests/test_grouping.py tests/test_kpi.py tests/test_ble_pipeline.py

samples: venv
	PYTHONPATH=tests $(BIN)/python -m fixtures.wifi_simulation --out edge/demo/samples
	PYTHONPATH=tests $(BIN)/python -m fixtures.ble_simulation --out edge/demo/samples

bench: venv
	$(BIN)/python benchmarks/wifi_ingest.py

# dist/mallsense_<version>_<arch>.deb for fleets that install with apt: a virtualenv for
# /opt/mallsense built with Debian's interpreter (DEB_PYTHON), the hot path compiled for
# it, the units and the maintainer scripts (systemd/debian/). See docs/install.md.
DEB_PYTHON ?= /usr/bin/python3
deb: venv
	$(BIN)/python -m edge.install.debpkg --python $(DEB_PYTHON) --out dist --work build/deb

clean:
	$(BIN)/python -m edge.build_native --clean || true
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build/deb
