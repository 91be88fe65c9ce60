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

.PHONY: help deps models build run test check fmt clippy release clean-data parity-reference services services-down fuzz bench

# Parity reference for the multilingual model: SentencePiece ids and the uncut graph's vectors
# (onnxruntime-extensions), computed in a pinned Python venv; tests/integration/parity.rs compares.
export INGEST_PARITY_REFERENCE ?= $(HOME)/.cache/ingest/parity/reference.json
USE_MODEL_DIR := $(INGEST_MODELS_DIR)/use-multilingual-v3-int8
PARITY_INPUTS := fixtures/parity/sentences.json scripts/parity/reference.py scripts/parity/requirements.lock \
                 $(USE_MODEL_DIR)/model_uncut.onnx $(USE_MODEL_DIR)/tokenizer.json

help:
	@echo "make run    ingest the bundled norms, decisions and doctrine (installs what is missing)"
	@echo "make test   run every test (installs what is missing)"
	@echo "make check  cargo fmt --check and clippy -D warnings"
	@echo "make models install model files only"
	@echo "make services / services-down  start / stop the test servers (PostgreSQL, Bolt graph, Qdrant API)"
	@echo "make bench  chunks/hour end to end vs embed-only, per-stage busy time, peak RSS (BENCH_SCALES, BENCH_MODELS; see BENCHMARKS.md)"
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

# The criterion benches run once each in test mode; they take criterion's arguments, not
# libtest's, so they run in a second command.
test: models parity-reference services
	@code=0; $(CARGO) test --locked --lib --bins --tests -- --test-threads=2 || code=$$?; \
	$(CARGO) test --locked --bench pipeline || code=$$?; \
	$(MAKE) --no-print-directory services-down; exit $$code

# Throughput benchmark (not part of `make test`; figures in BENCHMARKS.md): `ingest bench` at each
# scale with each model, on the embedded stores, and on the test servers when all three are
# up (`make services`; a fresh PostgreSQL schema per run). Then the criterion micro-benches.
# One line of JSON per run is appended to $(BENCH_OUT)/bench.jsonl.
BENCH_SCALES ?= 1 10 100
BENCH_MODELS ?= all-minilm-l6-v2-int8 use-multilingual-v3-int8
BENCH_SERVER_SCALES ?= 1 10
BENCH_OUT ?= $(CURDIR)/bench-results
BENCH_CRITERION ?= 1
BENCH_PG ?= postgres://postgres@127.0.0.1:$${INGEST_PG_PORT:-15432}/ingest_test
BENCH_QDRANT ?= http://127.0.0.1:$${INGEST_QDRANT_PORT:-16334}
BENCH_BOLT ?= bolt://root:$${INGEST_ARCADEDB_PASSWORD:-ingest-test-pw}@127.0.0.1:$${INGEST_BOLT_PORT:-17687}/graph
RELEASE_BIN := $(CARGO_TARGET_DIR)/release/ingest

bench: models
	$(CARGO) build --locked --release --bin ingest
	@mkdir -p $(BENCH_OUT); out=$(BENCH_OUT)/bench.jsonl; code=0; \
	up() { (exec 3<>/dev/tcp/127.0.0.1/$$1) 2>/dev/null; }; \
	servers=0; up $${INGEST_PG_PORT:-15432} && up $${INGEST_QDRANT_PORT:-16334} && up $${INGEST_BOLT_PORT:-17687} && servers=1; \
	echo "== machine: $$(nproc) cores, $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $$(free -g | awk '/Mem:/{print $$2}') GB RAM, $$(rustc --version)"; \
	for m in $(BENCH_MODELS); do for s in $(BENCH_SCALES); do \
	  echo "== ingest bench --scale $$s --model $$m (embedded)"; \
	  $(RELEASE_BIN) bench --scale $$s --model $$m --record $$out || code=1; \
	done; done; \
	if [ $$servers = 1 ]; then for m in $(BENCH_MODELS); do for s in $(BENCH_SERVER_SCALES); do \
	  echo "== ingest bench --scale $$s --model $$m (servers)"; \
	  psql -q "$(BENCH_PG)" -c 'DROP SCHEMA IF EXISTS ingest_bench CASCADE' -c 'CREATE SCHEMA ingest_bench' || { code=1; continue; }; \
	  $(RELEASE_BIN) bench --scale $$s --model $$m --record $$out \
	    --relational-url "$(BENCH_PG)?options=-c%20search_path%3Dingest_bench" \
	    --vector-url "$(BENCH_QDRANT)" --graph-url "$(BENCH_BOLT)" || code=1; \
	done; done; else echo "== servers not up (make services): server runs skipped"; fi; \
	if [ "$(BENCH_CRITERION)" = 1 ]; then $(CARGO) bench --locked --bench pipeline || code=1; fi; \
	echo "== results appended to $$out"; exit $$code

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
