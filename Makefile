# The two commands of the README: `make setup` then `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNS = $(shell $(BIN)/python -c 'from soralite.config import runs_dir; print(runs_dir())' 2>/dev/null || echo runs)

.PHONY: setup test quickstart world-demo course clean

# A virtual environment with PyTorch for the CPU (pinned so pip does not pull CUDA wheels),
# then the kit itself, editable, with its test tools.
setup:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev]"
	@echo "soralite is set up: activate with 'source $(BIN)/activate'"

# Unit tests, then every notebook executed at the smoke preset.
test:
	SORALITE_PRESET=smoke OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q tests
	SORALITE_PRESET=smoke $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env notebooks

world-demo:
	$(BIN)/soralite make-data --n 300 --seed 11 --out $(RUNS)/world-demo
	$(BIN)/soralite score $(RUNS)/world-demo

quickstart:
	$(BIN)/soralite quickstart --preset tiny   # into $(RUNS)/tiny, where the notebooks look

# The course as HTML pages with their pictures, and an index: every chapter and its solutions
# executed at tiny (run `make quickstart` first), into $(RUNS)/course, not into the repository.
course:
	$(BIN)/python scripts/build_course.py --preset tiny

clean:
	rm -rf runs .pytest_cache
