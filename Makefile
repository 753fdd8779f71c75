# The two commands a newcomer needs: `make demo` and `make test`.
# Each bootstraps .venv from nothing with only python3 on the machine.
# CI (.ci/run) also runs `make docs` (the site, built strictly) and `make package`.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: test demo lint typecheck pytest bench format docs package clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[test,dev,cli,postgres]'
	touch $(STAMP)

# The docs tools only for `make docs`: `make demo` and `make test` do without them.
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --editable '.[test,dev,cli,postgres,docs]'
	touch $(DOCS_STAMP)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Four processes (pytest-xdist) on any number of cores: most of a test's time is spent waiting
# (on the fake, on processes it starts), so two cores keep four busy. Idle workers take tests
# from busy ones (worksteal). A plain `$(BIN)/pytest` runs in one process, for debugging.
# Bytecode is cached even where the environment says not to (PYTHONDONTWRITEBYTECODE): else
# each worker rewrites the asserts of every test module again, and each of the ~100 Python
# processes the tests start compiles the package again.
PYTEST_WORKERS ?= 4

pytest: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest --numprocesses $(PYTEST_WORKERS) --dist worksteal

demo: $(STAMP)
	$(BIN)/gpcn demo

# The site goes to site/; --strict turns every warning (a broken link, a docstring griffe
# cannot read) into a failure.
# NO_MKDOCS_2_WARNING: mkdocs-material's banner about its end of life (May 2027) and its
# successor, printed on every build; noted in the CHANGELOG rather than in every CI log.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# The sdist and the wheel, in dist/, checked as an index would check them.
package: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis site dist
