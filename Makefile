# mallsense — two commands for a newcomer: `make demo` and `make test`.
# Both create the virtual environment and install the Debian tools they need
# (mosquitto, tshark) when missing; apt needs root, as on the box itself.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_TOOLS := mosquitto tshark

.PHONY: demo test lint typecheck unit tools venv samples bench clean

demo: venv tools
	$(BIN)/mallsense demo

test: venv tools lint typecheck unit

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Installs only what is missing; `apt-get update` only when something is.
tools:
	@missing=""; \
	command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || missing="$$missing mosquitto"; \
	command -v tshark >/dev/null || missing="$$missing tshark"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing with apt-get"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q

samples: venv
	$(BIN)/python -m edge.demo.simulate --out edge/demo/samples

bench: venv
	$(BIN)/python benchmarks/wifi_ingest.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
