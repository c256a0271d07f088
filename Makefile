# Two environments, both made from the pinned files in requirements/:
#   .venv         TensorFlow 2.21 (what users run) + tfckpt in editable mode + test tools
#   .venv-legacy  TensorFlow 2.15.1 + tensorflow-estimator 2.15.0 (fixtures, interop tests)
PYTHON ?= python3
# The legacy pins (TensorFlow 2.15.1) have wheels for Python 3.9-3.11 only: take the first
# interpreter that runs and is 3.10 or 3.11 (a pyenv shim for an absent version does not run).
LEGACY_PYTHON ?= $(shell for p in python3.11 python3.10 $(PYTHON); do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 10), (3, 11)))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)
VENV := .venv
LEGACY := .venv-legacy
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all venv venv-legacy demo test test-main test-legacy fixtures bench clean

all: venv

venv: $(VENV)/.installed
venv-legacy: $(LEGACY)/.installed

$(VENV)/.installed: requirements/main.txt requirements/main.lock setup.cfg pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements/main.txt -c requirements/main.lock
	$(VENV)/bin/pip install --disable-pip-version-check -q --no-deps -e . --config-settings editable_mode=compat
	touch $@

# The project goes in without its dependencies: it asks for `tensorflow`, and the
# legacy env holds the CPU build under another distribution name.
$(LEGACY)/.installed: requirements/legacy.txt requirements/legacy.lock setup.cfg pyproject.toml
	@test -n "$(LEGACY_PYTHON)" || { echo "make: $(LEGACY) needs Python 3.10 or 3.11 (TensorFlow 2.15.1 has no wheels past 3.11) and none of python3.11, python3.10, $(PYTHON) is one: install python3.11 with venv (apt install python3.11-venv, or pyenv install 3.11) or name it with LEGACY_PYTHON=/path/to/python3.11" >&2; exit 2; }
	rm -rf $(LEGACY)
	$(LEGACY_PYTHON) -m venv $(LEGACY)
	$(LEGACY)/bin/pip install --disable-pip-version-check -q -r requirements/legacy.txt -c requirements/legacy.lock
	$(LEGACY)/bin/pip install --disable-pip-version-check -q --no-deps -e . --config-settings editable_mode=compat
	touch $@

# The main job on the bundled fixtures: a tf.contrib.learn DNNClassifier model dir (no
# .meta, contrib-era names) becomes a SavedModel for TensorFlow 2.21; `verify` then loads
# it with tf.saved_model.load, calls signatures["serving_default"] on the inputs recorded
# with the original Estimator's predictions, and compares every output.
DEMO := build/demo
demo: venv
	rm -rf $(DEMO)
	$(VENV)/bin/tfckpt ls fixtures/contrib-learn-names/model_dir --kind model
	$(VENV)/bin/tfckpt export fixtures/contrib-learn-names/model_dir $(DEMO)/saved_model \
		--features fixtures/contrib-learn-names/case.json
	$(VENV)/bin/tfckpt verify $(DEMO)/saved_model fixtures/contrib-learn-names/predictions.npz

# Both groups: main env (everything but `legacy`), then the legacy env (`legacy` only).
test: test-main test-legacy

# JUNIT_DIR=DIR writes each group's results to DIR/main.xml and DIR/legacy.xml (.ci/run reads them).
test-main: venv
	$(VENV)/bin/python -m pytest -m "not legacy" $(if $(JUNIT_DIR),--junitxml=$(JUNIT_DIR)/main.xml) $(PYTEST_ARGS)

test-legacy: venv-legacy
	$(LEGACY)/bin/python -m pytest -m legacy $(if $(JUNIT_DIR),--junitxml=$(JUNIT_DIR)/legacy.xml) $(PYTEST_ARGS)

# Regenerate the committed fixture corpus (legacy env: real Estimators).
fixtures: venv-legacy
	$(LEGACY)/bin/python fixtures/generate.py fixtures

# Benchmarks are run by hand; each prints its ratio against the baseline its issue names.
bench: venv
	cd bench && for script in ls_show.py diff.py rename.py export.py; do ../$(VENV)/bin/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(LEGACY) build *.egg-info
