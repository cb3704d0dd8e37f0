# Set-up is automatic: the first `make demo` / `make test` creates .venv and installs the
# project with its dev extras. TORCH_SPEC pins PyTorch's CPU build (a small, fast install);
# GPU users run `make TORCH_SPEC= test` to keep their own torch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test test-fast lint format bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/sigma-video pretrain --overwrite

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m pytest -q

# the fast tier (< 1 min): everything but the tests marked slow (multi-process, signals,
# compile, full-size models, longer runs); `make test` runs them all
test-fast: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -m "not slow"

format: $(BIN)/.installed
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

bench: $(BIN)/.installed
	$(BIN)/sigma-video bench sinkhorn
	$(BIN)/sigma-video bench step model.arch=vit_tiny

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
