#!/usr/bin/env python3
"""An independent implementation of docs/FORMAT.md's hashing, run against
tests/vectors/chain-v1.json. It uses only the Python standard library, so it
shows the spec can be implemented from its text alone.

    python3 tests/vectors/check.py
"""
import base64, hashlib, json, os, struct, sys

here = os.path.dirname(os.path.abspath(__file__))
d = json.load(open(os.path.join(here, "chain-v1.json")))
aid = bytes.fromhex(d["archive_id"])
sha = lambda b: hashlib.sha256(b).digest()
prev = sha(b"\x02" + b"auditlens-v1 genesis\n" + aid)
assert prev.hex() == d["genesis"], "genesis"
leaves = []
for e in d["entries"]:
    leaf = sha(b"\x00" + b"auditlens-v1 leaf\n" + aid + struct.pack(">Q", e["seq"]) + e["canonical"].encode())
    assert leaf.hex() == e["leaf_hash"], f"leaf {e['seq']}"
    prev = sha(b"\x02" + b"auditlens-v1 link\n" + prev + leaf)
    assert prev.hex() == e["chain_hash"], f"chain {e['seq']}"
    # The canonical record is compact JSON with sorted keys.
    rec = json.loads(e["canonical"])
    assert list(rec) == sorted(rec), f"keys sorted {e['seq']}"
    leaves.append(leaf)

def mth(l):
    if not l:
        return sha(b"")
    if len(l) == 1:
        return l[0]
    k = 1
    while k * 2 < len(l):
        k *= 2
    return sha(b"\x01" + mth(l[:k]) + mth(l[k:]))

root = mth(leaves)
assert root.hex() == d["merkle_root"], "merkle root"
lines = d["checkpoint"].split("\n")
assert lines[0] == "auditlens.archive/" + d["archive_id"]
assert int(lines[1]) == len(leaves)
assert base64.b64decode(lines[2]) == root
assert lines[3] == "chain " + prev.hex()
print(f"vectors OK: {len(leaves)} entries, root {root.hex()[:16]}…")

# ---- proofs-v1.json: RFC 6962/9162 proofs and a C2SP signed checkpoint (FORMAT.md 10, 11)
p = json.load(open(os.path.join(here, "proofs-v1.json")))
node = lambda l, r: sha(b"\x01" + l + r)
roots = [bytes.fromhex(r) for r in p["roots"]]
for n in range(len(leaves) + 1):
    assert mth(leaves[:n]) == roots[n], f"root {n}"

def root_from_inclusion(index, size, leaf, path):  # RFC 9162 2.1.3.2
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for q in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(q, r)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            r = node(r, q)
        fn >>= 1; sn >>= 1
    return r if sn == 0 else None

def consistent(size1, size2, path, root1, root2):  # RFC 9162 2.1.4.2
    if size1 == size2:
        return not path and root1 == root2
    if size1 == 0:
        return not path
    if size1 > size2 or not path:
        return False
    if size1 & (size1 - 1) == 0:
        path = [root1] + path
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1; sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1; sn >>= 1
    return sn == 0 and fr == root1 and sr == root2

for q in p["inclusion"]:
    leaf, path = bytes.fromhex(q["leaf_hash"]), [bytes.fromhex(x) for x in q["path"]]
    assert leaf == leaves[q["leaf_index"]]
    assert root_from_inclusion(q["leaf_index"], q["tree_size"], leaf, path) == roots[q["tree_size"]], q
    assert root_from_inclusion(q["leaf_index"] ^ 1, q["tree_size"], leaf, path) != roots[q["tree_size"]]
for q in p["consistency"]:
    path = [bytes.fromhex(x) for x in q["path"]]
    a, b = q["size1"], q["size2"]
    assert consistent(a, b, path, roots[a], roots[b]), q
    assert not consistent(a, b, path, roots[b], roots[a]), q

# The exported entry: its record's leaf hash, proven against the checkpoint's root.
e = json.loads(p["export_entry"])
seq = e.pop("seq"); stored = bytes.fromhex(e.pop("leaf_hash"))
index, path = e.pop("leaf_index"), [bytes.fromhex(x) for x in e.pop("inclusion")]
record = json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
leaf = sha(b"\x00" + b"auditlens-v1 leaf\n" + aid + struct.pack(">Q", seq) + record)
assert leaf == stored and index == seq - 1
assert root_from_inclusion(index, len(leaves), leaf, path) == root

# Keys: key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4]; texts as in Go's sumdb/note.
k = p["key"]
name, hash_hex, b64 = k["verifier_key"].split("+", 2)
pub = base64.b64decode(b64)
assert name == k["name"] and pub[0] == 1 and len(pub) == 33
assert sha(name.encode() + b"\n" + pub)[:4].hex() == hash_hex == k["key_id"]
assert k["private_key"].startswith("PRIVATE+KEY+" + name + "+" + hash_hex + "+")
# The signed note: the checkpoint text, a blank line, "— name base64(key ID || signature)".
body, sigs = p["signed_checkpoint"].rsplit("\n\n", 1)
assert body + "\n" == d["checkpoint"]
for line in sigs.splitlines():
    assert line.startswith("\u2014 " + name + " ")
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4].hex() == hash_hex and len(raw) == 4 + 64
# (The Ed25519 signature itself needs a library; tests/vectors.rs checks it.)
print(f"proof vectors OK: {len(p['inclusion'])} inclusion, {len(p['consistency'])} consistency proofs, key {hash_hex}")
