# One command each for the README's two promises. Both create .venv/ on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint setup-demo setup-test test-lowest wheel-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup-demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[demo]"

setup-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,demo]"

# The main job on the shipped demo: incident_cases/ against the bundled models.
demo: setup-demo
	$(BIN)/python -m pytest --incident-cases

# The test suite, on two workers.
test: setup-test
	$(BIN)/python -m pytest -n 2

# Lint and type checks CI enforces: ruff (its default rules), ruff's formatter and mypy.
lint: setup-test
	$(BIN)/python -m pip install --quiet -e ".[lint]"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pytest_airecovery

# The lowest pytest and pluggy pyproject.toml declares (pinned in ci/lowest-constraints.txt), in a
# venv of their own under build/: the demo, then the plugin tests (pytester-based) on them.
LOWEST := build/venv-lowest
# The pytester-based tests of the plugin's own paths: collection and collection errors, options,
# rootdir and report paths, xdist, each feature's hooks (diff, adversarial, gates, data, PIR), the
# HTTP adapter in a run, the testing helpers. Not the whole suite: pure modules, the checks'
# arithmetic and the hostile-input corpus do not depend on the pytest version, and the suite
# twice would take CI past its 15 minutes.
LOWEST_TESTS := $(addprefix tests/,test_cases_plugin.py test_case_file_errors.py \
	test_case_run_paths_pins.py test_hostile_report_paths.py test_diff_fixtures.py \
	test_adversarial_plugin.py test_gates_plugin.py test_data_fixtures.py \
	test_pir_coverage_targets.py test_http_plugin.py test_testing_helpers.py)

# A stamp file, not bin/python: that is a symlink, and make would read its target's date.
$(LOWEST)/installed: ci/lowest-constraints.txt pyproject.toml
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --no-compile -c ci/lowest-constraints.txt -e ".[test,demo]"
	touch $@

test-lowest: $(LOWEST)/installed
	$(LOWEST)/bin/python -m pip list 2>/dev/null | grep -E "^(pytest|pluggy) "
	$(LOWEST)/bin/python -m pytest --incident-cases -q -p no:cacheprovider > build/lowest-demo.log 2>&1 \
		|| { tail -n 30 build/lowest-demo.log; exit 1; }
	grep -E "^729 passed" build/lowest-demo.log || { tail -n 30 build/lowest-demo.log; exit 1; }
	$(LOWEST)/bin/python -m pytest -n 2 -q -p no:cacheprovider $(LOWEST_TESTS)

# The wheel as users get it: built, checked py3-none-any, installed non-editable with [demo] in a
# fresh venv, running the demo from a temporary copy of incident_cases/ (ci/wheel_demo.py).
wheel-demo: $(BIN)/python
	$(BIN)/python ci/wheel_demo.py
