# Parley: `make run` serves the site, `make test` runs every check. Python 3.11+ is all it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)

.PHONY: run test bench lint format screenshots lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test,bench]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(PY) scripts/dev.py run

test: $(STAMP) lint
	$(PY) scripts/dev.py test $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) -m bench $(ARGS)

screenshots: $(STAMP)
	PARLEY_SCREENSHOTS=1 $(PY) scripts/dev.py test tests/e2e -k screenshots

# Regenerate the lock file of every transitive pin from pyproject.toml.
lock:
	rm -rf /tmp/parley-lock && $(PYTHON) -m venv /tmp/parley-lock
	/tmp/parley-lock/bin/pip install --quiet -e '.[test,bench]'
	/tmp/parley-lock/bin/pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV)
