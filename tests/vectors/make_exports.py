#!/usr/bin/env python3
"""Writes tests/vectors/exports-v1.json: auditlens exports of the chain-v1 archive (and of that
archive with a sixth entry whose values need the CSV guard), genuine and tampered, with the verdict
each must get from FORMAT.md. The genuine files are made by the auditlens binary; the tampers are
text edits made here, so the file shows exactly what changed.

    python3 tests/vectors/make_exports.py target/debug/auditlens

Run again only when the export format changes; check.py and tests/agreement.rs read the result.
"""
import base64
import csv, json, os, re, sqlite3, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import check as c  # noqa: E402  (the independent implementation: hashes, canonical form)

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/auditlens")
CHAIN = c.load("chain-v1.json")
PROOFS = c.load("proofs-v1.json")
AID = bytes.fromhex(CHAIN["archive_id"])

# The schema of FORMAT.md 6 as auditlens writes it (core/src/archive/schema.rs).
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE entries (
    seq           INTEGER PRIMARY KEY,
    record        TEXT NOT NULL,
    leaf_hash     BLOB NOT NULL,
    chain_hash    BLOB NOT NULL,
    entry_id      TEXT NOT NULL,
    time_ms       INTEGER NOT NULL,
    actor_type    TEXT,
    actor_id      TEXT,
    actor_label   TEXT,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    project_id    TEXT,
    org_id        TEXT,
    ip_address    TEXT
);
CREATE UNIQUE INDEX entries_entry_id ON entries(entry_id);
CREATE INDEX entries_time ON entries(time_ms);
CREATE TABLE ingests (
    run           INTEGER PRIMARY KEY,
    finished_at   TEXT NOT NULL,
    sources       TEXT NOT NULL,
    added         INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    conflicts     INTEGER NOT NULL,
    first_seq     INTEGER,
    last_seq      INTEGER
);
CREATE TABLE conflicts (
    entry_id      TEXT NOT NULL,
    existing_seq  INTEGER NOT NULL,
    record        TEXT NOT NULL,
    source        TEXT NOT NULL,
    UNIQUE(entry_id, record)
);
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'auditlens: archive entries are append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'auditlens: archive entries are append-only'); END;
CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta
BEGIN SELECT RAISE(ABORT, 'auditlens: archive metadata is fixed'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
BEGIN SELECT RAISE(ABORT, 'auditlens: archive metadata is fixed'); END;
"""

# A sixth entry whose values start with the characters the CSV export guards (FORMAT.md 9).
SIXTH = c.canon({
    "id": "cm8a1b2c3d4e5f6g7h8i9j0k6", "time": "2025-03-14T09:25:00.000Z",
    "actor": {"type": "API_KEY", "api_key_id": "clkeyacmeprod000000000001", "api_key_name": "=HYPERLINK(\"http://x.example\")"},
    "resource_type": "apiKey", "resource_id": "+shared", "resource_name": "@team", "action": "create",
    "after": c.Num("-1"), "org_id": "clorgacme0000000000000001", "project_id": "clprjacmeprod00000000001",
    "project_name": "", "user_agent": "\tcurl/8.0", "ip_address": "-203.0.113.9"})


def build(path, records):
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.execute("PRAGMA application_id = 1096107084")
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("archive_id", AID.hex()), ("created_at", "2025-03-14T10:00:00.000Z"), ("created_by", "make_exports.py"),
        ("format", "auditlens-archive"), ("format_version", "1")])
    prev = c.genesis(AID)
    for seq, rec in enumerate(records, 1):
        leaf = c.leaf_hash(AID, seq, rec.encode())
        prev = c.link(prev, leaf)
        cols = c.derived_columns(json.loads(rec))
        conn.execute("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     (seq, rec, leaf, prev, *[cols[k] for k in c.INDEX_COLS]))
    conn.commit()
    conn.close()


def run(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"auditlens {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def read(path):
    return open(path, encoding="utf-8", newline="").read()


def main():
    tmp = tempfile.mkdtemp()
    a5, a6 = os.path.join(tmp, "a5.sqlite"), os.path.join(tmp, "a6.sqlite")
    recs = [e["canonical"] for e in CHAIN["entries"]]
    build(a5, recs)
    build(a6, recs + [SIXTH])
    key = os.path.join(tmp, "test.key")
    with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(PROOFS["key"]["private_key"] + "\n")
    other = os.path.join(tmp, "other.key")
    run("keygen", "--name", "someone-else.example", "-o", other)
    pub, other_pub = PROOFS["key"]["verifier_key"] + "\n", read(other + ".pub")
    cp5, cp6 = run("checkpoint", a5), run("checkpoint", a6)

    def export(archive, fmt, *flt, sign=False):
        out = os.path.join(tmp, f"x{len(os.listdir(tmp))}.{fmt}")
        run("export", archive, "--format", fmt, "-o", out, *flt, *(["--sign", key] if sign else []))
        files = {"export." + fmt: read(out)}
        if os.path.exists(out + ".proof.json"):
            files["export." + fmt + ".proof.json"] = read(out + ".proof.json").replace(os.path.basename(out), "export." + fmt)
        return files

    cases = []

    def case(name, files, exit, kinds, checkpoint=None, key=None, note=None):
        main_file = next(k for k in files if not k.endswith(".proof.json"))
        d = {"name": name, "verify": main_file, "files": files, "exit": exit, "kinds": sorted(set(kinds))}
        if checkpoint:
            d["checkpoint"] = checkpoint
        if key:
            d["key"] = key
        if note:
            d["note"] = note
        cases.append(d)

    def edit(files, f, old, new, count=1):
        files = dict(files)
        assert old in files[f], (f, old)
        files[f] = files[f].replace(old, new, count)
        return files

    create = ("--action", "create")
    W = {fmt: export(a6, fmt) for fmt in ("ndjson", "json", "csv")}
    S = {fmt: export(a6, fmt, *create) for fmt in ("ndjson", "json", "csv")}
    E = {fmt: export(a6, fmt, "--action", "no-such-action") for fmt in ("ndjson", "json", "csv")}
    signed = export(a6, "ndjson", *create, sign=True)
    old_subset = export(a5, "ndjson", *create)

    for fmt in ("ndjson", "json", "csv"):
        case(f"{fmt}_whole", W[fmt], 0, [])
        case(f"{fmt}_subset", S[fmt], 0, [])
        case(f"{fmt}_empty", E[fmt], 0, [], note="an empty export is a valid answer (issue 12 item 3)")
        case(f"{fmt}_subset_with_its_checkpoint", S[fmt], 0, [], checkpoint=cp6)
        case(f"{fmt}_whole_with_its_checkpoint", W[fmt], 0, [], checkpoint=cp6)
    case("csv_subset_without_sidecar", {"export.csv": S["csv"]["export.csv"]}, 0, [], note="INTACT but not proven")
    case("csv_whole_without_sidecar", {"export.csv": W["csv"]["export.csv"]}, 0, [], note="INTACT but not proven")
    case("csv_subset_without_sidecar_with_checkpoint", {"export.csv": S["csv"]["export.csv"]}, 1, ["unproven_entry"],
         checkpoint=cp6, note="nothing proves the rows against the given checkpoint")
    pretty = S["json"]["export.json"].replace('\n"entries":[\n', '\n  "entries": [\n    ').replace("},\n{", "},\n    {")
    case("json_subset_pretty_printed", {"export.json": pretty}, 0, [])
    case("ndjson_subset_signed", signed, 0, [], key=pub)
    case("ndjson_subset_signed_other_key", signed, 1, ["not_signed"], key=other_pub)
    case("ndjson_subset_unsigned_with_key", S["ndjson"], 1, ["not_signed"], key=pub)
    note = json.loads(signed["export.ndjson"].split("\n")[0])["auditlens_export"]["checkpoint"]
    sig_b64 = note.rstrip("\n").split("\n")[-1].split(" ")[2]
    raw = bytearray(base64.b64decode(sig_b64))
    raw[-1] ^= 1
    case("ndjson_subset_bad_signature", edit(signed, "export.ndjson", sig_b64, base64.b64encode(bytes(raw)).decode()),
         1, ["bad_signature"], key=pub)

    nd = "export.ndjson"
    line3 = next(ln for ln in S["ndjson"][nd].split("\n") if ln.startswith('{"seq":3,'))
    case("ndjson_subset_entry_edited", edit(S["ndjson"], nd, '"after":"production"', '"after":"staging"'), 1,
         ["record_modified"])
    obj = json.loads(line3)
    obj["after"] = "staging"
    rec = {k: v for k, v in obj.items() if k not in c.CHAIN_KEYS}
    new_leaf = c.leaf_hash(AID, 3, c.canon(rec).encode()).hex()
    case("ndjson_subset_entry_edited_leaf_recomputed",
         edit(edit(S["ndjson"], nd, '"after":"production"', '"after":"staging"'), nd, obj["leaf_hash"], new_leaf), 1,
         ["inclusion_failed", "completeness_failed"])
    # FORMAT.md 9: an entry whose record cannot be read but whose chain fields can is one
    # unreadable_record at its seq; it counts, and the chain links through its stored hashes.
    for fmt, f, start in (("ndjson", nd, '{"seq":3,'), ("csv", "export.csv", f"{AID.hex()},3,")):
        for name, src in (("whole", W[fmt]), ("subset", S[fmt])):
            line = next(ln for ln in src[f].split("\n") if ln.startswith(start))
            if fmt == "ndjson":
                t = json.loads(line)["time"]
                bad = line.replace(f'"time":"{t}"', '"time":"last tuesday"', 1)
            else:
                t = next(csv.reader([line]))[5]
                bad = line.replace(f",{t},", ",last tuesday,", 1)
            assert bad != line
            # A subset's completeness proof needs the entry's index keys, which only its record gives.
            kinds = ["unreadable_record"] + (["completeness_failed"] if name == "subset" else [])
            case(f"{fmt}_{name}_record_unreadable", edit(src, f, line, bad), 1, kinds)
    case("ndjson_subset_proof_hash_changed", edit(S["ndjson"], nd, obj["inclusion"][0], "00" * 32), 1, ["inclusion_failed"])
    stripped = re.sub(r',"leaf_index":\d+,"inclusion":\[[^\]]*\]', "", S["ndjson"][nd])
    case("ndjson_subset_proofs_removed", {nd: stripped}, 1, ["unproven_entry"])
    no_proofs = stripped.replace('"proofs":"rfc6962-inclusion",', "")
    case("ndjson_subset_made_old_without_proofs", {nd: no_proofs}, 0, [],
         note="looks like an export made before proofs existed: INTACT, not proven")
    case("ndjson_subset_without_proofs_with_checkpoint", {nd: no_proofs}, 1, ["unproven_entry"], checkpoint=cp6)
    signed_no_proofs = re.sub(r',"leaf_index":\d+,"inclusion":\[[^\]]*\]', "", signed[nd])
    signed_no_proofs = signed_no_proofs.replace('"proofs":"rfc6962-inclusion",', "")
    case("ndjson_signed_subset_without_proofs_with_key", {nd: signed_no_proofs}, 1, ["unproven_entry"], key=pub,
         note="FORMAT.md 9: with --key a filtered export whose entries are not all proven fails")
    case("ndjson_unknown_proofs", edit(S["ndjson"], nd, '"proofs":"rfc6962-inclusion"', '"proofs":"rfc9999-magic"'), 2, [])
    case("ndjson_unknown_version", edit(S["ndjson"], nd, '"version":1,', '"version":2,'), 2, [])
    case("ndjson_older_subset_newer_checkpoint", old_subset, 1, ["anchor_mismatch", "unproven_entry"], checkpoint=cp6,
         note="the given checkpoint is larger and the export carries no consistency proof to it")
    case("ndjson_newer_subset_older_checkpoint", S["ndjson"], 1, ["anchor_mismatch", "unproven_entry"], checkpoint=cp5)
    case("ndjson_subset_checkpoint_of_another_archive", S["ndjson"], 1, ["anchor_mismatch", "unproven_entry"],
         checkpoint=c.checkpoint_text(bytes(16), [e["canonical"] for e in CHAIN["entries"]]))

    # A forged subset: entry 3 edited, its leaf recomputed, a fake tree around it, the fake tree's
    # checkpoint in the header. Self-consistent: only an anchor the user gives can tell.
    whole_lines = [json.loads(ln, parse_int=c.Num) for ln in W["ndjson"][nd].split("\n")[1:-2]]
    leaves = [bytes.fromhex(o["leaf_hash"]) for o in whole_lines]
    leaves[2] = bytes.fromhex(new_leaf)
    root = c.mth(leaves)
    lines6 = cp6.split("\n")
    fake_cp = "\n".join([lines6[0], lines6[1], base64.b64encode(root).decode(), lines6[3], ""])

    def path(m, leaves):  # RFC 6962 PATH(m, D[n])
        if len(leaves) <= 1:
            return []
        k = 1
        while k * 2 < len(leaves):
            k *= 2
        if m < k:
            return path(m, leaves[:k]) + [c.mth(leaves[k:])]
        return path(m - k, leaves[k:]) + [c.mth(leaves[:k])]

    forged = S["ndjson"][nd].replace(json.dumps(cp6)[1:-1], json.dumps(fake_cp)[1:-1])
    forged = forged.replace('"after":"production"', '"after":"staging"').replace(obj["leaf_hash"], new_leaf)
    forged = forged.replace(json.dumps(obj["inclusion"], separators=(",", ":")),
                            json.dumps([h.hex() for h in path(2, leaves)], separators=(",", ":")))
    p6 = path(5, leaves)
    seq6 = next(ln for ln in S["ndjson"][nd].split("\n") if ln.startswith('{"seq":6,'))
    forged = forged.replace(json.dumps(json.loads(seq6)["inclusion"], separators=(",", ":")),
                            json.dumps([h.hex() for h in p6], separators=(",", ":")))
    case("forged_subset_without_anchor", {nd: forged}, 0, [],
         note="a self-consistent forgery: without a checkpoint from elsewhere nothing can tell")
    case("forged_subset_with_genuine_checkpoint", {nd: forged}, 1, ["anchor_mismatch", "inclusion_failed", "completeness_failed"], checkpoint=cp6,
         note="issue 12 item 1")

    wl = W["ndjson"][nd].split("\n")
    case("ndjson_whole_entry_edited", edit(W["ndjson"], nd, '"after":"production"', '"after":"staging"'), 1,
         ["record_modified"])
    case("ndjson_whole_line_dropped", {nd: "\n".join(wl[:3] + wl[4:])}, 1, ["missing_entries", "export_incomplete"])
    case("ndjson_whole_line_dropped_count_fixed",
         {nd: "\n".join(wl[:3] + wl[4:]).replace('{"count":6}', '{"count":5}')}, 1, ["missing_entries"])
    case("ndjson_whole_last_dropped_count_fixed",
         {nd: "\n".join(wl[:6] + wl[7:]).replace('{"count":6}', '{"count":5}')}, 1, ["truncated"])
    case("ndjson_whole_end_line_dropped", {nd: "\n".join(wl[:7]) + "\n"}, 1, ["export_incomplete"])
    case("ndjson_whole_count_changed", edit(W["ndjson"], nd, '{"count":6}', '{"count":7}'), 1, ["export_incomplete"])
    case("ndjson_whole_lines_swapped", {nd: "\n".join(wl[:2] + [wl[3], wl[2]] + wl[4:])}, 1, ["out_of_order"])
    claims = edit(edit(W["ndjson"], nd, '"proofs":"rfc6962-root"', '"proofs":"rfc6962-inclusion"'), nd,
                  '"filter":{}', '"filter":{"actions":["update"]}')
    case("ndjson_whole_claims_to_be_a_subset", claims, 1, ["outside_filter", "unproven_entry"])
    # FORMAT.md 7/9: an entry must carry its chain hash where the export can check it.
    def no_chain(files, f, line_no):
        ls = files[f].split("\n")
        ls[line_no] = re.sub(r'"chain_hash":"[0-9a-f]+",', "", ls[line_no], count=1)
        return {**files, f: "\n".join(ls)}
    case("ndjson_whole_chain_hash_removed", no_chain(W["ndjson"], nd, 3), 1, ["chain_broken"],
         note="seq 3 of a whole export: its neighbours are exported, so it must carry its chain hash")
    case("ndjson_subset_last_chain_hash_removed", no_chain(S["ndjson"], nd, 2), 1, ["chain_broken"],
         note="seq 6 is the checkpoint's last entry: it must carry the head")
    case("ndjson_subset_lone_chain_hash_removed", no_chain(S["ndjson"], nd, 1), 0, [],
         note="seq 3 alone (seq 2 and 4 not exported): nothing could check its chain hash")
    case("json_subset_cut_short", {"export.json": "\n".join(S["json"]["export.json"].split("\n")[:3]) + "\n"}, 1,
         ["export_incomplete"])
    case("json_whole_entry_edited", edit(W["json"], "export.json", '"after":"production"', '"after":"staging"'), 1,
         ["record_modified"])

    cv, sc = "export.csv", "export.csv.proof.json"
    rows = S["csv"][cv].split("\n")
    case("csv_subset_row_edited", edit(S["csv"], cv, "\"\"\"production\"\"\"", "\"\"\"staging\"\"\""), 1, ["record_modified"])
    case("csv_subset_row_dropped", {cv: "\n".join(rows[:1] + rows[2:]), sc: S["csv"][sc]}, 1, ["export_incomplete", "completeness_failed"])
    side = json.loads(S["csv"][sc], parse_int=c.Num)
    side_lines = S["csv"][sc].split("\n")
    dropped = "\n".join(side_lines[:2] + [side_lines[3].rstrip(",")] + side_lines[4:]).replace('{"count":2', '{"count":1')
    case("csv_subset_proof_dropped", {cv: S["csv"][cv], sc: dropped}, 1, ["unproven_entry"])
    first_leaf = side["entries"][0]["leaf_hash"]
    case("csv_subset_sidecar_leaf_differs", edit(S["csv"], sc, first_leaf, "11" * 32), 1, ["inclusion_failed"])
    assert "'=HYPERLINK" in S["csv"][cv]
    case("csv_unguarded_cell", edit(S["csv"], cv, "'=HYPERLINK", "=HYPERLINK"), 1, ["unguarded_cell"],
         note="the guard removed from a cell: the value reads back alike, so only the missing guard shows it")
    case("csv_unguarded_cell_without_sidecar", {cv: S["csv"][cv].replace("'-203.0.113.9", "-203.0.113.9")}, 1,
         ["unguarded_cell"])
    case("csv_row_names_another_archive", edit(S["csv"], cv, AID.hex(), "ff" * 16), 1, ["wrong_archive"])

    # Complete exports (FORMAT.md 14): each filter kind, and each tamper of a complete export.
    def claim_of(files):
        f = next(k for k in files if not k.endswith(".csv"))
        if f.endswith(".proof.json"):
            return json.loads(files[f])["auditlens_proof_end"]
        return json.loads(files[f].rstrip("\n").split("\n")[-1])["auditlens_export_end"]

    t_range = ("--from", "2025-03-14T09:22:00Z", "--to", "2025-03-14T09:25:00Z")
    kinds_of_filter = {
        "time_range": t_range,
        "project": ("--project", "clprjacmeprod00000000001"),
        "action": create,
        "resource_type": ("--resource-type", "prompt"),
        "actor_user": ("--actor", "cluserbob0000000000000002"),
        "actor_api_key": ("--actor", "clkeyacmeprod000000000001"),
        "project_and_time": ("--project", "clprjacmeprod00000000001", *t_range),
        "action_and_time": ("--action", "updateTags", *t_range),
        "resource_type_and_time": ("--resource-type", "prompt", *t_range),
        "actor_and_time": ("--actor", "cluserbob0000000000000002", *t_range),
        "action_then_project": ("--action", "create", "--project", "clprjacmeprod00000000001"),
    }
    C = {}
    for name, flt in kinds_of_filter.items():
        C[name] = export(a6, "ndjson", *flt)
        assert "complete" in claim_of(C[name]), f"{name}: the export carries no completeness proof"
        case(f"complete_{name}", C[name], 0, [], note="a complete export (FORMAT.md 14)")
    TC = export(a6, "csv", *t_range)
    assert "complete" in claim_of(TC)
    case("complete_csv_time_range", TC, 0, [])
    case("complete_empty", E["ndjson"], 0, [], note="an empty complete export: nothing has the action")
    tl = C["time_range"][nd].split("\n")  # header, seqs 2, 3, 4, end, ""
    assert [json.loads(x)["seq"] for x in tl[1:4]] == [2, 3, 4]
    end3 = '"count":3,'
    case("complete_entry_dropped_count_fixed", {nd: "\n".join(tl[:2] + tl[3:]).replace(end3, '"count":2,')}, 1,
         ["completeness_failed"])
    case("complete_entry_dropped", {nd: "\n".join(tl[:2] + tl[3:])}, 1, ["completeness_failed", "export_incomplete"])
    line1 = next(ln for ln in export(a6, "ndjson", "--action", "update")[nd].split("\n") if ln.startswith('{"seq":1,'))
    assert '"chain_hash"' in line1
    case("complete_entry_added_count_fixed",
         {nd: "\n".join(tl[:1] + [line1] + tl[1:]).replace(end3, '"count":4,')}, 1,
         ["completeness_failed", "outside_filter"],
         note="a genuine entry from outside the range (seq 1, with its inclusion proof) added")
    case("complete_entry_duplicated_count_fixed",
         {nd: "\n".join(tl[:3] + [tl[2]] + tl[3:]).replace(end3, '"count":4,')}, 1,
         ["completeness_failed", "out_of_order"])
    case("complete_entries_swapped", {nd: "\n".join([tl[0], tl[2], tl[1]] + tl[3:])}, 1, ["out_of_order"])
    case("complete_filter_widened", edit(C["time_range"], nd, '"to":"2025-03-14T09:25:00.000Z"',
                                         '"to":"2025-03-14T09:30:00.000Z"'), 1, ["completeness_failed"],
         note="the right neighbour (seq 6, 09:25) now lies in the stated range")
    case("complete_filter_narrowed", edit(C["time_range"], nd, '"from":"2025-03-14T09:22:00.000Z"',
                                          '"from":"2025-03-14T09:23:00.000Z"'), 1,
         ["completeness_failed", "outside_filter"])
    case("complete_filter_changed_index", edit(C["action"], nd, '"actions":["create"]',
                                               '"resource_types":["apiKey"]'), 1,
         ["completeness_failed", "outside_filter"])
    case("complete_filter_other_value", edit(C["action"], nd, '"actions":["create"]', '"actions":["update"]'), 1,
         ["completeness_failed", "outside_filter"])
    # Narrowed by a part no index proves: the range proof still holds, the entries do not match.
    case("complete_filter_narrowed_further", edit(C["action"], nd, '"actions":["create"]',
                                                  '"actions":["create"],"search":"no-such-text"'), 1,
         ["outside_filter"], note="complete for action = create, then filtered further: every entry is outside")
    case("complete_filter_actor_type_added", edit(C["action"], nd, '"actions":["create"]',
                                                  '"actions":["create"],"actor_type":"NO_SUCH_TYPE"'), 1,
         ["outside_filter"])
    case("filter_unreadable", edit(C["action"], nd, '"actions":["create"]', '"actions":"create"'), 1,
         ["completeness_failed", "outside_filter"], note="the stated filter's actions is not a list")
    proof0 = claim_of(C["time_range"])["complete"]["proof"][0]
    case("complete_proof_hash_changed", edit(C["time_range"], nd, proof0, "00" * 32), 1, ["completeness_failed"])
    left = json.dumps(claim_of(C["time_range"])["complete"]["left"], separators=(",", ":"))
    case("complete_left_neighbour_removed", edit(C["time_range"], nd, '"left":' + left, '"left":null'), 1,
         ["completeness_failed"])
    no_claim = re.sub(r',"complete":\{.*\}\}\}$', "}}", C["time_range"][nd].rstrip("\n")) + "\n"
    assert '"complete"' not in no_claim
    case("complete_proof_removed", {nd: no_claim}, 0, [], note="INTACT, proven genuine, NOT PROVEN COMPLETE")
    old_cp = "\n".join(cp6.split("\n")[:4]) + "\n"
    case("complete_with_old_checkpoint_given", C["time_range"], 0, [], checkpoint=old_cp,
         note="the same tree; the given checkpoint carries no index roots: proven genuine, not proven complete")
    cl = TC["export.csv"].split("\n")
    case("complete_csv_row_dropped", {"export.csv": "\n".join(cl[:2] + cl[3:]), sc: TC[sc]}, 1,
         ["completeness_failed", "export_incomplete"])

    doc = {"about": "auditlens exports of the chain-v1 archive (archive A6: its five entries and a sixth whose values "
                    "need the CSV guard; A5: the first five), genuine and tampered (tests/vectors/make_exports.py). "
                    "Each case: write files into an empty folder, run verify on `verify` (with `checkpoint` and `key` "
                    "written to files and passed as --checkpoint/--key when present); exit is 0 intact, 1 tampered, "
                    "2 refused; kinds is the set of tampering finding kinds.",
           "checkpoint_a5": cp5, "checkpoint_a6": cp6, "cases": cases}
    with open(os.path.join(HERE, "exports-v1.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(cases)} export cases")
    write_complete_vectors(cp5, [(flt, claim_of(export(a5, "ndjson", *flt))["complete"]) for flt in [
        ("--action", "create"), ("--from", "2025-03-14T09:22:00Z", "--to", "2025-03-14T09:24:00Z"),
        ("--project", "clprjacmeprod00000000001"), ("--actor", "clkeyacmeprod000000000001"),
        ("--resource-type", "prompt", "--from", "2025-03-14T09:00:00Z"), ("--action", "no-such-action")]])


def write_complete_vectors(cp5, claims):
    """tests/vectors/complete-v1.json (FORMAT.md 14): the five index trees of the chain-v1 archive (each
    leaf's key, time, seq and index leaf hash in index order, computed here by check.py's reading of the
    spec), the roots auditlens's checkpoint carries, and range proofs auditlens wrote. check.py recomputes
    all of it; core/src/index_tree.rs checks the same file."""
    recs = [json.loads(e["canonical"], parse_int=c.Num, parse_float=c.Num) for e in CHAIN["entries"]]
    rows = [(seq, bytes.fromhex(e["leaf_hash"]), c.time_ms(r["time"]), c.index_keys(r))
            for seq, (e, r) in enumerate(zip(CHAIN["entries"], recs), 1)]
    cp = c.parse_checkpoint(cp5)
    roots = c.index_roots(rows)
    indexes = {}
    for i, name in enumerate(c.INDEX_NAMES):
        assert roots[name] == cp.indexes[name], f"the {name} root auditlens wrote is not check.py's"
        ordered = sorted(rows, key=lambda r: (c.key_order(r[3][i]), r[2], r[0]))
        indexes[name] = {"root": roots[name].hex(), "leaves": [
            {"key": r[3][i], "time_ms": r[2], "seq": r[0], "leaf_hash": r[1].hex(),
             "index_leaf": c.index_leaf(name, r[3][i], r[2], r[0], r[1]).hex()} for r in ordered]}
    doc = {"about": "Index trees and range proofs of FORMAT.md 14 over the five entries of chain-v1.json "
                    "(tests/vectors/make_exports.py). `indexes`: per index, its leaves in index order and its "
                    "root; `checkpoint`: the checkpoint auditlens writes for that archive (its index lines carry "
                    "the same roots); `range_proofs`: the `complete` object of an export with the given CLI "
                    "filter, which must lead to the index root.",
           "checkpoint": cp5, "indexes": indexes,
           "range_proofs": [{"filter": list(f), "complete": cl} for f, cl in claims]}
    with open(os.path.join(HERE, "complete-v1.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(claims)} range proofs and 5 index trees")


if __name__ == "__main__":
    main()
