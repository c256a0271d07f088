# Two environments, both made from the pinned files in requirements/:
#   .venv         TensorFlow 2.21 (what users run) + tfckpt in editable mode + test tools
#   .venv-legacy  TensorFlow 2.15.1 + tensorflow-estimator 2.15.0 (fixtures, interop tests)
PYTHON ?= python3
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
	$(VENV)/bin/pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

# The project goes in without its dependencies: it asks for `tensorflow`, and the
# legacy env holds the CPU build under another distribution name.
$(LEGACY)/.installed: requirements/legacy.txt requirements/legacy.lock setup.cfg pyproject.toml
	rm -rf $(LEGACY)
	$(PYTHON) -m venv $(LEGACY)
	$(LEGACY)/bin/pip install --disable-pip-version-check -q -r requirements/legacy.txt -c requirements/legacy.lock
	$(LEGACY)/bin/pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

# The main job on the bundled fixtures: list a canned Estimator's checkpoint, a
# partitioned one, and show that the contrib.learn-named copy holds the same tensors
# (diff exits 1 because names differ; that is the expected answer here).
demo: venv
	$(VENV)/bin/tfckpt ls fixtures/dnn-classifier-v1/model_dir
	$(VENV)/bin/tfckpt ls fixtures/linear-classifier/model_dir --kind model
	$(VENV)/bin/tfckpt diff fixtures/contrib-learn-names/model_dir fixtures/dnn-classifier-v1/model_dir --kind model; test $$? -eq 1

# Both groups: main env (everything but `legacy`), then the legacy env (`legacy` only).
test: test-main test-legacy

test-main: venv
	$(VENV)/bin/python -m pytest -m "not legacy" $(PYTEST_ARGS)

test-legacy: venv-legacy
	$(LEGACY)/bin/python -m pytest -m legacy $(PYTEST_ARGS)

# Regenerate the committed fixture corpus (legacy env: real Estimators).
fixtures: venv-legacy
	$(LEGACY)/bin/python fixtures/generate.py fixtures

bench: venv
	$(VENV)/bin/python bench/run.py

clean:
	rm -rf $(VENV) $(LEGACY) build *.egg-info
