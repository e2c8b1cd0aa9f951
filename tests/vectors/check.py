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
