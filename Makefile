# Two commands on a fresh Debian machine: `make demo` and `make test`.
VENV  := .venv
PY    := $(VENV)/bin/python
TOOLS := .tools
UV    := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)

.PHONY: demo test bench lint fmt install system-deps-test system-deps-demo clean

install: $(VENV)/.installed

$(TOOLS)/bin/uv:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q "uv>=0.9,<1"

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode  # .pyc at install: `vigil --help` need not compile them
	$(PY) -m compileall -q src  # ours too: PYTHONDONTWRITEBYTECODE would recompile them each run
	UV=$(UV) $(PY) -m vigil.vision.nanodet_build  # the default detector, built once (docs/models.md)
	$(PY) -m vigil.camera.copy_loop  # the recorder's C copy loop, built once (decision 0079)
	touch $@

system-deps-test:
	scripts/system-deps.sh test

system-deps-demo:
	scripts/system-deps.sh demo

demo: system-deps-demo install
	$(VENV)/bin/vigil demo

test: system-deps-test install
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/lint-imports  # the import rule of docs/architecture.md
	$(VENV)/bin/mypy  # src/, settings in pyproject.toml
	$(PY) -m vigil.demo.testdata
	$(VENV)/bin/pytest -q

bench: install
	$(VENV)/bin/vigil bench all

lint: install
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/ruff format --check src tests

fmt: install
	$(VENV)/bin/ruff format src tests
	$(VENV)/bin/ruff check --fix src tests

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
