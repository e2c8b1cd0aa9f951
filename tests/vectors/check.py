#!/usr/bin/env python3
"""An independent verifier of auditlens archives and exports, written from
docs/FORMAT.md alone (Python standard library only, Ed25519 included).

    python3 tests/vectors/check.py
        checks every vector file in tests/vectors (chain, proofs, findings,
        checkpoints, exports, index trees); exits 1 on any disagreement with a vector.
    python3 tests/vectors/check.py verify PATH [--checkpoint C] [--key K.pub]... [--json]
        verifies an archive (.sqlite) or an auditlens export (JSON, NDJSON, CSV
        with its OUT.proof.json sidecar); prints a verdict line and one line per
        finding "FINDING kind seq detail"; exit 0 intact, 1 tampered, 2 could
        not read (the reason on stderr).

It shares no code with auditlens: where the two disagree, one of them (or the
spec) is wrong. Decisions the spec leaves open are marked "SPEC?" below; in short:
times are `time`, `updated_at` and `actor.api_key_created_at`; depth counts each array/object
(a record may nest 126, any text 128); records over MAX_RECORD_BYTES are non-canonical; unknown
keys and texts that are no time make a record unreadable; duplicate keys and every other
non-canonical form (escapes, times written another way, whitespace, key order, empty
extra, lone surrogates, depth) are non_canonical_record; in exports the record is
checked against its stored leaf hash once and proofs, links and roots use the
stored leaf; "truncated" compares the last seq; an export without proofs whose
filter is {} is whole; any difference between a given checkpoint and the export's
own is anchor_mismatch; a malformed signature line refuses the note (exit 2); index roots are rebuilt
only when the checkpoint's root and chain head match, from the stored leaf hashes; a completeness proof is
checked against the checkpoint the inclusion proofs are checked against, and an entry whose record does not
match its leaf hash is judged by record_modified only (FORMAT.md 14).
tests/agreement.rs runs this file and auditlens side by side on every input.
"""
import base64, csv, datetime, hashlib, io, json, os, re, sqlite3, struct, sys, tempfile

MIB16 = 16 * 1024 * 1024
MAX_RECORD_BYTES = MIB16 - 8 * 1024  # FORMAT.md 2: room for the longest export line
MAX_DEPTH = 128  # FORMAT.md 2: nesting deeper than 128 levels is refused
MAX_RECORD_DEPTH = 126  # FORMAT.md 2: a record nested deeper than 126 levels is refused
WARNINGS = {"protection_removed", "schema_altered", "time_backwards"}


class Unreadable(Exception):
    """The input cannot be verified at all (exit 2)."""


# ---------------------------------------------------------------- hashes (FORMAT.md 4)
def sha(b):
    return hashlib.sha256(b).digest()


def leaf_hash(aid, seq, record):
    return sha(b"\x00auditlens-v1 leaf\n" + aid + struct.pack(">Q", seq) + record)


def genesis(aid):
    return sha(b"\x02auditlens-v1 genesis\n" + aid)


def link(prev, leaf):
    return sha(b"\x02auditlens-v1 link\n" + prev + leaf)


def node(l, r):
    return sha(b"\x01" + l + r)


def mth(leaves):
    """RFC 6962 Merkle tree hash, iteratively (the largest power of two split)."""
    if not leaves:
        return sha(b"")
    stack = []
    # Fold complete subtrees left to right, as MerkleBuilder does: O(log n) stack.
    for h in leaves:
        size = 1
        while stack and stack[-1][1] == size:
            left, _ = stack.pop()
            h, size = node(left, h), size * 2
        stack.append((h, size))
    h = stack.pop()[0]
    while stack:
        h = node(stack.pop()[0], h)
    return h


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


# ---------------------------------------------------------------- Ed25519 verification (RFC 8032 5.1.7, from its section 6 code)
_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(a, b):
    A, B = (a[1] - a[0]) * (b[1] - b[0]) % _P, (a[1] + a[0]) * (b[1] + b[0]) % _P
    C, D = 2 * a[3] * b[3] * _D % _P, 2 * a[2] * b[2] % _P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % _P, G * H % _P, F * G % _P, E * H % _P)


def _mul(s, pt):
    acc = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            acc = _add(acc, pt)
        pt, s = _add(pt, pt), s >> 1
    return acc


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 % _P == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    return _P - x if (x & 1) != sign else x


def _decompress(s):
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_G = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % _P)


def ed25519_verify(public, msg, sig):
    if len(public) != 32 or len(sig) != 64:
        return False
    A, R = _decompress(public), _decompress(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if A is None or R is None or s >= _Q:
        return False
    h = int.from_bytes(hashlib.sha512(sig[:32] + public + msg).digest(), "little") % _Q
    lhs, rhs = _mul(s, _G), _add(R, _mul(h, A))
    return (lhs[0] * rhs[2] - rhs[0] * lhs[2]) % _P == 0 and (lhs[1] * rhs[2] - rhs[1] * lhs[2]) % _P == 0


# ---------------------------------------------------------------- JSON (FORMAT.md 2)
class Num(str):
    """A JSON number kept as its source text (never re-formatted)."""


class Dups(dict):
    """An object that had a key twice (kept so that canonical checks can name it)."""


def _pairs(pairs):
    d, dup = {}, None
    for k, v in pairs:
        if k in d and dup is None:
            dup = k
        d[k] = v
    if dup is None:
        return d
    out = Dups(d)
    out.dup = dup
    return out


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_int=Num, parse_float=Num, parse_constant=_no_constant)


def parse_json(text):
    """Parses JSON text; ValueError (with the reason) on anything that is not one JSON value."""
    try:
        v = DECODER.decode(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    d = depth(v)
    if d > MAX_DEPTH:
        raise ValueError(f"nested {d} levels deep (limit {MAX_DEPTH})")
    return v


def depth(v):
    """Nesting depth: a scalar is 0, each array or object around it adds one. SPEC? (how depth is counted)"""
    best, todo = 0, [(v, 0)]
    while todo:
        x, d = todo.pop()
        if isinstance(x, (list, dict)):
            d += 1
            best = max(best, d)
            todo.extend((y, d) for y in (x.values() if isinstance(x, dict) else x))
    return best


_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def canon_str(s):
    out = ['"']
    for ch in s:
        if ch in _ESC:
            out.append(_ESC[ch])
        elif ch < " ":
            out.append("\\u%04x" % ord(ch))
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError("lone UTF-16 surrogate \\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canon(v):
    """Canonical JSON text of a parsed value (FORMAT.md 2); ValueError if it has none."""
    if isinstance(v, Dups):
        raise ValueError(f"duplicate key {v.dup}")
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, Num):
        return str(v)
    if isinstance(v, str):
        return canon_str(v)
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-8", "surrogatepass"))
        return "{" + ",".join(canon_str(k) + ":" + canon(v[k]) for k in keys) + "}"
    raise ValueError(f"not a JSON value: {type(v).__name__}")


# ---------------------------------------------------------------- the record (FORMAT.md 1, 3)
TOP = ["id", "time", "updated_at", "actor", "resource_type", "resource_id", "resource_name", "action",
       "before", "after", "org_id", "org_name", "project_id", "project_name", "ip_address", "user_agent", "extra"]
ACTOR = ["type", "user_id", "email", "org_role", "project_role", "auth_method", "api_key_id", "api_key_name",
         "api_key_scope", "api_key_scope_id", "api_key_created_at", "api_key_created_by"]
REQUIRED = ["id", "time", "resource_type", "resource_id", "action"]
# FORMAT.md 1: the times of a record are `time`, `updated_at` and `actor.api_key_created_at`.
TIMES = ["time", "updated_at"]
ACTOR_TIMES = ["api_key_created_at"]
TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z$")
# FORMAT.md 8: what reads as a time in an input (then written canonically).
LOOSE_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$")


def is_some_time(t):
    """A time FORMAT.md 8 reads (any of its forms), though perhaps not canonical."""
    m = LOOSE_TIME_RE.match(t)
    if not m:
        return False
    frac = m.group(7) or ""
    if frac[3:].strip("0"):
        return False  # digits below the millisecond: refused
    try:
        datetime.datetime(*(int(x) for x in m.groups()[:6]))
    except ValueError:
        return False
    return True


def time_ms(t):
    m = TIME_RE.match(t)
    if not m:
        return None
    try:
        y, mo, d, h, mi, s, ms = (int(x) for x in m.groups())
        dt = datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return int((dt - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds()) * 1000 + ms


def check_record(rec):
    """(unreadable, problems) for a parsed record object. `unreadable` says why it is no entry at
    all (not an object, a required field missing or of the wrong type, an unknown key: FORMAT.md 3
    "any other key is an error when reading a record"); `problems` lists what keeps a readable entry
    from being canonical (non-canonical time, empty extra, depth)."""
    if not isinstance(rec, dict):
        return "the record is not a JSON object", []
    problems = []
    for k in REQUIRED:
        if k not in rec:
            return f"required field {k} missing", []
    for k, v in rec.items():
        if k not in TOP:
            return f"unknown field {k}", []
        elif k in ("before", "after"):
            pass
        elif k == "extra":
            if not isinstance(v, dict):
                return "extra is not an object", []
            if not v:
                problems.append("extra is present but empty")
        elif k == "actor":
            if not isinstance(v, dict):
                return "actor is not an object", []
            for a, av in v.items():
                if a not in ACTOR:
                    return f"unknown field actor.{a}", []
                elif not isinstance(av, str) or isinstance(av, Num):
                    return f"actor.{a} is not a string", []
        elif not isinstance(v, str) or isinstance(v, Num):
            return f"{k} is not a string", []
    if "actor" not in rec:
        problems.append("actor missing (it is always present, possibly {})")
    times = [(k, rec[k]) for k in TIMES if k in rec]
    times += [(f"actor.{k}", rec["actor"][k]) for k in ACTOR_TIMES if k in rec.get("actor", {})]
    for k, t in times:
        if time_ms(t) is None:
            # FORMAT.md 3: a time written another way is not canonical; a text that is no time
            # at all makes the record unreadable.
            if not is_some_time(t):
                return f"{k} {t!r} is not a time", []
            problems.append(f"time {t} is not canonical (YYYY-MM-DDTHH:MM:SS.mmmZ)")
    d = depth(rec)
    if d > MAX_RECORD_DEPTH:
        problems.append(f"nested {d} levels deep (a record may nest {MAX_RECORD_DEPTH})")
    return None, problems


def escape_problems(raw):
    """Names the escapes a non-canonical text used (for the finding's detail)."""
    out = []
    if "\\/" in raw:
        out.append("escaped '/' as \\/")
    for m in re.finditer(r"\\u([0-9a-fA-F]{4})", raw):
        c = int(m.group(1), 16)
        if c >= 0x20 or m.group(1) != m.group(1).lower() or chr(c) in _ESC:
            out.append(f"escape \\u{m.group(1)} is not minimal")
            break
    return out


def read_record(raw):
    """Parses stored record bytes. Returns (record or None, kind or None, detail): kind is
    unreadable_record or non_canonical_record."""
    if len(raw) > MAX_RECORD_BYTES:
        return None, "non_canonical_record", f"record of {len(raw)} bytes is over the 16 MiB limit"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, "unreadable_record", f"invalid UTF-8 at byte {e.start}"
    try:
        rec = parse_json(text)
    except ValueError as e:
        msg = str(e)
        kind = "non_canonical_record" if "nested" in msg else "unreadable_record"
        return None, kind, f"not JSON: {msg}"
    why, problems = check_record(rec)
    if why:
        return None, "unreadable_record", why
    try:
        c = canon(rec)
    except ValueError as e:
        # FORMAT.md 3: a record both not canonical (duplicate keys are not in strictly
        # increasing order; a lone surrogate has no canonical form) and not readable as an
        # entry is non_canonical_record.
        return rec, "non_canonical_record", str(e)
    if c != text:
        problems = escape_problems(text) + problems or ["bytes differ from the canonical form"]
    if problems:
        return rec, "non_canonical_record", "; ".join(problems)
    return rec, None, ""


# ---------------------------------------------------------------- checkpoints and notes (FORMAT.md 5, 11; DECISIONS12)
class Checkpoint:
    def __init__(self, origin, aid, size, root, chain, text, sigs, indexes=None):
        self.origin, self.aid, self.size, self.root, self.chain = origin, aid, size, root, chain
        self.text, self.sigs = text, sigs  # text: the signed body; sigs: [(name, raw bytes)]
        self.indexes = indexes  # FORMAT.md 5, 14: {index name: root} or None (an older checkpoint)

    def same(self, o):
        return (self.origin, self.size, self.root, self.chain) == (o.origin, o.size, o.root, o.chain)


B64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def b64_strict(s):
    """Standard base64 with padding, canonical (the only text for its bytes)."""
    if not B64_RE.match(s) or len(s) % 4:
        raise ValueError(f"{s!r} is not padded standard base64")
    b = base64.b64decode(s, validate=True)
    if base64.b64encode(b).decode() != s:
        raise ValueError(f"{s!r} is not canonical base64")
    return b


def parse_checkpoint(data):
    """Strict parse of a checkpoint or signed note (bytes or str); ValueError with the reason."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the checkpoint is not UTF-8")
    if "\r" in data:
        raise ValueError("the checkpoint has CR line endings (only \\n is allowed)")
    if not data.endswith("\n"):
        raise ValueError("the checkpoint does not end with a newline")
    if "\n\n" in data:
        text, sig_block = data.split("\n\n", 1)
        text += "\n"
        if not sig_block:
            raise ValueError("a blank line with no signature lines after it")
    else:
        text, sig_block = data, None
    lines = text[:-1].split("\n")
    for ln in lines:
        if ln == "":
            raise ValueError("an empty line inside the checkpoint body")
        if ln != ln.strip(" \t"):
            raise ValueError(f"leading or trailing space in line {ln!r}")
    if len(lines) < 3:
        raise ValueError("a checkpoint has at least three lines (origin, size, root)")
    origin = lines[0]
    m = re.fullmatch(r"auditlens\.archive/([0-9a-f]{32})", origin)
    if not m:
        raise ValueError(f"origin {origin!r} is not auditlens.archive/<32 lower-case hex digits>")
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", lines[1]) or int(lines[1]) >= 2**64:
        raise ValueError(f"size {lines[1]!r} is not a decimal number without sign or leading zeros")
    root = b64_strict(lines[2])
    if len(root) != 32:
        raise ValueError("the root is not 32 bytes")
    # FORMAT.md 5: exactly four lines; the fourth is the chain head. This
    # version knows no other extension line and refuses one it does not know.
    if len(lines) < 4:
        raise ValueError("no chain line")
    if not re.fullmatch(r"chain [0-9a-f]{64}", lines[3]):
        raise ValueError(f"line 4 {lines[3]!r} is not 'chain' and 64 lower-case hex digits")
    # FORMAT.md 5, "Index lines": none, or exactly the five in this order.
    indexes = None
    if len(lines) > 4:
        names = ["time", "action", "actor", "resource_type", "project"]
        if not lines[4].startswith("index ") or len(lines) != 9:
            raise ValueError(f"line 5 {lines[4]!r} is an unknown extension line or a second chain line")
        indexes = {}
        for name, ln in zip(names, lines[4:]):
            parts = ln.split(" ")
            if len(parts) != 3 or parts[0] != "index" or parts[1] != name:
                raise ValueError(f"line {ln!r} should be 'index {name}'")
            r = b64_strict(parts[2])
            if len(r) != 32:
                raise ValueError(f"the {name} index root is not 32 bytes")
            indexes[name] = r
    chain = bytes.fromhex(lines[3][6:])
    sigs = []
    if sig_block is not None:
        sig_lines = sig_block[:-1].split("\n")
        if len(sig_lines) > 100:  # FORMAT.md 11: at most 100 signatures
            raise ValueError(f"{len(sig_lines)} signature lines: more than 100")
        for ln in sig_lines:
            if not ln.startswith("\u2014 "):
                raise ValueError(f"signature line {ln!r} does not start with an em dash and a space")
            parts = ln[2:].split(" ")
            if len(parts) != 2 or not parts[0] or "+" in parts[0]:
                raise ValueError(f"signature line {ln!r} is not '— name base64'")
            try:
                raw = b64_strict(parts[1])
            except ValueError as e:
                raise ValueError(f"signature line: {e}")
            if len(raw) < 5:
                raise ValueError("a signature shorter than its key ID")
            sigs.append((parts[0], raw))
    return Checkpoint(origin, bytes.fromhex(m.group(1)), int(lines[1]), root, chain, text, sigs, indexes)


def parse_key(text):
    """A verifier key `name+hash+base64(0x01 ‖ key)` (FORMAT.md 11): (name, key id, public key)."""
    t = text.strip("\n")
    parts = t.split("+", 2)
    if len(parts) != 3 or not parts[0] or re.search(r"\s", parts[0]):
        raise ValueError("a verifier key is name+hash+base64")
    name, h, b64 = parts
    raw = b64_strict(b64)
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("a verifier key holds 0x01 and 32 bytes of Ed25519 public key")
    kid = sha(name.encode() + b"\n" + raw)[:4]
    if kid.hex() != h:
        raise ValueError(f"key hash {h} does not match the name and key ({kid.hex()})")
    return name, kid, raw[1:]


def check_signatures(cp, keys, findings):
    """FORMAT.md 11: a failing signature by a given key rejects; no verifying key: not signed."""
    ok = False
    for name, kid, pub in keys:
        for sname, raw in cp.sigs:
            if sname != name or raw[:4] != kid:
                continue
            if len(raw) == 68 and ed25519_verify(pub, cp.text.encode(), raw[4:]):
                ok = True
            else:
                findings.append(("bad_signature", None, f"signature by {name} does not verify"))
    if not ok and not any(f[0] == "bad_signature" for f in findings):
        findings.append(("not_signed", None, "no given key signed the checkpoint"))


# ---------------------------------------------------------------- archives (FORMAT.md 6, 7)
def derived_columns(rec):
    """The index columns of FORMAT.md 6, derived from the record.
    SPEC? the fall-back order of actor_id and actor_label is not written down; this reads
    "user id, or key id for API keys" and "email, or key name for API keys, falling back to the ids"."""
    a = rec.get("actor", {}) if isinstance(rec.get("actor"), dict) else {}
    if a.get("type") == "API_KEY":
        aid = a.get("api_key_id", a.get("user_id"))
        label = a.get("api_key_name", a.get("api_key_id", a.get("user_id")))
    else:
        aid = a.get("user_id", a.get("api_key_id"))
        label = a.get("email", a.get("user_id", a.get("api_key_id")))
    return {"entry_id": rec["id"], "time_ms": time_ms(rec["time"]), "actor_type": a.get("type"),
            "actor_id": aid, "actor_label": label, "action": rec["action"],
            "resource_type": rec["resource_type"], "resource_id": rec["resource_id"],
            "project_id": rec.get("project_id"), "org_id": rec.get("org_id"), "ip_address": rec.get("ip_address")}


INDEX_COLS = ["entry_id", "time_ms", "actor_type", "actor_id", "actor_label", "action", "resource_type",
              "resource_id", "project_id", "org_id", "ip_address"]


def open_archive(path):
    try:
        # immutable: no lock, no journal, no file created beside the evidence (reading never writes).
        conn = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro&immutable=1", uri=True)
        conn.execute("PRAGMA query_only = 1")
        meta = dict(conn.execute("SELECT key, value FROM meta"))
    except sqlite3.Error as e:
        raise Unreadable(f"{path}: not an auditlens archive ({e})")
    if meta.get("format") != "auditlens-archive" or meta.get("format_version") != "1":
        raise Unreadable(f"{path}: meta does not name format auditlens-archive version 1")
    if not re.fullmatch(r"[0-9a-f]{32}", meta.get("archive_id", "")):
        raise Unreadable(f"{path}: meta holds no archive id of 32 lower-case hex digits")
    conn.text_factory = bytes  # a record that is not UTF-8 is a finding, not a crash
    return conn, bytes.fromhex(meta["archive_id"])


def sqlite_index_findings(conn, findings):
    """Each index on `entries` must list every row once under its key (read through the index
    with INDEXED BY, compared with a scan of the table)."""
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='entries'"):
        cols = [r[2] for r in conn.execute(f"PRAGMA index_info(\"{name}\")")]
        if not cols or None in cols:
            continue
        sel = ", ".join(f'"{c}"' for c in cols)
        try:
            via = sorted(conn.execute(f'SELECT seq, {sel} FROM entries INDEXED BY "{name}" ORDER BY {sel}'),
                         key=repr)
        except sqlite3.Error:
            continue
        table = sorted(conn.execute(f"SELECT seq, {sel} FROM entries NOT INDEXED"), key=repr)
        if via != table:
            a, b = set(via), set(table)
            seqs = sorted({r[0] for r in a ^ b}) or [None]
            findings.append(("sqlite_index_mismatch", seqs[0], f"index {name} disagrees with the table"))


def protection_findings(conn, findings):
    objs = {(t, n) for t, n in conn.execute("SELECT type, name FROM sqlite_master")}
    for t in ["entries_no_update", "entries_no_delete", "meta_no_update", "meta_no_delete"]:
        if ("trigger", t) not in objs:
            findings.append(("protection_removed", None, f"trigger {t} is missing"))
    uniq = False
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='entries'"):
        unique = any(r[1] == name and r[2] for r in conn.execute("PRAGMA index_list(entries)"))
        cols = [r[2] for r in conn.execute(f"PRAGMA index_info(\"{name}\")")]
        uniq |= unique and cols == ["entry_id"]
    if not uniq:
        findings.append(("protection_removed", None, "no unique index on entry_id"))


def verify_archive(path, cp=None):
    """FORMAT.md 6, 7 and 5. Returns (entries, findings, facts)."""
    conn, aid = open_archive(path)
    findings = []
    cols = ", ".join(INDEX_COLS)
    rows = conn.execute(f"SELECT seq, record, leaf_hash, chain_hash, {cols} FROM entries ORDER BY seq")
    prev_chain, expect, last_time, head = genesis(aid), 1, None, genesis(aid)
    seen, leaves, failing, count, cp_chain = {}, [], [], 0, None
    # FORMAT.md 14, "Whole archives": the rows of the checkpoint's index trees, from the records and
    # the stored leaf hashes; None once one cannot be indexed (a gap, an unreadable record).
    idx_rows = [] if cp is not None and cp.indexes is not None else None
    for row in rows:
        seq, raw, leaf, chain = row[0], row[1], row[2], row[3]
        count += 1
        raw = bytes(raw or b"")
        leaf, chain = bytes(leaf or b""), bytes(chain or b"")
        if seq > expect:
            findings.append(("missing_entries", expect, f"seq {expect}..{seq - 1} missing"))
            prev_chain = None  # nothing links across a gap; the next link is taken as stored
        expect = seq + 1
        mine = leaf_hash(aid, seq, raw)
        leaves.append((seq, mine))
        if cp is not None and seq == cp.size:
            cp_chain = chain
        if prev_chain is None or (mine == leaf and link(prev_chain, leaf) == chain):
            pass
        elif mine != leaf and link(prev_chain, leaf) == chain:
            findings.append(("record_modified", seq, "the record does not match its leaf hash"))
        elif mine != leaf and link(prev_chain, mine) == chain:
            findings.append(("leaf_hash_changed", seq, "the stored leaf hash was altered"))
        elif mine == leaf:
            findings.append(("chain_broken", seq, "the chain hash does not follow from the previous entry"))
        else:
            failing.append((seq, raw, leaf, chain, len(findings)))
            findings.append(("foreign_entry", seq, "an entry that does not belong here"))
        prev_chain = head = chain
        rec, kind, detail = read_record(raw)
        if kind == "unreadable_record" or (kind and mine == leaf):
            findings.append((kind, seq, detail))
        if idx_rows is not None and seq <= cp.size:
            t = time_ms(rec["time"]) if rec is not None and kind != "unreadable_record" and is_text(rec.get("time")) else None
            if seq != len(idx_rows) + 1 or t is None or len(leaf) != 32:
                idx_rows = None
            else:
                idx_rows.append((seq, leaf, t, index_keys(rec)))
        if rec is None or kind == "unreadable_record":
            continue
        if rec["id"] in seen:
            findings.append(("duplicate_entry", seq, f"entry id {rec['id']} also at seq {seen[rec['id']]}"))
        else:
            seen[rec["id"]] = seq
        want = derived_columns(rec)
        got = {c: v.decode("utf-8", "replace") if isinstance(v, bytes) else v for c, v in zip(INDEX_COLS, row[4:])}
        # A time that is not canonical is reported as such; its milliseconds are not compared.
        bad = [c for c in INDEX_COLS if want[c] != got[c] and not (c == "time_ms" and want[c] is None)]
        if bad:
            findings.append(("index_mismatch", seq, f"column {bad[0]} disagrees with the record"))
        t = want["time_ms"]
        if t is not None and last_time is not None and t < last_time:
            findings.append(("time_backwards", seq, "time before the previous entry's"))
        if t is not None:
            last_time = t
    # An entry that links nowhere may belong at another seq: a failing row, a gap, or past the end.
    # SPEC? where a misplaced entry's home is searched; here among the failing rows and the gaps.
    homes = [f[0] for f in failing] + [f[1] for f in findings if f[0] == "missing_entries"]
    chain_at_home = {}
    for seq, raw, leaf, chain, at in failing:
        for home in homes[:10000]:
            if home != seq and leaf_hash(aid, home, raw) == leaf:
                findings[at] = ("misplaced_entry", seq, f"belongs at seq {home}")
                chain_at_home[home] = chain
                break
    # The entry after a misplaced one's home links from that entry's chain hash, wherever it is
    # stored: no second finding for the same swap (one damaged entry, one finding).
    by_seq = dict(leaves)
    findings = [f for f in findings if not (f[0] == "chain_broken" and f[1] - 1 in chain_at_home
                and link(chain_at_home[f[1] - 1], by_seq[f[1]]) == stored_chain(conn, f[1]))]
    conn.text_factory = lambda b: b.decode("utf-8", "replace")  # schema names and index keys
    sqlite_index_findings(conn, findings)
    protection_findings(conn, findings)
    facts = {"archive_id": aid.hex(), "head": head}
    if cp is not None:
        check_archive_checkpoint(aid, leaves, cp_chain, cp, findings, facts)
        if "checkpoint" in facts and idx_rows is not None and len(idx_rows) == cp.size:
            mine = index_roots(idx_rows)
            for name in INDEX_NAMES:
                if mine[name] != cp.indexes[name]:
                    findings.append(("index_root_mismatch", None, f"the checkpoint's {name} index root is "
                                     f"not the one the first {cp.size} records give"))
    conn.close()
    return count, findings, facts


def stored_chain(conn, seq):
    return bytes(conn.execute("SELECT chain_hash FROM entries WHERE seq = ?", (seq,)).fetchone()[0])


def check_archive_checkpoint(aid, leaves, cp_chain, cp, findings, facts):
    if cp.aid != aid:
        findings.append(("wrong_archive", None, f"the checkpoint names archive {cp.aid.hex()}"))
        return
    top = leaves[-1][0] if leaves else 0
    if top < cp.size:
        findings.append(("truncated", top + 1, f"{top} entries, the checkpoint records {cp.size}"))
        return
    first = [h for s, h in leaves if s <= cp.size]
    head = cp_chain if cp.size else genesis(aid)
    if mth(first) != cp.root or head != cp.chain:
        findings.append(("rewritten", None, f"the first {cp.size} entries differ from the checkpoint's"))
    else:
        facts["checkpoint"] = f"matches its {cp.size} entries, {top - cp.size} added since"


# ---------------------------------------------------------------- index trees and complete exports (FORMAT.md 14)
INDEX_NAMES = ["time", "action", "actor", "resource_type", "project"]


def is_text(v):
    return type(v) is str  # Num (a JSON number) is a str subclass: not text


def actor_key(rec):
    """FORMAT.md 14: API keys by api_key_id else user_id; others by user_id else api_key_id; empty is null."""
    a = rec.get("actor") if isinstance(rec.get("actor"), dict) else {}
    order = ["api_key_id", "user_id"] if a.get("type") == "API_KEY" else ["user_id", "api_key_id"]
    for k in order:
        if is_text(a.get(k)):
            return a[k] or None
    return None


def index_keys(rec):
    """The entry's key in each index, in INDEX_NAMES order (None: the null key)."""
    project = rec.get("project_id")
    return [None, rec["action"], actor_key(rec), rec["resource_type"], project if is_text(project) else None]


def enc_key(k):
    return b"\x00" if k is None else b"\x01" + struct.pack(">I", len(k.encode())) + k.encode()


def index_leaf(name, key, t, seq, leaf):
    return sha(b"\x00auditlens-v1 index " + name.encode() + b"\n" + enc_key(key) + struct.pack(">Q", t + 2**63)
               + struct.pack(">Q", seq) + leaf)


def key_order(k):
    """The null key first, then keys by their UTF-8 bytes (Python compares code points: the same order)."""
    return (0, "") if k is None else (1, k)


def index_roots(rows):
    """rows: (seq, leaf hash, time_ms, keys) for seq 1..N. The root of each index tree, by name."""
    roots = {}
    for i, name in enumerate(INDEX_NAMES):
        ordered = sorted(rows, key=lambda r: (key_order(r[3][i]), r[2], r[0]))
        roots[name] = mth([index_leaf(name, r[3][i], r[2], r[0], r[1]) for r in ordered])
    return roots


def root_from_range(n, lo, run, proof):
    """FORMAT.md 14, range proof: the root of a tree of n leaves whose leaves lo..lo+len(run) are `run`;
    None when the proof does not fit (too short, too long, or the run outside the tree)."""
    hi = lo + len(run)
    if not run or hi > n:
        return None
    it = iter(proof)

    def rec(a, b):
        if lo <= a and b <= hi:
            return mth(run[a - lo:b - lo])
        if b <= lo or a >= hi:
            h = next(it, None)
            if h is None:
                raise ValueError("proof too short")
            return h
        k = 1
        while k * 2 < b - a:
            k *= 2
        return node(rec(a, a + k), rec(a + k, b))

    try:
        root = rec(0, n)
    except ValueError:
        return None
    return root if next(it, None) is None else None


class Range:
    def __init__(self, name, key, frm, to, further):
        self.name, self.key, self.frm, self.to, self.further = name, key, frm, to, further

    def describe(self):
        label = "resource type" if self.name == "resource_type" else self.name
        s = "all entries" + (f" with {label} = {self.key}" if self.key is not None else "")
        if self.frm is not None:
            s += f" from ms {self.frm}"
        if self.to is not None:
            s += f" before ms {self.to}"
        return s


def ranges_for(flt):
    """FORMAT.md 14, "From a filter to a range": the index ranges an export's stated filter maps to;
    ValueError with the reason when it maps to none."""
    if not isinstance(flt, dict):
        raise ValueError("the export states no filter")
    if "selected_rows" in flt:
        raise ValueError("its rows were picked one by one")
    known = ["from", "to", "projects", "actions", "resource_types", "actor", "actor_type", "search"]
    for k in flt:
        if k not in known:
            raise ValueError(f"its filter holds {k!r}, which no index range describes")

    def time(k):
        v = flt.get(k)
        if v is None:
            return None
        if not is_text(v) or time_ms(v) is None:
            raise ValueError(f"its filter's {k!r} is not a canonical time")
        return time_ms(v)

    def listed(k):
        v = flt.get(k, [])
        if not isinstance(v, list) or not all(is_text(x) for x in v):
            raise ValueError(f"its filter's {k!r} is not a list of text")
        return v

    def text(k):
        v = flt.get(k)
        if v is not None and not is_text(v):
            raise ValueError(f"its filter's {k!r} is not text")
        return v

    frm, to = time("from"), time("to")
    actor = text("actor")
    parts = [("action", listed("actions")), ("resource_type", listed("resource_types")),
             ("project", listed("projects")), ("actor", [actor] if actor is not None else [])]
    other = [f"actor_type {v}" for v in [text("actor_type")] if v is not None] + \
            [f"search {v!r}" for v in [text("search")] if v is not None]
    out = [Range(name, vals[0], frm, to, [n for n, v in parts if n != name and v] + other)
           for name, vals in parts if len(vals) == 1]
    if frm is not None or to is not None:
        out.append(Range("time", None, frm, to, [n for n, v in parts if v] + other))
    if not out:
        raise ValueError("its filter names no time range and no single action, resource type, project or actor")
    return out


def as_uint(v, what):
    if not isinstance(v, Num) or not re.fullmatch(r"0|[1-9][0-9]*", v) or int(v) >= 2**64:
        raise ValueError(f"{what} is not a number")
    return int(v)


def as_int(v, what):
    if not isinstance(v, Num) or not re.fullmatch(r"-?(0|[1-9][0-9]*)", v) or not -2**63 <= int(v) < 2**63:
        raise ValueError(f"{what} is not a number")
    return int(v)


def parse_claim(c):
    """The `complete` object of an export's footer (FORMAT.md 14, "In the export")."""
    if not isinstance(c, dict):
        raise ValueError("not an object")
    keys = ["index", "size", "position", "left", "entries", "right", "proof"]
    for k in c:
        if k not in keys:
            raise ValueError(f"unknown key {k!r}")
    for k in keys:
        if k not in c:
            raise ValueError(f"no {k!r}")
    if c["index"] not in INDEX_NAMES or not is_text(c["index"]):
        raise ValueError("'index' names no index")

    def neighbour(k):
        v = c[k]
        if v is None:
            return None
        if not isinstance(v, list) or len(v) != 4 or not (v[0] is None or is_text(v[0])):
            raise ValueError(f"{k!r} is not [key, time, seq, leaf hash] or null")
        return (v[0], as_int(v[1], f"{k}'s time"), as_uint(v[2], f"{k}'s seq"), hexes(v[3], f"{k}'s leaf hash"))

    if not isinstance(c["entries"], list) or not isinstance(c["proof"], list):
        raise ValueError("'entries' or 'proof' is not a list")
    entries = []
    for e in c["entries"]:
        if not isinstance(e, list) or len(e) != 3:
            raise ValueError("an entry is not [seq, time, leaf hash]")
        entries.append((as_uint(e[0], "an entry's seq"), as_int(e[1], "an entry's time"), hexes(e[2], "a leaf hash")))
    return {"index": c["index"], "size": as_uint(c["size"], "size"), "position": as_uint(c["position"], "position"),
            "left": neighbour("left"), "right": neighbour("right"), "entries": entries,
            "proof": [hexes(h, "a proof hash") for h in c["proof"]]}


def check_claim(claim, flt, cp, exported, findings):
    """FORMAT.md 14, "Verifying". exported: (seq, recomputed leaf, time_ms, keys, edited) of each entry
    read. Returns (statement, None) when the export is proven complete, else (None, why)."""
    if cp.indexes is None:
        return None, "the checkpoint it is verified against carries no index roots"
    before = len(findings)

    def fail(seq, m):
        findings.append(("completeness_failed", seq, m))

    try:
        ranges = ranges_for(flt)
        p = parse_claim(claim)
    except ValueError as e:
        fail(None, f"the completeness proof cannot hold: {e}")
        return None, "its completeness proof does not hold"
    r = next((r for r in ranges if r.name == p["index"]), None)
    if r is None:
        fail(None, f"the proof is for the {p['index']} index, which the stated filter selects no range of")
        return None, "its completeness proof does not hold"
    if p["size"] != cp.size:
        fail(None, f"the proof is for a tree of {p['size']} entries, the checkpoint holds {cp.size}")
    key = key_order(r.key)
    left, right, entries = p["left"], p["right"], p["entries"]
    if left is not None:
        lk = key_order(left[0])
        if not (lk < key or (lk == key and r.frm is not None and left[1] < r.frm)):
            fail(left[2], "the entry just before the proven range belongs in it")
    elif p["position"] != 0:
        fail(None, "no left neighbour, but the range does not start at the tree's edge")
    if right is not None:
        rk = key_order(right[0])
        if not (rk > key or (rk == key and r.to is not None and right[1] >= r.to)):
            fail(right[2], "the entry just after the proven range belongs in it")
    elif p["position"] + len(entries) != p["size"]:
        fail(None, "no right neighbour, but the range does not end at the tree's edge")
    prev = None
    for seq, t, _ in entries:
        inside = (r.frm is None or t >= r.frm) and (r.to is None or t < r.to)
        if not inside or (prev is not None and prev >= (t, seq)):
            fail(seq, "an entry of the proof is not in the stated range or not in index order")
        prev = (t, seq)
    name = p["index"]
    run = ([index_leaf(name, left[0], left[1], left[2], left[3])] if left else []) + \
          [index_leaf(name, r.key, t, seq, leaf) for seq, t, leaf in entries] + \
          ([index_leaf(name, right[0], right[1], right[2], right[3])] if right else [])
    lo = max(p["position"] - (1 if left else 0), 0)
    if not run:
        root = sha(b"") if p["size"] == 0 and p["position"] == 0 else None
    else:
        root = root_from_range(p["size"], lo, run, p["proof"])
    if root != cp.indexes[name]:
        fail(None, f"the proof does not lead to the checkpoint's {name} index root")
    in_range = {seq: (t, leaf) for seq, t, leaf in entries}
    slot, seen = INDEX_NAMES.index(name), set()
    for seq, leaf, t, keys, edited in exported:
        if seq in seen:
            fail(seq, "an entry twice in a complete export")
            continue
        seen.add(seq)
        if seq not in in_range:
            fail(seq, "an entry outside the proven range: added")
        elif not edited and (in_range[seq] != (t, leaf) or keys[slot] != r.key):
            fail(seq, "not the entry the proven range holds at its seq")
    left_out = [seq for seq, _, _ in entries if seq not in seen]
    if not r.further:
        for seq in left_out:
            fail(seq, "an entry of the proven range missing from the export: dropped")
    if len(findings) > before:
        return None, "its completeness proof does not hold"
    more = f", then filtered further by {' and '.join(r.further)}" if r.further else ""
    return f"complete: {r.describe()} ({len(entries)} entries){more}, proven against the checkpoint of {cp.size}", None


# ---------------------------------------------------------------- exports (FORMAT.md 8, 9)
CHAIN_KEYS = ["seq", "leaf_hash", "chain_hash", "leaf_index", "inclusion"]
CSV_HEADER = ["archive_id", "seq", "leaf_hash", "chain_hash", "id", "time", "updated_at", "actor_type", "user_id",
              "email", "org_role", "project_role", "auth_method", "api_key_id", "api_key_name", "api_key_scope",
              "api_key_scope_id", "api_key_created_at", "api_key_created_by", "org_id", "org_name", "project_id",
              "project_name", "resource_type", "resource_id", "resource_name", "action", "before", "after",
              "ip_address", "user_agent", "extra"]
GUARDED = ("=", "+", "-", "@", "\t", "\r")
KNOWN_PROOFS = (None, "rfc6962-inclusion", "rfc6962-root")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ExportEntry:
    def __init__(self, seq, leaf, chain, index, path, record, problems, line):
        self.seq, self.leaf, self.chain, self.index, self.path = seq, leaf, chain, index, path
        self.record, self.problems, self.line = record, problems, line


def hexes(v, what):
    if not isinstance(v, str) or not HEX64.match(v):
        raise ValueError(f"{what} is not 64 lower-case hex digits")
    return bytes.fromhex(v)


def export_entry(obj, line):
    """One JSON/NDJSON export entry: the chain keys, then the record's keys (FORMAT.md 9)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("seq"), Num) or not re.fullmatch(r"[1-9][0-9]*", obj["seq"]):
        raise ValueError("an entry without a positive integer seq")
    seq = int(obj["seq"])
    leaf = hexes(obj.get("leaf_hash"), "leaf_hash")
    chain = hexes(obj["chain_hash"], "chain_hash") if "chain_hash" in obj else None
    index = path = None
    if "leaf_index" in obj or "inclusion" in obj:
        li, inc = obj.get("leaf_index"), obj.get("inclusion")
        if isinstance(li, Num) and re.fullmatch(r"0|[1-9][0-9]*", li) and isinstance(inc, list):
            try:
                index, path = int(li), [hexes(h, "an inclusion hash") for h in inc]
            except ValueError:
                index = path = None
        if path is None:
            index = "unreadable"
    record = {k: v for k, v in obj.items() if k not in CHAIN_KEYS}
    if isinstance(obj, Dups):
        return ExportEntry(seq, leaf, chain, index, path, record, [f"duplicate key {obj.dup}"], line)
    return ExportEntry(seq, leaf, chain, index, path, record, None, line)


def header_checkpoint(h, what):
    if not isinstance(h, dict):
        raise Unreadable(f"{what} is not an object")
    if h.get("version") != "1":
        raise Unreadable(f"{what} has version {h.get('version')!r}; this verifier knows version 1: upgrade")
    if h.get("proofs") not in KNOWN_PROOFS:
        raise Unreadable(f"{what} has proofs {h.get('proofs')!r}; this verifier knows "
                         "rfc6962-inclusion and rfc6962-root (or none): upgrade")
    try:
        cp = parse_checkpoint(h.get("checkpoint", ""))
    except (ValueError, AttributeError) as e:
        raise Unreadable(f"{what}: its checkpoint cannot be read: {e}")
    if h.get("archive_id") != cp.aid.hex():
        raise Unreadable(f"{what} names archive {h.get('archive_id')!r} but its checkpoint {cp.aid.hex()}")
    return cp


def read_ndjson(text):
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    try:
        head = parse_json(lines[0])
    except ValueError as e:
        raise Unreadable(f"the header line is not JSON: {e}")
    h = head.get("auditlens_export")
    entries, end, findings = [], None, []
    for i, ln in enumerate(lines[1:], 2):
        if len(ln.encode()) > MIB16:
            raise Unreadable(f"line {i} is over the 16 MiB line limit")
        try:
            obj = parse_json(ln)
        except ValueError as e:
            findings.append(("unreadable_record", None, f"line {i}: {e}"))
            continue
        if isinstance(obj, dict) and "auditlens_export_end" in obj:
            if end is not None or i != len(lines):
                findings.append(("export_incomplete", None, f"line {i}: the end line is not the last line"))
            end = obj["auditlens_export_end"]
            continue
        try:
            entries.append(export_entry(obj, i))
        except ValueError as e:
            findings.append(("unreadable_record", None, f"line {i}: {e}"))
    return h, entries, end, findings


class Cursor:
    """Walks the top level of a JSON export without parsing it in one piece, so a file cut short
    still yields the entries before the cut (pretty-printed files are read as well)."""

    def __init__(self, text):
        self.t, self.i = text, 0

    def ws(self):
        while self.i < len(self.t) and self.t[self.i] in " \t\r\n":
            self.i += 1

    def lit(self, s):
        self.ws()
        if not self.t.startswith(s, self.i):
            raise ValueError(f"expected {s} at byte {self.i}")
        self.i += len(s)

    def peek(self, s):
        self.ws()
        return self.t.startswith(s, self.i)

    def value(self):
        self.ws()
        try:
            v, j = DECODER.raw_decode(self.t, self.i)
        except RecursionError:
            raise ValueError("nested too deep")
        if j - self.i > MIB16:
            raise ValueError("a value over the 16 MiB limit")
        if depth(v) > MAX_DEPTH - 2:
            raise ValueError("nested too deep")
        self.i = j
        return v


def read_json_export(text):
    c, findings, entries, end = Cursor(text), [], [], None
    try:
        c.lit("{"); c.lit('"auditlens_export"'); c.lit(":")
        h = c.value()
        c.lit(","); c.lit('"entries"'); c.lit(":"); c.lit("[")
    except ValueError as e:
        raise Unreadable(f"the export header cannot be read: {e}")
    try:
        if c.peek("]"):
            c.lit("]")
        else:
            while True:
                obj = c.value()
                try:
                    entries.append(export_entry(obj, None))
                except ValueError as e:
                    findings.append(("unreadable_record", None, str(e)))
                if c.peek(","):
                    c.lit(",")
                    continue
                c.lit("]")
                break
        c.lit(","); c.lit('"auditlens_export_end"'); c.lit(":")
        end = c.value()
        c.lit("}")
        c.ws()
        if c.i != len(text):
            findings.append(("export_incomplete", None, "content after the export's end"))
    except ValueError:
        end = None  # cut short: reported below as export_incomplete
    return h, entries, end, findings


def csv_record(row, seq, findings):
    """Undoes the CSV encoding of FORMAT.md 9 (empty = absent, one leading ' removed)."""
    vals = {}
    for k in CSV_HEADER[4:]:
        cell = row.get(k, "")
        if cell == "":
            continue
        if cell.startswith("'"):
            cell = cell[1:]
        elif cell.startswith(GUARDED):
            findings.append(("unguarded_cell", seq, f"{k} starts with {cell[:1]!r} without the ' guard"))
        vals[k] = cell
    rec, actor = {}, {}
    for k, v in vals.items():
        if k in ("before", "after", "extra"):
            try:
                v = parse_json(v)
            except ValueError as e:
                raise ValueError(f"{k} is not JSON: {e}")
        if k == "actor_type":
            actor["type"] = v
        elif k in ACTOR:
            actor[k] = v
        else:
            rec[k] = v
    rec["actor"] = actor
    return rec


def read_csv_export(path, text):
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or rows[0] != CSV_HEADER:
        raise Unreadable("the CSV header is not the auditlens export header of FORMAT.md 9")
    findings, entries, aids = [], [], set()
    for n, cells in enumerate(rows[1:], 2):
        if cells == []:
            continue
        if len(cells) != len(CSV_HEADER):
            findings.append(("unreadable_record", None, f"row {n} has {len(cells)} cells"))
            continue
        row = dict(zip(CSV_HEADER, cells))
        try:
            seq = int(row["seq"]) if re.fullmatch(r"[1-9][0-9]*", row["seq"]) else None
            if seq is None:
                raise ValueError("seq is not a positive integer")
            leaf = hexes(row["leaf_hash"], "leaf_hash")
            chain = hexes(row["chain_hash"], "chain_hash") if row["chain_hash"] else None
            rec = csv_record(row, seq, findings)
        except ValueError as e:
            findings.append(("unreadable_record", None, f"row {n}: {e}"))
            continue
        aids.add(row["archive_id"])
        entries.append(ExportEntry(seq, leaf, chain, None, None, rec, None, n))
    sidecar, side_path = None, path + ".proof.json"
    if os.path.exists(side_path):
        try:
            side = parse_json(open(side_path, encoding="utf-8").read())
            sidecar = (side["auditlens_proof"], side.get("entries"), side.get("auditlens_proof_end"))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise Unreadable(f"the proof sidecar {side_path} cannot be read: {e}")
    return entries, aids, sidecar, findings


def apply_sidecar(entries, sidecar, findings):
    """FORMAT.md 9, CSV proof sidecar: one proof per row, matched by seq."""
    h, proofs, end = sidecar
    proofs = proofs if isinstance(proofs, list) else []
    if not isinstance(end, dict) or end.get("count") != Num(str(len(proofs))):
        findings.append(("export_incomplete", None, "the sidecar's proof count disagrees with its end"))
    by_seq = {}
    for p in proofs:
        try:
            e = export_entry(p, None)
        except ValueError as err:
            findings.append(("unproven_entry", None, f"a proof cannot be read: {err}"))
            continue
        by_seq[e.seq] = e
    rows = {e.seq for e in entries}
    for s in sorted(by_seq):
        if s not in rows:
            findings.append(("export_incomplete", s, "a proof whose row is missing"))
    for e in entries:
        p = by_seq.get(e.seq)
        if p is None:
            if h.get("proofs") == "rfc6962-inclusion":
                findings.append(("unproven_entry", e.seq, "a row without its proof"))
            continue
        if p.leaf != e.leaf:
            findings.append(("inclusion_failed", e.seq, "the leaf hash differs between the CSV and its proofs"))
            e.index = "mismatch"
        else:
            e.index, e.path = p.index, p.path


# ---------------------------------------------------------------- the stated filter (FORMAT.md 9)
# The platform's resource types and their display names (FORMAT.md 9, "The stated filter"; from the
# platform's audit-log documentation): a resource type part matches either.
RESOURCE_NAMES = {
    'trace': 'Trace',
    'session': 'Session',
    'score': 'Score',
    'scoreConfig': 'Score Config',
    'dataset': 'Dataset',
    'datasetItem': 'Dataset Item',
    'datasetRun': 'Dataset Run',
    'comment': 'Comment',
    'prompt': 'Prompt',
    'promptProtectedLabel': 'Prompt Protected Label',
    'evalTemplate': 'Evaluation Template',
    'job': 'Job (Evaluation Jobs)',
    'annotationQueue': 'Annotation Queue',
    'annotationQueueItem': 'Annotation Queue Item',
    'organization': 'Organization',
    'project': 'Project',
    'orgMembership': 'Organization Membership',
    'projectMembership': 'Project Membership',
    'membershipInvitation': 'Membership Invitation',
    'apiKey': 'API Key',
    'llmApiKey': 'LLM API Key',
    'model': 'Model',
    'batchExport': 'Batch Export',
    'batchAction': 'Batch Action',
    'blobStorageIntegration': 'Blob Storage Integration',
    'posthogIntegration': 'PostHog Integration',
    'stripeCheckoutSession': 'Stripe Checkout Session',
}
ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def stated_filter(flt):
    """FORMAT.md 9: the filter an export states, read back; ValueError if a value has the wrong type or
    a time is not canonical. `selected_rows` is no criterion; other keys are not read."""
    if not isinstance(flt, dict):
        raise ValueError("the stated filter is not an object")

    def text(k):
        if k not in flt:
            return None
        if not is_text(flt[k]):
            raise ValueError(f"the stated filter's {k!r} is not text")
        return flt[k]

    def time(k):
        t = text(k)
        if t is not None and time_ms(t) is None:
            raise ValueError(f"the stated filter's {k!r} is not a canonical time")
        return None if t is None else time_ms(t)

    def listed(k):
        if k not in flt:
            return []
        v = flt[k]
        if not isinstance(v, list):
            raise ValueError(f"the stated filter's {k!r} is not a list")
        if not all(is_text(x) for x in v):
            raise ValueError(f"the stated filter's {k!r} is not a list of text")
        return v

    return {"from": time("from"), "to": time("to"), "projects": listed("projects"),
            "actions": listed("actions"), "resource_types": listed("resource_types"),
            "actor": text("actor"), "actor_type": text("actor_type"), "search": text("search")}


def filter_is_empty(f):
    return all(v is None or v == [] for v in f.values())


def search_text(rec):
    """FORMAT.md 9: the lower-cased text a `search` part looks in."""
    a = rec.get("actor") if isinstance(rec.get("actor"), dict) else {}
    fields = [rec.get("id"), rec.get("resource_id"), rec.get("resource_name"), rec.get("resource_type"),
              rec.get("action"), a.get("user_id"), a.get("email"), a.get("api_key_id"), a.get("api_key_name"),
              rec.get("org_id"), rec.get("org_name"), rec.get("project_id"), rec.get("project_name"),
              rec.get("ip_address"), rec.get("user_agent")]
    out = "".join(v + "\n" for v in fields if is_text(v))
    out += "".join(canon(rec[k]) + "\n" for k in ("before", "after") if k in rec)
    return out.lower()


def filter_mismatch(f, rec):
    """The first part of the stated filter `rec` fails, or None when it matches (FORMAT.md 9)."""
    t = time_ms(rec["time"]) if is_text(rec.get("time")) else None
    if t is None or f["from"] is not None and t < f["from"] or f["to"] is not None and t >= f["to"]:
        if f["from"] is not None or f["to"] is not None:
            return "time"
    if f["projects"] and not any(rec.get("project_id") == p or rec.get("project_name") == p
                                 for p in f["projects"]):
        return "project"
    if f["actions"] and rec.get("action") not in f["actions"]:
        return "action"
    rt = rec.get("resource_type")
    if f["resource_types"] and not any(
            r == rt or RESOURCE_NAMES.get(rt, rt).translate(ASCII_LOWER) == r.translate(ASCII_LOWER)
            for r in f["resource_types"]):
        return "resource type"
    a = rec.get("actor") if isinstance(rec.get("actor"), dict) else {}
    if f["actor_type"] is not None and a.get("type") != f["actor_type"]:
        return "actor type"
    if f["actor"] is not None and not any(
            is_text(a.get(k)) and a[k].lower() == f["actor"].lower()
            for k in ("user_id", "email", "api_key_id", "api_key_name")):
        return "actor"
    if f["search"] and f["search"].lower() not in search_text(rec):
        return "search"
    return None



def verify_export(path, data, fmt, given, keys):
    """FORMAT.md 9. Returns (entries, findings, facts)."""
    findings, facts = [], {"proven": False}
    text = data.decode("utf-8")  # caller checked
    sidecar = None
    if fmt == "ndjson":
        h, entries, end, more = read_ndjson(text)
    elif fmt == "json":
        h, entries, end, more = read_json_export(text)
    else:
        entries, aids, sidecar, more = read_csv_export(path, text)
        h = sidecar[0] if sidecar else None
        end = {"count": Num(str(len(entries)))}
        if sidecar is None and len(aids) > 1:
            more.append(("wrong_archive", None, "rows name more than one archive"))
    findings += more
    if h is None:
        cp, proofs, flt = None, None, None
    else:
        cp = header_checkpoint(h, "the export header" if fmt != "csv" else "the proof sidecar")
        proofs, flt = h.get("proofs"), h.get("filter", {})
    if fmt == "csv":
        aid = bytes.fromhex(next(iter(aids))) if aids and re.fullmatch(r"[0-9a-f]{32}", next(iter(aids))) else None
        if cp is not None:
            if aids - {cp.aid.hex()}:
                findings.append(("wrong_archive", None, "a row names another archive than the proofs"))
            aid = cp.aid
            apply_sidecar(entries, sidecar, findings)
        if aid is None and entries:
            raise Unreadable("the rows carry no readable archive id")
    else:
        aid = cp.aid
    if not isinstance(end, dict):
        findings.append(("export_incomplete", (entries[-1].seq + 1) if entries else 1, "the export was cut short (no end)"))
    elif not isinstance(end.get("count"), Num):
        findings.append(("export_incomplete", None, "the end holds no entry count"))
    elif int(end["count"]) != len(entries):
        findings.append(("export_incomplete", None, f"the end says {end['count']} entries, the file holds {len(entries)}"))
    # Each entry: its record, its leaf, its link to the previous one, its proof. FORMAT.md 9: with a
    # checkpoint given, proofs are checked against its root; proofs for another tree (another size
    # or archive) are checked against the export's own (to locate damage) and prove nothing.
    other_tree = given is not None and cp is not None and (given.aid, given.size) != (cp.aid, cp.size)
    target = given if given is not None and not other_tree else cp
    prev, leaves, proven, exported = None, {}, bool(entries), []
    # FORMAT.md 9: every entry of a filtered export matches the filter it states.
    entry_filter = None
    if isinstance(flt, dict) and flt:
        try:
            entry_filter = stated_filter(flt)
        except ValueError as err:
            findings.append(("outside_filter", None, str(err)))
        if entry_filter is not None and filter_is_empty(entry_filter):
            entry_filter = None
    for i, e in enumerate(entries):
        if prev is not None and e.seq <= prev.seq:
            findings.append(("out_of_order", e.seq, f"seq {e.seq} after seq {prev.seq}"))
        why, problems = check_record(e.record)
        if why:
            findings.append(("unreadable_record", e.seq, why))
            prev, proven = e, False
            continue
        problems = (e.problems or []) + problems
        try:
            mine = leaf_hash(aid, e.seq, canon(e.record).encode())
        except ValueError as err:
            problems.append(str(err))
            mine = None
        if problems:
            findings.append(("non_canonical_record", e.seq, "; ".join(problems)))
        if entry_filter is not None:
            part = filter_mismatch(entry_filter, e.record)
            if part:
                findings.append(("outside_filter", e.seq, f"outside the stated filter ({part})"))
        if is_text(e.record.get("time")) and time_ms(e.record["time"]) is not None:
            exported.append((e.seq, mine, time_ms(e.record["time"]), index_keys(e.record), mine != e.leaf))
        # The stored leaf hash carries the chain, the proof and the root; the record is checked against
        # it once (one damaged entry, one finding). SPEC? 9 says "recomputed leaf hash" for proofs.
        leaves[e.seq] = e.leaf
        if mine != e.leaf:
            findings.append(("record_modified", e.seq, "the entry does not match its leaf hash"))
        if e.chain is None:
            # FORMAT.md 7 and 9: an entry carries its chain hash where the export can check it.
            nxt = entries[i + 1] if i + 1 < len(entries) else None
            if e.seq == 1 or (prev is not None and prev.seq == e.seq - 1) or \
                    (nxt is not None and nxt.seq == e.seq + 1) or (cp is not None and e.seq == cp.size):
                findings.append(("chain_broken", e.seq, "no chain_hash where the export must carry one"))
        else:
            if e.seq == 1 and link(genesis(aid), e.leaf) != e.chain:
                findings.append(("chain_broken", 1, "seq 1 does not link to the genesis"))
            elif prev is not None and prev.seq == e.seq - 1 and prev.chain is not None and link(prev.chain, e.leaf) != e.chain:
                findings.append(("chain_broken", e.seq, "the chain hash does not follow from the previous entry"))
        if proofs == "rfc6962-inclusion":
            if e.index is None:
                findings.append(("unproven_entry", e.seq, "no inclusion proof"))
                proven = False
            elif e.index == "mismatch":
                proven = False
            elif e.index == "unreadable":
                findings.append(("unproven_entry", e.seq, "its inclusion proof cannot be read"))
                proven = False
            elif e.index != e.seq - 1 or root_from_inclusion(e.index, cp.size, e.leaf, e.path) != target.root:
                findings.append(("inclusion_failed", e.seq, "the inclusion proof does not lead to the checkpoint's root"))
                proven = False
            elif other_tree:
                # FORMAT.md 9: a proof made for another tree than the anchor's proves nothing against it.
                findings.append(("unproven_entry", e.seq, "its proof is for another tree than the given checkpoint's"))
                proven = False
        if cp is not None and e.seq == cp.size and e.chain is not None and e.chain != cp.chain:
            findings.append(("rewritten", e.seq, "the last entry's chain hash is not the checkpoint's"))
        prev = e
    # Whole (unfiltered) exports: every seq from 1 to the checkpoint's size. SPEC? an export with
    # proofs none is taken as unfiltered when its filter is {} (no criterion, no selection).
    whole = proofs == "rfc6962-root" or (cp is not None and proofs is None and flt == {})
    seqs = [e.seq for e in entries]
    if cp is not None and whole:
        want = 1
        for s in sorted(set(seqs)):
            if s > want:
                findings.append(("missing_entries", want, f"seq {want}..{s - 1} missing"))
            want = max(want, s + 1)
        if want <= cp.size:
            findings.append(("truncated", want, f"the export ends at seq {want - 1}, its checkpoint at {cp.size}"))
        elif want - 1 > cp.size:
            findings.append(("foreign_entry", cp.size + 1, "entries after the checkpoint's last"))
    # FORMAT.md 14: a subset's completeness proof, checked against the checkpoint of its inclusion proofs.
    footer = sidecar[2] if fmt == "csv" and sidecar else end
    claim = footer.get("complete") if isinstance(footer, dict) else None
    facts["not_complete"] = "it carries no completeness proof"
    if not whole and claim is not None and target is not None:
        facts["complete"], why = check_claim(claim, flt, target, exported, findings)
        facts["not_complete"] = why
    complete = cp is not None and seqs == list(range(1, cp.size + 1))
    if complete and all(leaves.get(s) for s in seqs):
        if mth([leaves[s] for s in seqs]) != cp.root:
            findings.append(("rewritten", None, "the Merkle root over the export is not the checkpoint's"))
        elif proofs == "rfc6962-root":
            proven = True
    elif proofs == "rfc6962-root":
        proven = False
    if proofs is None:
        proven = False
    # A checkpoint the user gives is the anchor (DECISIONS12: anchor_mismatch).
    anchor = given or cp
    if given is not None:
        if cp is None:
            for e in entries:
                findings.append(("unproven_entry", e.seq, "nothing proves this row against the given checkpoint"))
            proven = False
        elif whole and given.aid == cp.aid and given.size < cp.size and \
                [e.seq for e in entries[:given.size]] == list(range(1, given.size + 1)):
            # An export of every entry links its checkpoint to a smaller C by its own leaves.
            first = [leaves.get(s) for s in range(1, given.size + 1)]
            last = entries[given.size - 1] if given.size else None
            head = last.chain if last else genesis(cp.aid)
            if None in first or mth(first) != given.root or head != given.chain:
                findings.append(("rewritten", None, "the export's first entries are not the given checkpoint's"))
                proven = False
        elif given.same(cp):
            if proofs is None:
                for e in entries:
                    findings.append(("unproven_entry", e.seq, "no proof against the given checkpoint"))
                proven = False
        else:
            findings.append(("anchor_mismatch", None, f"the export's checkpoint (size {cp.size}) is not the given one "
                             f"(size {given.size}) and no consistency proof links them"))
            proven = False
    if keys:
        if anchor is None:
            findings.append(("not_signed", None, "no checkpoint to check signatures on"))
        else:
            check_signatures(anchor, keys, findings)
        if proofs != "rfc6962-inclusion" and proofs != "rfc6962-root" and flt != {}:
            for e in entries:
                if not any(f[0] == "unproven_entry" and f[1] == e.seq for f in findings):
                    findings.append(("unproven_entry", e.seq, "a filtered export without proofs"))
    facts["proven"] = proven and not [f for f in findings if f[0] not in WARNINGS]
    if facts.get("complete") and not (facts["proven"] or not entries and not [f for f in findings if f[0] not in WARNINGS]):
        facts["complete"], facts["not_complete"] = None, "its entries are not all proven against the checkpoint"
    if fmt == "csv" and sidecar is None:
        facts["unproven_because"] = "no proof sidecar"
    elif proofs is None:
        facts["unproven_because"] = "the export carries no proofs"
    elif not entries:
        facts["unproven_because"] = "no entries to prove"
    facts["archive_id"] = aid.hex() if aid else None
    facts["checkpoint_size"] = cp.size if cp else None
    return len(entries), findings, facts


# ---------------------------------------------------------------- detection and the command
def detect(data):
    """FORMAT.md 8, from the content."""
    if data.startswith(b"SQLite format 3\x00"):
        return "archive"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("not UTF-8 and not an archive")
    if text.startswith("["):
        raise Unreadable("a platform JSON export: it carries no chain to verify; ingest it")
    if text.startswith("{"):
        first = text.split("\n", 1)[0]
        try:
            obj = json.loads(first)
            if isinstance(obj, dict) and "auditlens_export" in obj:
                return "ndjson"
            raise Unreadable("a platform JSONL export: it carries no chain to verify; ingest it")
        except ValueError:
            pass
        if re.match(r'\{\s*"auditlens_export"', text):
            return "json"
        raise Unreadable("JSON that is not an auditlens export")
    head = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    if {"archive_id", "seq", "leaf_hash"} <= set(head):
        return "csv"
    raise Unreadable("not an auditlens archive or export")


def verify_path(path, cp_path=None, key_paths=()):
    """Returns (format, entries, findings, facts); raises Unreadable."""
    given = None
    if cp_path:
        try:
            given = parse_checkpoint(open(cp_path, "rb").read())
        except OSError as e:
            raise Unreadable(f"{cp_path}: {e.strerror}")
        except ValueError as e:
            raise Unreadable(f"{cp_path}: not a checkpoint: {e}")
    keys = []
    for k in key_paths:
        try:
            keys.append(parse_key(open(k, encoding="utf-8").read() if os.path.exists(k) else k))
        except (ValueError, UnicodeDecodeError) as e:
            raise Unreadable(f"{k}: not a verifier key: {e}")
    try:
        data = open(path, "rb").read()
    except OSError as e:
        raise Unreadable(f"{path}: {e.strerror}")
    fmt = detect(data)
    if fmt == "archive":
        n, findings, facts = verify_archive(path, given)
        if keys:
            if given is None:
                findings.append(("not_signed", None, "keys given but no checkpoint"))
            else:
                check_signatures(given, keys, findings)
        facts["proven"] = given is not None and "checkpoint" in facts
        facts["unproven_because"] = ("no checkpoint given: a cut-off tail or a rewritten chain cannot be ruled out"
                                     if given is None else "")
    else:
        n, findings, facts = verify_export(path, data, fmt, given, keys)
    return fmt, n, findings, facts


def main_verify(args):
    path, cp, keys, as_json, i = None, None, [], False, 0
    while i < len(args):
        a = args[i]
        if a in ("--checkpoint", "--key") and i + 1 < len(args):
            if a == "--checkpoint":
                cp = args[i + 1]
            else:
                keys.append(args[i + 1])
            i += 2
            continue
        if a == "--json":
            as_json = True
        elif path is None and not a.startswith("--"):
            path = a
        else:
            print(f"unknown argument {a}", file=sys.stderr)
            return 2
        i += 1
    if path is None:
        print("usage: check.py verify PATH [--checkpoint C] [--key K.pub]... [--json]", file=sys.stderr)
        return 2
    try:
        fmt, n, findings, facts = verify_path(path, cp, keys)
    except Unreadable as e:
        print(f"{path}: COULD NOT VERIFY: {e}", file=sys.stderr)
        return 2
    tampered = [f for f in findings if f[0] not in WARNINGS]
    status = "tampered" if tampered else "intact"
    if as_json:
        print(json.dumps({"file": path, "format": fmt, "status": status, "entries": n, "proven": facts["proven"],
                          "complete": facts.get("complete"),
                          "findings": [{"kind": k, "seq": s, "detail": d} for k, s, d in findings]}))
    else:
        if tampered:
            verdict = f"TAMPERED: {len(tampered)} findings in {n} entries"
        elif facts["proven"]:
            verdict = f"INTACT: {n} entries, proven against the checkpoint"
        else:
            why = facts.get("unproven_because")
            verdict = f"INTACT as far as can be told: {n} entries, not proven" + (f" ({why})" if why else "")
        print(f"{path} ({fmt}): {verdict}")
        for k, s, d in findings:
            print(f"{'warning' if k in WARNINGS else 'FINDING'} {k} {s if s is not None else '-'} {d}")
        if facts.get("complete"):
            print(facts["complete"])
        elif facts.get("not_complete") and fmt != "archive":
            print(f"NOT PROVEN COMPLETE: {facts['not_complete']}")
    return 1 if tampered else 0


# ---------------------------------------------------------------- consistency proof files (FORMAT.md 10)
def parse_proof_file(data):
    """The consistency proof file, strictly: (origin, old, new, [hashes]); ValueError with the reason."""
    if len(data) > 16 * 1024:
        raise ValueError("the proof file is over 16 kB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the proof file is not UTF-8")
    if "\r" in text or not text.endswith("\n"):
        raise ValueError("the proof file has CR line ends or no final newline")
    lines = text[:-1].split("\n")
    if len(lines) < 4 or lines[0] != "auditlens-consistency-proof v1":
        raise ValueError("not an auditlens consistency proof (v1)")
    m = re.fullmatch(r"origin (auditlens\.archive/[0-9a-f]{32})", lines[1])
    if not m:
        raise ValueError(f"bad origin line {lines[1]!r}")
    sizes = []
    for ln, tag in ((lines[2], "old"), (lines[3], "new")):
        mm = re.fullmatch(tag + r" (0|[1-9][0-9]{0,19})", ln)
        if not mm or int(mm.group(1)) >= 2**64:
            raise ValueError(f"bad {tag} line {ln!r}")
        sizes.append(int(mm.group(1)))
    hashes = lines[4:]
    if len(hashes) > 128:
        raise ValueError("more than 128 hashes")
    for h in hashes:
        if not re.fullmatch(r"[0-9a-f]{64}", h):
            raise ValueError(f"bad hash line {h!r}")
    return m.group(1), sizes[0], sizes[1], [bytes.fromhex(h) for h in hashes]


def main_consistency(args):
    """check.py consistency OLD NEW PROOF [--key K.pub]... : the later checkpoint extends the earlier."""
    files, keys, i = [], [], 0
    while i < len(args):
        if args[i] == "--key" and i + 1 < len(args):
            keys.append(args[i + 1]); i += 2; continue
        files.append(args[i]); i += 1
    if len(files) != 3:
        print("usage: check.py consistency OLD NEW PROOF [--key K.pub]...", file=sys.stderr)
        return 2
    try:
        old = parse_checkpoint(open(files[0], "rb").read())
        new = parse_checkpoint(open(files[1], "rb").read())
        origin, m, n, path = parse_proof_file(open(files[2], "rb").read())
        parsed_keys = [parse_key(open(k, encoding="utf-8").read()) for k in keys]
    except (OSError, ValueError) as e:
        print(f"COULD NOT CHECK: {e}", file=sys.stderr)
        return 2
    findings = []
    if old.origin != new.origin or origin != old.origin:
        findings.append(("wrong_archive", "the checkpoints or the proof name different archives"))
    elif old.size > new.size:
        findings.append(("truncated", "the old checkpoint is larger than the new one"))
    elif (m, n) != (old.size, new.size):
        findings.append(("rewritten", f"the proof is for sizes {m} to {n}, not {old.size} to {new.size}"))
    elif not consistent(m, n, path, old.root, new.root) or (m == n and old.chain != new.chain):
        findings.append(("rewritten", "the proof does not lead from the old root to the new one"))
    for cp in (old, new):
        if parsed_keys:
            sig = []
            check_signatures(cp, parsed_keys, sig)
            findings += [(k, d) for k, _, d in sig]
    for k, d in findings:
        print(f"FINDING {k} - {d}")
    print("CONSISTENT" if not findings else "NOT CONSISTENT")
    return 1 if findings else 0


# ---------------------------------------------------------------- vectors
HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    return json.load(open(os.path.join(HERE, name), encoding="utf-8"))


def check_chain_and_proofs():
    d = load("chain-v1.json")
    aid = bytes.fromhex(d["archive_id"])
    prev = genesis(aid)
    assert prev.hex() == d["genesis"], "genesis"
    leaves = []
    for e in d["entries"]:
        leaf = leaf_hash(aid, e["seq"], e["canonical"].encode())
        assert leaf.hex() == e["leaf_hash"], f"leaf {e['seq']}"
        prev = link(prev, leaf)
        assert prev.hex() == e["chain_hash"], f"chain {e['seq']}"
        rec, kind, detail = read_record(e["canonical"].encode())
        assert kind is None, f"record {e['seq']} is canonical: {detail}"
        leaves.append(leaf)
    root = mth(leaves)
    assert root.hex() == d["merkle_root"], "merkle root"
    cp = parse_checkpoint(d["checkpoint"])
    assert (cp.aid, cp.size, cp.root, cp.chain) == (aid, len(leaves), root, prev)
    print(f"vectors OK: {len(leaves)} entries, root {root.hex()[:16]}…")

    p = load("proofs-v1.json")
    roots = [bytes.fromhex(r) for r in p["roots"]]
    for n in range(len(leaves) + 1):
        assert mth(leaves[:n]) == roots[n], f"root {n}"
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
    e = export_entry(parse_json(p["export_entry"]), None)
    assert check_record(e.record) == (None, [])
    leaf = leaf_hash(aid, e.seq, canon(e.record).encode())
    assert leaf == e.leaf and e.index == e.seq - 1
    assert root_from_inclusion(e.index, len(leaves), leaf, e.path) == root
    k = p["key"]
    name, kid, pub = parse_key(k["verifier_key"])
    assert name == k["name"] and kid.hex() == k["key_id"]
    assert k["private_key"].startswith("PRIVATE+KEY+" + name + "+" + kid.hex() + "+")
    signed = parse_checkpoint(p["signed_checkpoint"])
    assert signed.text == d["checkpoint"] and len(signed.sigs) == 1
    found = []
    check_signatures(signed, [(name, kid, pub)], found)
    assert found == [], f"the signed checkpoint verifies with the test key: {found}"
    forged = bytearray(signed.sigs[0][1]); forged[-1] ^= 1
    signed.sigs = [(name, bytes(forged))]
    found = []
    check_signatures(signed, [(name, kid, pub)], found)
    assert [f[0] for f in found] == ["bad_signature"], found
    print(f"proof vectors OK: {len(p['inclusion'])} inclusion, {len(p['consistency'])} consistency proofs, "
          f"key {kid.hex()} (Ed25519 checked)")
    return d


def check_checkpoints():
    cases, bad = load("checkpoints-v1.json"), []
    for c in cases:
        try:
            parse_checkpoint(c["text"])
            ok, why = True, ""
        except ValueError as e:
            ok, why = False, str(e)
        if ok != c["valid"]:
            bad.append(f"checkpoint {c['name']}: expected {'valid' if c['valid'] else 'refused'}, got {why or 'valid'}")
    print(f"checkpoint vectors: {len(cases) - len(bad)}/{len(cases)} agree")
    return bad


SCHEMA_FOR_VECTORS = """
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE entries (seq INTEGER PRIMARY KEY, record TEXT NOT NULL, leaf_hash BLOB NOT NULL,
  chain_hash BLOB NOT NULL, entry_id TEXT NOT NULL, time_ms INTEGER NOT NULL, actor_type TEXT, actor_id TEXT,
  actor_label TEXT, action TEXT NOT NULL, resource_type TEXT NOT NULL, resource_id TEXT NOT NULL,
  project_id TEXT, org_id TEXT, ip_address TEXT);
CREATE UNIQUE INDEX entries_entry_id ON entries(entry_id);
CREATE INDEX entries_time ON entries(time_ms);
"""
TRIGGERS = """
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT RAISE(ABORT, 'append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN SELECT RAISE(ABORT, 'append-only'); END;
CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'fixed'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta BEGIN SELECT RAISE(ABORT, 'fixed'); END;
"""


def rehash(conn, aid):
    prev = genesis(aid)
    for s, r in conn.execute("SELECT seq, record FROM entries ORDER BY seq").fetchall():
        leaf = leaf_hash(aid, s, r.encode("utf-8", "surrogatepass"))
        prev = link(prev, leaf)
        conn.execute("UPDATE entries SET leaf_hash = ?, chain_hash = ? WHERE seq = ?", (leaf, prev, s))


def apply_tamper(conn, aid, ops):
    """The tamper operations of findings-v1.json (tests/agreement.rs applies the same ones)."""
    for op in ops:
        if op["op"] == "sql":
            conn.execute(op["sql"])
        elif op["op"] == "edit_record":
            seq = op["seq"]
            (rec,) = conn.execute("SELECT record FROM entries WHERE seq = ?", (seq,)).fetchone()
            assert op["find"] in rec, f"{op['find']} not in record {seq}"
            rec = rec.replace(op["find"], op["replace"], 1)
            conn.execute("UPDATE entries SET record = ? WHERE seq = ?", (rec, seq))
            if op.get("rehash"):
                rehash(conn, aid)
        elif op["op"] == "rehash":
            rehash(conn, aid)
        else:
            raise ValueError(f"unknown tamper op {op['op']}")


def checkpoint_text(aid, records):
    leaves, prev = [], genesis(aid)
    for seq, r in enumerate(records, 1):
        leaves.append(leaf_hash(aid, seq, r.encode()))
        prev = link(prev, leaves[-1])
    return (f"auditlens.archive/{aid.hex()}\n{len(records)}\n{base64.b64encode(mth(leaves)).decode()}\n"
            f"chain {prev.hex()}\n")


def build_vector_archive(path, chain_vectors):
    """The archive of chain-v1.json (its id and records), written with the schema of FORMAT.md 6."""
    aid = bytes.fromhex(chain_vectors["archive_id"])
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_FOR_VECTORS)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [("format", "auditlens-archive"), ("format_version", "1"),
                     ("archive_id", aid.hex()), ("created_at", "2025-03-14T10:00:00.000Z"), ("created_by", "check.py")])
    for e in chain_vectors["entries"]:
        c = derived_columns(json.loads(e["canonical"]))
        conn.execute("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     (e["seq"], e["canonical"], bytes.fromhex(e["leaf_hash"]), bytes.fromhex(e["chain_hash"]),
                      *[c[k] for k in INDEX_COLS]))
    conn.commit()
    return conn, aid


def check_findings(chain_vectors):
    """findings-v1.json: one small tampered archive per finding kind, with the findings it must give."""
    cases, bad = load("findings-v1.json")["cases"], []
    for c in cases:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "a.sqlite")
            conn, aid = build_vector_archive(path, chain_vectors)
            apply_tamper(conn, aid, c["tamper"])
            if not c.get("drop_triggers"):
                conn.executescript(TRIGGERS)
            conn.commit(); conn.close()
            cp_path = None
            if c.get("checkpoint"):
                cp_path = os.path.join(tmp, "a.checkpoint")
                other = bytes(16) if c["checkpoint"] == "other_archive" else aid
                text = checkpoint_text(other, [e["canonical"] for e in chain_vectors["entries"]])
                open(cp_path, "w").write(text)
            try:
                _, _, findings, _ = verify_path(path, cp_path)
                got = sorted({k for k, s, d in findings if k not in WARNINGS})
                got_at = sorted({(k, s) for k, s, d in findings if k not in WARNINGS and s is not None})
            except Unreadable as e:
                got, got_at = [f"unreadable: {e}"], []
            want = sorted(set(c["kinds"]))
            want_at = sorted((k, s) for k, s in c.get("at", []))
            if got != want or any(w not in got_at for w in want_at):
                bad.append(f"finding case {c['name']}: expected {want} at {want_at}, got {got} at {got_at}")
    print(f"finding vectors: {len(cases) - len(bad)}/{len(cases)} agree")
    return bad


def run_export_case(c, tmp):
    """Writes one case of exports-v1.json into `tmp`; returns (path, checkpoint path, key paths)."""
    for name, text in c["files"].items():
        with open(os.path.join(tmp, name), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    cp_path, keys = None, []
    if c.get("checkpoint"):
        cp_path = os.path.join(tmp, "given.checkpoint")
        open(cp_path, "w", encoding="utf-8", newline="").write(c["checkpoint"])
    if c.get("key"):
        keys = [os.path.join(tmp, "given.pub")]
        open(keys[0], "w", encoding="utf-8").write(c["key"])
    return os.path.join(tmp, c["verify"]), cp_path, keys


def check_exports():
    """exports-v1.json: genuine and tampered exports with the exit code and finding kinds each must get."""
    cases, bad = load("exports-v1.json")["cases"], []
    for c in cases:
        with tempfile.TemporaryDirectory() as tmp:
            path, cp_path, keys = run_export_case(c, tmp)
            try:
                _, _, findings, _ = verify_path(path, cp_path, keys)
                kinds = sorted({k for k, s, d in findings if k not in WARNINGS})
                code = 1 if kinds else 0
            except Unreadable as e:
                kinds, code = [f"unreadable: {e}"], 2
            want = c["kinds"] if c["exit"] != 2 else kinds
            if code != c["exit"] or kinds != want:
                bad.append(f"export case {c['name']}: expected exit {c['exit']} {c['kinds']}, got exit {code} {kinds}")
    print(f"export vectors: {len(cases) - len(bad)}/{len(cases)} agree")
    return bad


def check_complete_vectors(chain_vectors):
    """complete-v1.json (FORMAT.md 14): index leaves and roots recomputed from chain-v1's records, and each
    range proof led to its index root (and not when one proof hash is changed)."""
    d, bad = load("complete-v1.json"), []
    rows = []
    for seq, e in enumerate(chain_vectors["entries"], 1):
        rec, _, _ = read_record(e["canonical"].encode())
        rows.append((seq, bytes.fromhex(e["leaf_hash"]), time_ms(rec["time"]), index_keys(rec)))
    cp = parse_checkpoint(d["checkpoint"])
    roots = index_roots(rows)
    for i, name in enumerate(INDEX_NAMES):
        want = d["indexes"][name]
        ordered = sorted(rows, key=lambda r: (key_order(r[3][i]), r[2], r[0]))
        mine = [{"key": r[3][i], "time_ms": r[2], "seq": r[0], "leaf_hash": r[1].hex(),
                 "index_leaf": index_leaf(name, r[3][i], r[2], r[0], r[1]).hex()} for r in ordered]
        if mine != want["leaves"]:
            bad.append(f"complete vectors: the {name} index's leaves differ")
        if roots[name].hex() != want["root"] or cp.indexes[name] != roots[name]:
            bad.append(f"complete vectors: the {name} index root differs")
    for v in d["range_proofs"]:
        p = parse_claim(parse_json(json.dumps(v["complete"])))
        name, left, right = p["index"], p["left"], p["right"]
        key = p["entries"] and ordered_key(rows, name, p["entries"][0][0])
        run = ([index_leaf(name, *left)] if left else []) + \
              [index_leaf(name, key, t, seq, leaf) for seq, t, leaf in p["entries"]] + \
              ([index_leaf(name, *right)] if right else [])
        lo = p["position"] - (1 if left else 0)
        if root_from_range(p["size"], lo, run, p["proof"]) != cp.indexes[name]:
            bad.append(f"complete vectors: the range proof for {v['filter']} does not lead to the root")
        if p["proof"] and root_from_range(p["size"], lo, run, [bytes(32)] + p["proof"][1:]) == cp.indexes[name]:
            bad.append(f"complete vectors: a changed proof for {v['filter']} still leads to the root")
    print(f"complete vectors: 5 index trees, {len(d['range_proofs'])} range proofs")
    return bad


def ordered_key(rows, name, seq):
    """The key of entry `seq` in index `name`."""
    return next(r[3][INDEX_NAMES.index(name)] for r in rows if r[0] == seq)


def main_vectors():
    d = check_chain_and_proofs()
    bad = check_checkpoints() + check_findings(d) + check_exports() + check_complete_vectors(d)
    for b in bad:
        print("DISAGREES:", b)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "verify":
        sys.exit(main_verify(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "consistency":
        sys.exit(main_consistency(sys.argv[2:]))
    if len(sys.argv) > 1:
        print("usage: check.py [verify PATH [--checkpoint C] [--key K.pub]... [--json]]\n"
              "       check.py consistency OLD NEW PROOF [--key K.pub]...", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(main_vectors())
    except AssertionError as e:
        print(f"vectors DISAGREE: {e}")
        sys.exit(1)
