#!/usr/bin/env python3
"""Reference outputs for the USE-multilingual-v3 parity test (tests/integration/parity.rs).

Usage (with the venv from scripts/parity/setup-venv.sh):
  reference.py <models_dir>/use-multilingual-v3-int8 <sentences.json> <out.json>

Reads only <model dir>/model_uncut.onnx, the wheel's original graph, whose first node is the
`ai.onnx.contrib::SentencepieceTokenizer` custom op. For every sentence it writes:

  sp_ids   token ids from the `sentencepiece` package, using the SentencePiece model stored in
           that node's `model` attribute and the node's constant inputs (add_bos, add_eos,
           add_rev); with this model a row is [1] + pieces + [2]. nbest_size and alpha are not
           used: the onnxruntime-extensions kernel ignores them and always runs a deterministic
           Encode, and so does this script.
  single   the embedding from the UNCUT graph run by onnxruntime with the
           onnxruntime-extensions custom-op library, each sentence as its own batch of one.
  batched  the same, all sentences as ONE batch, in file order.

The model quantises activations dynamically (DynamicQuantizeLinear with one scale per batch
tensor), so a vector depends slightly on its batch neighbours: the Rust side must use the same
batch composition to compare within cosine 1e-5.

Output JSON: {"sentences", "sp_ids", "single", "batched", "meta"}; it is written atomically.
The ONNX file is read with a small stdlib protobuf walker, so the `onnx` package is not needed.
"""
import hashlib
import json
import os
import struct
import sys
import time

import numpy as np
import onnxruntime as ort
import onnxruntime_extensions
import sentencepiece as spm

THREADS = 2
INT32, INT64, FLOAT, BOOL = 6, 7, 1, 9


# ---- protobuf wire format (only what is needed to read one node of an ONNX graph) --------
def varint(buf, i):
    shift = out = 0
    while True:
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, i
        shift += 7


def fields(buf):
    """[(field_no, value)]; value is an int (varint) or a memoryview (other wire types)."""
    out, i = [], 0
    while i < len(buf):
        key, i = varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")
        out.append((f, v))
    return out


def first(fs, no, default=None):
    return next((v for f, v in fs if f == no), default)


def text(v):
    return bytes(v).decode()


# onnx.proto field numbers
M_GRAPH = 7
G_NODE, G_INIT = 1, 5
N_INPUT, N_NAME, N_OPTYPE, N_ATTR, N_DOMAIN = 1, 3, 4, 5, 7
A_NAME, A_I, A_S = 1, 3, 4
T_DTYPE, T_NAME, T_RAW = 2, 8, 9


def tensor_values(tb):
    fs = fields(tb)
    dt = first(fs, T_DTYPE)
    raw = first(fs, T_RAW)
    if raw is not None:
        fmt = {INT32: "i", INT64: "q", FLOAT: "f", BOOL: "?"}[dt]
        return list(struct.unpack(f"<{len(raw) // struct.calcsize(fmt)}{fmt}", raw))
    # typed repeated fields: float_data=4, int32_data=5 (bool is stored there), int64_data=7
    for no in (7, 5, 4):
        vals = [v for f, v in fs if f == no]
        if not vals:
            continue
        if no == 4:
            return [x for v in vals for x in struct.unpack(f"<{len(v) // 4}f", v)]
        out = []
        for v in vals:
            if isinstance(v, int):
                out.append(v)
            else:  # packed
                i = 0
                while i < len(v):
                    x, i = varint(v, i)
                    out.append(x)
        return out
    return []


def tokenizer_node(model_bytes):
    """The SentencepieceTokenizer node: (name, sp_model_bytes, {const input name: values}, attrs)."""
    graph = fields(first(fields(memoryview(model_bytes)), M_GRAPH))
    inits = {}
    nodes = []
    for f, v in graph:
        if f == G_INIT:
            inits[text(first(fields(v), T_NAME))] = v
        elif f == G_NODE:
            nf = fields(v)
            if text(first(nf, N_OPTYPE, b"")) == "SentencepieceTokenizer":
                nodes.append(nf)
    if len(nodes) != 1:
        sys.exit(f"reference: expected one SentencepieceTokenizer node, found {len(nodes)}")
    nf = nodes[0]
    domain = text(first(nf, N_DOMAIN, b""))
    if domain != "ai.onnx.contrib":
        sys.exit(f"reference: tokenizer node domain is {domain!r}, expected 'ai.onnx.contrib'")
    attrs = {}
    for f, v in nf:
        if f == N_ATTR:
            af = fields(v)
            s = first(af, A_S)
            attrs[text(first(af, A_NAME))] = bytes(s) if s is not None else first(af, A_I)
    inputs = [text(v) for f, v in nf if f == N_INPUT]
    names = ["inputs", "nbest_size", "alpha", "add_bos", "add_eos", "add_rev", "fairseq"]
    consts = {}
    for name, tensor in zip(names[1:], inputs[1:]):
        if tensor not in inits:
            sys.exit(f"reference: tokenizer input {name} ({tensor}) is not a constant initialiser")
        consts[name] = tensor_values(inits[tensor])
    sp_model = attrs.pop("model", None)
    if not sp_model:
        sys.exit("reference: tokenizer node has no `model` attribute")
    return text(first(nf, N_NAME, b"")), sp_model, consts, attrs


def flag(consts, name):
    vals = consts.get(name, [0])
    return bool(vals[0]) if vals else False


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(model_dir, sentences_path, out_path):
    uncut = os.path.join(model_dir, "model_uncut.onnx")
    if not os.path.isfile(uncut):
        sys.exit(f"reference: {uncut} is missing; run `make models`")
    with open(sentences_path, encoding="utf-8") as fh:
        sentences = json.load(fh)
    if not (isinstance(sentences, list) and sentences and all(isinstance(s, str) for s in sentences)):
        sys.exit(f"reference: {sentences_path} must be a non-empty JSON array of strings")
    for k, s in enumerate(sentences):
        if "\x00" in s:  # the custom op encodes str.c_str(): it would silently cut at the NUL
            sys.exit(f"reference: sentence {k} contains a NUL character")

    with open(uncut, "rb") as fh:
        model_bytes = fh.read()
    node, sp_bytes, consts, attrs = tokenizer_node(model_bytes)
    if attrs.get("out_type", INT32) != INT32 or attrs.get("Tsplits", INT64) != INT64:
        sys.exit(f"reference: unexpected tokenizer output types {attrs}")
    add_bos, add_eos, add_rev = flag(consts, "add_bos"), flag(consts, "add_eos"), flag(consts, "add_rev")
    if flag(consts, "fairseq"):
        sys.exit("reference: the tokenizer node asks for fairseq id shifting, which this script does not do")

    # (a) SentencePiece ids
    sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
    sp_ids = [sp.encode(s, out_type=int, add_bos=add_bos, add_eos=add_eos, reverse=add_rev) for s in sentences]
    if add_bos and add_eos and not all(r[0] == sp.bos_id() and r[-1] == sp.eos_id() for r in sp_ids):
        sys.exit("reference: SentencePiece rows do not start with <s> and end with </s>")

    # (b) embeddings of the uncut graph under onnxruntime + onnxruntime-extensions
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    lib = onnxruntime_extensions.get_library_path()
    so.register_custom_ops_library(lib)
    session = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    in_name, out_name = session.get_inputs()[0].name, session.get_outputs()[0].name

    def run(batch):
        out = session.run([out_name], {in_name: np.array(batch, dtype=object)})[0]
        if out.shape != (len(batch), 512) or out.dtype != np.float32:
            sys.exit(f"reference: uncut graph returned {out.dtype} {out.shape} for a batch of {len(batch)}")
        return out

    t0 = time.time()
    single = np.concatenate([run([s]) for s in sentences])
    batched = run(sentences)
    elapsed = time.time() - t0
    norms = np.linalg.norm(single, axis=1)
    if np.abs(norms - 1).max() > 1e-3:
        sys.exit(f"reference: embeddings are not unit vectors (norms {norms.min()}..{norms.max()})")
    cos = (single * batched).sum(1) / np.linalg.norm(single, axis=1) / np.linalg.norm(batched, axis=1)

    result = {
        "sentences": sentences,
        "sp_ids": sp_ids,
        "single": single.tolist(),  # float32 values, exact as JSON doubles
        "batched": batched.tolist(),
        "meta": {
            "model_uncut_sha256": hashlib.sha256(model_bytes).hexdigest(),
            "sentencepiece_model_sha256": hashlib.sha256(sp_bytes).hexdigest(),
            "sentences_sha256": sha256_file(sentences_path),
            "tokenizer_node": node,
            "tokenizer_flags": {"add_bos": add_bos, "add_eos": add_eos, "add_rev": add_rev,
                                "nbest_size_and_alpha": "ignored (deterministic Encode, as the custom op)"},
            "intra_op_threads": THREADS,
            "batches": {"single": "one sentence per batch", "batched": "all sentences in one batch, file order"},
            "versions": {"onnxruntime": ort.__version__, "onnxruntime_extensions": onnxruntime_extensions.__version__,
                         "sentencepiece": spm.__version__, "numpy": np.__version__},
        },
    }
    tmp = out_path + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(result, fh, ensure_ascii=False, separators=(",", ":"))
    os.replace(tmp, out_path)
    tokens = sum(map(len, sp_ids))
    print(f"reference: {len(sentences)} sentences, {tokens} SentencePiece tokens, "
          f"{len(sentences) + 1} uncut-graph runs in {elapsed:.1f}s; "
          f"batched vs single cosine min {cos.min():.6f}; wrote {out_path}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[1])
    main(*sys.argv[1:])
