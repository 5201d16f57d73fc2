# One-command entry points; each creates .venv and installs the project on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
VIDEO ?= demo/big_buck_bunny_5s.mp4
PROFILE ?= baseline

.PHONY: install demo test dev bench clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/dp process "$(VIDEO)" --profile "$(PROFILE)"

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

dev: install
	$(BIN)/dp dev --profile "$(PROFILE)"

bench: install
	$(BIN)/python bench/bench_skeleton.py --profile skeleton

clean:
	rm -rf $(VENV) .dp_home
