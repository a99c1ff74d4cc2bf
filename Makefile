# Two commands for a newcomer: `make certify` and `make test`. Each builds .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: certify test venv clean conformance

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

certify: $(STAMP)
	$(BIN)/tradeswarm certify --profile standard

test: $(STAMP)
	$(BIN)/python -m pytest -n auto

clean:
	-test -x $(BIN)/tradeswarm && $(BIN)/tradeswarm prefect stop  # it would keep its deleted database open
	rm -rf $(VENV) .swarm reports/runs

# E2B's own SDK tests against a fresh sandboxd: `make conformance E2B_REPO=/path/to/E2B-checkout`
# (the checkout stays outside this repository; its test venv is .venv-conformance).
conformance: $(STAMP)
	@test -n "$(E2B_REPO)" || { echo "error: set E2B_REPO to a checkout of github.com/e2b-dev/E2B" >&2; exit 2; }
	$(BIN)/python bench/e2b_conformance.py --e2b-repo $(E2B_REPO) $(CONFORMANCE_ARGS)
