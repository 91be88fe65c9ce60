#!/usr/bin/env bash
# Fuzz the parsers with cargo-fuzz (libFuzzer) on the stable toolchain.
#
#   scripts/fuzz.sh [SECONDS]        run every target for SECONDS (default 120)
#
# Targets (fuzz/fuzz_targets/): akn (Akoma Ntoso parser), citations (norm citation extractor),
# sections (decision section detector). Seeds are in fuzz/corpus/<target>/seed-*; inputs that
# libFuzzer adds there are git-ignored. A crash, timeout or OOM leaves its input in
# fuzz/artifacts/<target>/ and makes the script exit non-zero after the other targets ran.
#
# Environment:
#   FUZZ_TARGET_DIR   build directory, outside the clone (default ~/.cache/ingest-fuzz-target)
#   FUZZ_TARGETS      targets to run (default "akn citations sections")
#   FUZZ_SANITIZER    address (default) or none
#   FUZZ_NICE         niceness of builds and runs (default 0; e.g. 19 on a shared machine)
set -euo pipefail

seconds="${1:-120}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS]" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/ingest-fuzz-target}"
targets="${FUZZ_TARGETS:-akn citations sections}"
sanitizer="${FUZZ_SANITIZER:-address}"
nice_cmd=(nice -n "${FUZZ_NICE:-0}")

# The Makefile exports CARGO_TARGET_DIR for the main build: the fuzz build (instrumented, its
# own lock file) keeps to its own directory, and so does the cargo-fuzz install.
unset CARGO_TARGET_DIR

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    "${nice_cmd[@]}" cargo install cargo-fuzz --locked
fi

# cargo-fuzz needs nightly-only flags (-Zsanitizer, sancov passes): allow them on stable.
export RUSTC_BOOTSTRAP=1

cd "$root"
failed=()
for t in $targets; do
    echo "== fuzz $t for ${seconds}s (sanitizer: $sanitizer, target dir: $target_dir)"
    # The build is separate so that a build failure is reported as such, not as a crash.
    if ! "${nice_cmd[@]}" cargo fuzz build -s "$sanitizer" --target-dir "$target_dir" "$t"; then
        echo "fuzz: $t: build failed" >&2
        failed+=("$t (build)")
        continue
    fi
    if ! "${nice_cmd[@]}" cargo fuzz run -s "$sanitizer" --target-dir "$target_dir" "$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1; then
        echo "fuzz: $t: found a failing input (see fuzz/artifacts/$t/)" >&2
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: no crash in: $targets (${seconds}s each)"
