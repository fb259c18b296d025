# CNN Playground. Two commands: `make run` (set up and start the app), `make test` (set up and run every test).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test unit app e2e bench default-model clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt
	$(PY) -m pip install -q -r requirements-test.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) -m streamlit run app.py --server.port $(PORT)

test: $(VENV)/.test
	$(PY) -m pytest -q tests

unit: $(VENV)/.test
	$(PY) -m pytest -q tests/unit

app: $(VENV)/.test
	$(PY) -m pytest -q tests/app

e2e: $(VENV)/.test
	$(PY) -m pytest -q tests/e2e

bench: $(VENV)/.runtime
	for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

default-model: $(VENV)/.runtime
	$(PY) scripts/train_default_model.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
