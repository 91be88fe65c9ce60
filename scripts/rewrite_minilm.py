#!/usr/bin/env python3
"""Model set-up for all-MiniLM-L6-v2 int8, run by scripts/setup-models.sh. Standard library only.

The int8 file is weight-only quantised: each weight is an INT8 initializer that the graph turns
back into float at its top, on every run, by a Cast and a Mul by the weight's scale. For the word
embedding table (30522 x 384) that means every batch casts the whole table, 47 MB of float held
twice over (the Cast's output and the Mul's), to look up a few hundred rows of it. This writes
the same graph with the lookup first: Gather the int8 rows and their scales, then Cast and Mul
only those. The values are the same bit for bit: float(q[id, j]) * scale[id] either way.

Usage: rewrite_minilm.py <model.onnx> <OUT.onnx>
The protobuf wire format is edited directly (helpers from extract_use.py): the four nodes named
below change; every other field is copied as it is.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from extract_use import (  # noqa: E402
    FLOAT, G_NODE, G_VALUE_INFO, M_GRAPH, N_ATTR, N_INPUT, N_NAME, N_OPTYPE, N_OUTPUT,
    A_I, A_NAME, fields, first, ld, strs, vint,
)

TABLE = "inner.embeddings.word_embeddings.weight"
A_TYPE, ATTR_INT = 20, 2  # AttributeProto.type, AttributeType INT


def int_attr(name, value):
    return ld(N_ATTR, ld(A_NAME, name.encode()) + vint(A_I, value) + vint(A_TYPE, ATTR_INT))


def node(op, ins, outs, name, attrs=b""):
    body = b"".join(ld(N_INPUT, i.encode()) for i in ins)
    body += b"".join(ld(N_OUTPUT, o.encode()) for o in outs)
    body += ld(N_NAME, name.encode()) + ld(N_OPTYPE, op.encode()) + attrs
    return ld(G_NODE, body)


def attrs_of(nf):
    out = {}
    for f, _, v, _ in nf:
        if f == N_ATTR:
            af = fields(v)
            out[first(af, A_NAME).decode()] = first(af, A_I)
    return out


def rewrite(src):
    model = fields(src)
    graph = fields(first(model, M_GRAPH))
    nodes = []  # (position in graph fields, op, inputs, outputs, attributes)
    for pos, (f, _, v, _) in enumerate(graph):
        if f == G_NODE:
            nf = fields(v)
            nodes.append((pos, first(nf, N_OPTYPE).decode(), strs(nf, N_INPUT), strs(nf, N_OUTPUT),
                          attrs_of(nf)))
    names = {t for n in nodes for t in n[2] + n[3]}

    cast = [n for n in nodes if n[3] == [TABLE + "_f"]]
    mul = [n for n in nodes if n[3] == [TABLE]]
    assert len(cast) == 1 and cast[0][1] == "Cast" and cast[0][2] == [TABLE + "_q"], cast
    assert cast[0][4].get("to") == FLOAT, cast[0][4]
    assert len(mul) == 1 and mul[0][1] == "Mul" and mul[0][2] == [TABLE + "_f", TABLE + "_scale"], mul
    assert [n for n in nodes if TABLE + "_f" in n[2]] == mul, "the cast table feeds only its Mul"
    users = [n for n in nodes if TABLE in n[2]]
    assert len(users) == 1, f"the table feeds {len(users)} nodes"
    gather = users[0]
    assert gather[1] == "Gather" and gather[2][0] == TABLE and gather[4].get("axis", 0) == 0, gather
    ids, out = gather[2][1], gather[3][0]
    new = {out + "_q", out + "_scale", out + "_f"}
    assert not new & names, f"names taken: {new & names}"

    lookup = (node("Gather", [TABLE + "_q", ids], [out + "_q"], "lookup_first/gather_rows",
                   int_attr("axis", 0))
              + node("Gather", [TABLE + "_scale", ids], [out + "_scale"], "lookup_first/gather_scales",
                     int_attr("axis", 0))
              + node("Cast", [out + "_q"], [out + "_f"], "lookup_first/cast", int_attr("to", FLOAT))
              + node("Mul", [out + "_f", out + "_scale"], [out], "lookup_first/dequantise"))
    dropped = {cast[0][0], mul[0][0]}
    body = bytearray()
    for pos, (f, _, v, whole) in enumerate(graph):
        if pos in dropped:
            continue
        if pos == gather[0]:
            body += lookup
        elif f == G_VALUE_INFO and first(fields(v), 1, b"").decode() in (TABLE, TABLE + "_f"):
            continue  # shapes of tensors that no longer exist
        else:
            body += whole
    out_model = bytearray()
    for f, _, v, whole in model:
        out_model += ld(M_GRAPH, bytes(body)) if f == M_GRAPH else whole
    return bytes(out_model)


def main(src, dst):
    with open(src, "rb") as r:
        data = rewrite(r.read())
    tmp = dst + ".part"
    with open(tmp, "wb") as w:
        w.write(data)
    os.replace(tmp, dst)
    print(f"rewrite_minilm: wrote {dst} (word embedding lookup before its dequantisation)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
