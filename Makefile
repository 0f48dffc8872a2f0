# Two commands do all set-up: `make run` (default experiment) and `make test`.
# Both create the virtual environment in .venv on first use and install cl into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: run test test-fast docs docs-serve benchmarks clean

# The environment: uv where it runs (from PATH, or installed from PyPI by the new environment's
# pip), pip otherwise (scripts/setup_env.py says how the two are kept the same).
$(STAMP): pyproject.toml scripts/setup_env.py scripts/uv-overrides.txt
	$(PYTHON) scripts/setup_env.py $(VENV)
	touch $(STAMP)

# PYTHONDONTWRITEBYTECODE emptied: the modules a command imports are compiled once, on first import
# (the set-up compiles none; scripts/setup_env.py says why).
PY_ENV := PYTHONDONTWRITEBYTECODE=

run: $(STAMP)
	$(PY_ENV) $(BIN)/cl-run $(ARGS)

# The suite runs in TEST_WORKERS processes (pytest-xdist), one thread each: most tests are
# single-threaded runs, and two torch processes with two threads each on two cores slow each
# other down many times over. The tests of one file run in the same worker (--dist loadfile): a
# module's shared runs are built once, and the multi-process tests of test_distributed.py run one
# at a time; the files go out longest first (tests/conftest.py, LONGEST_FIRST). (--dist loadgroup
# and xdist_group marks do not group with pytest 9.2 and pytest-xdist 3.8.)
TEST_WORKERS ?= 2
TEST_ENV := $(PY_ENV) HF_HUB_OFFLINE=1 WANDB_MODE=offline OMP_NUM_THREADS=1

test: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(ARGS)

test-fast: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow" $(ARGS)

# The docs site (mkdocs.yml, docs/) into site/; --strict: a broken link or page fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# Every benchmark script (as a module: they share benchmarks/common.py); they print their
# figures and write nothing into the checkout. Long: the strategy table alone runs 42 cl-runs.
benchmarks: $(STAMP)
	for b in $(filter-out common __init__,$(basename $(notdir $(wildcard benchmarks/*.py)))); do \
		$(PY_ENV) HF_HUB_OFFLINE=1 WANDB_MODE=offline $(BIN)/python -m benchmarks.$$b || exit 1; done

clean:
	rm -rf outputs multirun .cache
