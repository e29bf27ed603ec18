# lambent: `make run` starts the server, `make test` runs the whole suite. Both set up what they need.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-security lint unit integration bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v bwrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq bubblewrap; }
	@command -v node >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nodejs; }
	@[ -x /usr/bin/python3 ] || { apt-get update -qq && apt-get install -y -qq python3; }
	@# The sandbox's syscall filter is compiled by libseccomp; curl for provided.* bootstraps (AWS's tutorial uses it).
	@ldconfig -p | grep -q 'libseccomp\.so\.2 ' || { apt-get update -qq && apt-get install -y -qq libseccomp2; }
	@command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl; }
	@[ -d $(VENV) ] || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

run: install
	$(BIN)/lambent server

test: install lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: install
	$(BIN)/ruff check lambent tests benchmarks
	$(BIN)/python -m mypy lambent

test-security: install
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/security

unit: install
	$(BIN)/python -m pytest -q tests/unit

bench: install
	$(BIN)/python benchmarks/run_all.py

# The data dir's sandbox dir first (the data dir records where it is; refused while its server runs).
clean:
	@[ ! -d .lambent ] || $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PY)) -m lambent.sandbox.sandbox_dir remove .lambent
	rm -rf $(VENV) .lambent
