# `make run`  — install what is missing, build, ingest the bundled norm fixtures, print status.
# `make test` — install what is missing, build, run every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Build artefacts live outside the clone so fresh clones (CI) reuse them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ingest-target
export INGEST_MODELS_DIR ?= $(HOME)/.cache/ingest/models
CARGO ?= cargo
BIN := $(CARGO_TARGET_DIR)/debug/ingest
DATA_DIR ?= ingest-data

# Commands the build needs, and the Debian packages that provide them. OCR: tesseract and
# leptonica (headers for the bindings, clang/libclang for bindgen), Italian, English and
# orientation data; poppler-utils rasterises scanned PDF pages.
NEEDED_COMMANDS := cc c++ pkg-config python3 make clang pdftoppm pdfinfo
DEB_PACKAGES := build-essential pkg-config ca-certificates python3 python3-pip python3-venv \
                clang libclang-dev libtesseract-dev libleptonica-dev \
                tesseract-ocr-ita tesseract-ocr-eng tesseract-ocr-osd poppler-utils

.PHONY: help deps models build run test check fmt clippy release clean-data parity-reference services services-down fuzz

# Parity reference for the multilingual model: SentencePiece ids and the uncut graph's vectors
# (onnxruntime-extensions), computed in a pinned Python venv; tests/integration/parity.rs compares.
export INGEST_PARITY_REFERENCE ?= $(HOME)/.cache/ingest/parity/reference.json
USE_MODEL_DIR := $(INGEST_MODELS_DIR)/use-multilingual-v3-int8
PARITY_INPUTS := fixtures/parity/sentences.json scripts/parity/reference.py scripts/parity/requirements.lock \
                 $(USE_MODEL_DIR)/model_uncut.onnx $(USE_MODEL_DIR)/model_cut.onnx $(USE_MODEL_DIR)/tokenizer.json

help:
	@echo "make run    ingest the bundled norms, decisions and doctrine (installs what is missing)"
	@echo "make test   run every test (installs what is missing)"
	@echo "make check  cargo fmt --check and clippy -D warnings"
	@echo "make models install model files only"
	@echo "make services / services-down  start / stop the test servers (PostgreSQL, Bolt graph, Qdrant API)"
	@echo "make fuzz   fuzz the AKN parser, citation extractor and section detector (FUZZ_SECONDS each, default 120)"

deps:
	@missing=""; for c in $(NEEDED_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if ! python3 -m pip --version >/dev/null 2>&1; then missing="$$missing pip"; fi; \
	if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing="$$missing venv"; fi; \
	if command -v dpkg-query >/dev/null 2>&1; then for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; fi; \
	if [ -n "$$missing" ]; then \
	  echo "deps: missing:$$missing; installing Debian packages: $(DEB_PACKAGES)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEB_PACKAGES); \
	fi; \
	command -v $(CARGO) >/dev/null || { echo "deps: cargo not found (install the Rust toolchain)"; exit 1; }

models: deps
	@bash scripts/setup-models.sh

build: deps
	$(CARGO) build --locked --bin ingest

run: models build
	@code=0; for t in norm jurisprudence doctrine; do \
	  list=fixtures/$$t.txt; [ $$t = norm ] && list=fixtures/norms.txt; \
	  echo "== ingest --type $$t $$list"; \
	  $(BIN) --type $$t $$list --data-dir $(DATA_DIR) --no-progress || code=$$?; \
	done; \
	$(BIN) status --data-dir $(DATA_DIR); exit $$code

parity-reference: models
	@py="$$(bash scripts/parity/setup-venv.sh)"; \
	ref="$(INGEST_PARITY_REFERENCE)"; \
	if [ -f "$$ref" ] && [ -f "$(USE_MODEL_DIR)/model_uncut.onnx" ] && \
	   [ -z "$$(find $(PARITY_INPUTS) -newer "$$ref" 2>/dev/null)" ]; then \
	  echo "parity-reference: up to date ($$ref)"; \
	else \
	  "$$py" scripts/parity/reference.py "$(USE_MODEL_DIR)" fixtures/parity/sentences.json "$$ref"; \
	fi

# Test servers (no Docker): each scripts/services/<name>.sh has up|down|status; data under
# .services/ (git-ignored). `make test` starts them and stops them afterwards, pass or fail.
# (PostgreSQL from Debian's package; ArcadeDB's Bolt server from PyPI; Qdrant's gRPC API served
# by this repo's qdrant-test-server over Qdrant's own engine.)
SERVICES := postgres arcadedb qdrant

services: deps
	$(CARGO) build --locked --bin qdrant-test-server
	@for s in $(SERVICES); do bash scripts/services/$$s.sh up || exit 1; done

services-down:
	@for s in $(SERVICES); do bash scripts/services/$$s.sh down; done

test: models parity-reference services
	@code=0; $(CARGO) test --locked --all-targets -- --test-threads=2 || code=$$?; \
	$(MAKE) --no-print-directory services-down; exit $$code

# Fuzzing (cargo fuzz, on stable with RUSTC_BOOTSTRAP=1; not part of `make test`).
FUZZ_SECONDS ?= 120

fuzz: deps
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

release: deps
	$(CARGO) build --locked --release --bin ingest

clean-data:
	rm -rf $(DATA_DIR)
