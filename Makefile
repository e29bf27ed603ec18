# lambent: `make run` starts the server, `make test` runs the whole suite. Both set up what they need.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-security lint unit integration bench clean

install: $(STAMP)

# Debian 12 (bookworm): python3 is 3.11, but `python3 -m venv` needs python3-venv (ensurepip); its
# nodejs is 18.x, which lambent serves as nodejs18.x (the nodejsNN.x matching the host's node).
$(STAMP): pyproject.toml
	@command -v bwrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq bubblewrap; }
	@command -v node >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nodejs; }
	@[ -x /usr/bin/python3 ] && command -v $(PY) >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3; }
	@[ -x $(BIN)/pip ] || $(PY) -c 'import ensurepip' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv; }
	@# The sandbox's syscall filter is compiled by libseccomp; curl for provided.* bootstraps (AWS's tutorial uses it).
	@ldconfig -p | grep -q 'libseccomp\.so\.2 ' || { apt-get update -qq && apt-get install -y -qq libseccomp2; }
	@command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl; }
	@# nftables: the functions' default network (lambent/network/: NAT, the deny list).
	@command -v nft >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nftables; }
	@# chromium: the console's browser tests (Playwright drives Debian's build, /usr/bin/chromium).
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@# A venv whose creation failed half-way (no ensurepip: bin/python but no pip) is made again.
	@[ -x $(BIN)/pip ] || { rm -rf $(VENV) && $(PY) -m venv $(VENV); }
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
