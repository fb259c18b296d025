# CNN Playground. Two commands: `make run` (set up and start the app), `make test` (set up and
# run every test). Both install the exact versions in requirements/ (see README "Install options").
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
# This computer only: pasted network code runs only then (README "Your own network code").
# To serve a class: make run ADDRESS=0.0.0.0 (pasted code is then off unless PLAYGROUND_ALLOW_CODE=1).
ADDRESS ?= 127.0.0.1

.PHONY: run test unit app e2e bench browser lock default-model digits-model wheel clean

$(VENV)/.runtime: requirements/lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/lock.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements/lock-test.txt
	$(PY) -m pip install -q -r requirements/lock-test.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.address $(ADDRESS)

# The browser tests need a Chromium; Debian's is installed when missing (root or sudo).
browser:
	@bash scripts/ensure_chromium.sh

test: $(VENV)/.test browser
	$(PY) -m pytest -q tests

unit: $(VENV)/.test
	$(PY) -m pytest -q tests/unit

app: $(VENV)/.test
	$(PY) -m pytest -q tests/app

e2e: $(VENV)/.test browser
	$(PY) -m pytest -q tests/e2e

bench: $(VENV)/.runtime
	for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# Refresh the lock after changing pyproject.toml or requirements/pins.txt.
lock:
	test -x $(VENV)-tools/bin/pip-compile || ($(PYTHON) -m venv $(VENV)-tools && $(VENV)-tools/bin/pip install -q pip-tools)
	$(VENV)-tools/bin/pip-compile -q --upgrade --strip-extras --no-emit-index-url --no-emit-find-links \
	    -c requirements/pins.txt -o requirements/lock.txt pyproject.toml
	$(VENV)-tools/bin/pip-compile -q --upgrade --strip-extras --no-emit-index-url --no-emit-find-links \
	    --extra test -c requirements/pins.txt -c requirements/lock.txt -o requirements/lock-test.txt pyproject.toml

wheel: $(VENV)/.runtime
	$(PY) -m pip wheel -q --no-deps -w dist .

default-model: $(VENV)/.runtime
	$(PY) scripts/train_default_model.py

# The digits model: from MNIST's test digits when their idx files are in MNIST_RAW, else torchvision's MNIST.
MNIST_RAW ?= $(or $(PLAYGROUND_DATA_DIR),data-cache)/MNIST/raw
digits-model: $(VENV)/.runtime
	$(PY) scripts/train_digits_model.py --mnist-dir $(MNIST_RAW)

clean:
	rm -rf $(VENV) $(VENV)-tools .pytest_cache test-artifacts dist build *.egg-info
