#!/usr/bin/env python3
"""Independent verifier for credo-draw-v1 and credo-draw-v2 bundles and for
credo's signed documents (docs/draw-spec.md).

Usage:
  python3 verify_draw.py [--public-key KEY] [--beacon-value VALUE] BUNDLE_FILE
  python3 verify_draw.py --document FILE [--public-key KEY]

For a bundle: prints "identical" (v2: followed by the spec and the signer)
and exits 0 when the bundle is intact and re-deriving the draw from its
recorded inputs gives exactly its recorded result; with --public-key the
bundle must be signed by that key (hex, or a file holding it); with
--beacon-value it must have been drawn with exactly the value you read at
the plan's beacon source. Otherwise prints the first difference found and
exits 1.

For a signed JSON document (a checkpoint or a disclosure): prints "valid"
with its type and signer, or why not, and exits 0 or 1.

Pure Python 3.11, standard library only. Written from the specification;
ChaCha20 (RFC 8439 block function) and Ed25519 verification (RFC 8032) are
implemented here.
"""

import hashlib
import json
import os
import re
import sys

SPEC = "credo-draw-v1"
MAGIC = "#credo-draw-bundle v1"
SPEC_V2 = "credo-draw-v2"
MAGIC_V2 = "#credo-draw-bundle v2"
SECTIONS = ["manifest", "plan", "strata", "frame", "officers", "seed", "counts", "visits"]
SECTIONS_V2 = ["manifest", "plan", "provenance", "strata", "frame", "officers", "seed", "counts", "visits"]
BEACON_RULES = ["none", "text", "digits", "hex"]
SIGNATURE_TAG = b"credo-signature-v1"
BUNDLE_SIGNATURE_TYPE = "credo-draw-bundle-v2"
HEADERS = {
    "strata": "#key\tmode\tratio_ppm\tmin_ratio_ppm",
    "frame": "#uscc\tstratum\tprobability_ppm\teligible\texclusion\tcity\titems\tpersons\trecent_officers",
    "officers": "#officer_id\tdepartment\tcity\tactive\tqualifications\tpersons",
    "counts": "#stratum\tpopulation\tselected",
    "visits": "#visit\tuscc\tstratum\tticket\titems\tofficers\tunstaffed",
}
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


class Difference(Exception):
    """The first difference; str() is the message printed."""


def fail(line, msg):
    raise Difference(f"line {line}: {msg}" if line else msg)


# ---------------------------------------------------------------- primitives

def sha256(b):
    return hashlib.sha256(b).digest()


def chacha20_first_u64(key):
    """First 8 bytes of the ChaCha20 keystream (20 rounds, block counter 0,
    nonce 0) as a little-endian unsigned 64-bit integer."""
    m = 0xFFFFFFFF

    def rotl(v, c):
        return ((v << c) & m) | (v >> (32 - c))

    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += [int.from_bytes(key[4 * i:4 * i + 4], "little") for i in range(8)]
    s += [0, 0, 0, 0]
    x = list(s)

    def qr(a, b, c, d):
        x[a] = (x[a] + x[b]) & m; x[d] = rotl(x[d] ^ x[a], 16)
        x[c] = (x[c] + x[d]) & m; x[b] = rotl(x[b] ^ x[c], 12)
        x[a] = (x[a] + x[b]) & m; x[d] = rotl(x[d] ^ x[a], 8)
        x[c] = (x[c] + x[d]) & m; x[b] = rotl(x[b] ^ x[c], 7)

    for _ in range(10):
        qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
        qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)
    w0 = (x[0] + s[0]) & m
    w1 = (x[1] + s[1]) & m
    return w0 | (w1 << 32)


def entity_ticket(seed, uscc):
    return chacha20_first_u64(sha256(seed + uscc.encode("ascii")))


def officer_ticket(seed, uscc, officer_id):
    return chacha20_first_u64(sha256(seed + uscc.encode("ascii") + officer_id.encode("utf-8")))


def derive_seed(frame_hash, secret, beacon, spec=SPEC):
    return sha256(spec.encode("ascii") + b"\x00" + frame_hash
                  + len(secret).to_bytes(4, "big") + secret
                  + len(beacon).to_bytes(4, "big") + beacon)


# ------------------------------------------------------------ Ed25519 (RFC 8032 §6)

ED_P = 2 ** 255 - 19
ED_L = 2 ** 252 + 27742317777372353535851937790883648493
ED_D = -121665 * pow(121666, ED_P - 2, ED_P) % ED_P
ED_I = pow(2, (ED_P - 1) // 4, ED_P)


def _recover_x(y, sign):
    if y >= ED_P:
        return None
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, ED_P - 2, ED_P) % ED_P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (ED_P + 3) // 8, ED_P)
    if (x * x - x2) % ED_P != 0:
        x = x * ED_I % ED_P
    if (x * x - x2) % ED_P != 0:
        return None
    if (x & 1) != sign:
        x = ED_P - x
    return x


def _point_add(a, b):
    # Extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z.
    pa = (a[1] - a[0]) * (b[1] - b[0]) % ED_P
    pb = (a[1] + a[0]) * (b[1] + b[0]) % ED_P
    pc = 2 * a[3] * b[3] * ED_D % ED_P
    pd = 2 * a[2] * b[2] % ED_P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return (e * f % ED_P, g * h % ED_P, f * g % ED_P, e * h % ED_P)


def _point_mul(s, p):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _point_add(q, p)
        p = _point_add(p, p)
        s >>= 1
    return q


def _point_equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % ED_P == 0 and (a[1] * b[2] - b[1] * a[2]) % ED_P == 0


_G_Y = 4 * pow(5, ED_P - 2, ED_P) % ED_P
_G_X = _recover_x(_G_Y, 0)
ED_G = (_G_X, _G_Y, 1, _G_X * _G_Y % ED_P)


def _point_decompress(b):
    if len(b) != 32:
        return None
    y = int.from_bytes(b, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % ED_P)


def ed25519_verify(public, message, signature):
    """RFC 8032 §5.1.7: is `signature` a valid signature of `message` by
    the 32-byte public key `public`?"""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _point_decompress(public)
    r = _point_decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= ED_L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % ED_L
    return _point_equal(_point_mul(s, ED_G), _point_add(r, _point_mul(k, a)))


def signed_message(doc_type, payload):
    return SIGNATURE_TAG + b"\x00" + doc_type.encode("utf-8") + b"\x00" + payload


def read_key(arg):
    text = arg
    if os.path.isfile(arg):
        with open(arg, encoding="utf-8") as fh:
            text = fh.read()
    text = text.strip()
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise Difference(f"public key '{arg}' is not 64 hex digits")
    return bytes.fromhex(text)


def is_utc_time(s):
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", s) is not None


def is_date(s):
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", s) is not None


def beacon_bytes(rule, value):
    """§4.2: the beacon bytes a rule makes of a published value, or an error."""
    if rule == "none":
        if value != "":
            return None, f"the plan names no beacon, but the beacon value '{value}' was given"
        return b"", None
    if value == "":
        return None, "the plan names a beacon, but the beacon value is empty"
    if rule == "text":
        if value.strip() != value:
            return None, "rule text: the value may not start or end with white space"
        return value.encode("utf-8"), None
    if rule == "digits":
        d = "".join(c for c in value if c in "0123456789")
        if not d:
            return None, f"rule digits: the value '{value}' has no decimal digit"
        return d.encode("ascii"), None
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})*", value) is None:
        return None, f"rule hex: the value '{value}' is not hexadecimal"
    return bytes.fromhex(value), None


def uscc_problem(s):
    if len(s) != 18:
        return "must be 18 characters"
    if any(c not in USCC_ALPHABET for c in s):
        return "contains a character outside the GB 32100 alphabet"
    if not s[2:8].isdigit():
        return "characters 3-8 must be digits"
    org = 0
    for c, w in zip(s[8:16], ORG_WEIGHTS):
        org += (ord(c) - 48 if c.isdigit() else ord(c) - 55) * w
    r = 11 - org % 11
    expected = "X" if r == 10 else "0" if r == 11 else str(r)
    if s[16] != expected:
        return "organisation code check character is wrong"
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(s[:17], USCC_WEIGHTS))
    if s[17] != USCC_ALPHABET[(31 - total % 31) % 31]:
        return "check character is wrong"
    return None


# --------------------------------------------------------------- field types

def is_code(s):
    b = s.encode("utf-8")
    return len(b) > 0 and not any(c <= 0x20 or c == 0x7F or c in b",:%" for c in b)


def escape(s):
    out = []
    for ch in s:
        o = ord(ch)
        out.append("%%%02X" % o if (o < 0x20 or o == 0x7F or ch == "%") else ch)
    return "".join(out)


def unescape(s, line):
    out = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            fail(line, "raw control character in a text field")
        if ch == "%":
            h = s[i + 1:i + 3]
            if len(h) != 2 or any(c not in "0123456789ABCDEF" for c in h):
                fail(line, "bad %XX escape")
            v = int(h, 16)
            if not (v < 0x20 or v == 0x7F or v == 0x25):
                fail(line, "%XX escape of a byte that must be written as itself")
            out.append(chr(v))
            i += 3
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def number(s, line, what):
    if not s.isascii() or not s.isdigit() or (len(s) > 1 and s[0] == "0"):
        fail(line, f"{what} must be a decimal number without leading zeros, found '{s}'")
    return int(s)


def city(s, line):
    if len(s) != 6 or not s.isascii() or not s.isdigit():
        fail(line, f"city must be six digits, found '{s}'")
    return int(s)


def yes_no(s, line, what):
    if s not in ("yes", "no"):
        fail(line, f"{what} must be yes or no")
    return s == "yes"


def hexbytes(s, line, what, length=None):
    if any(c not in "0123456789abcdef" for c in s) or len(s) % 2:
        fail(line, f"{what} must be lower-case hex")
    b = bytes.fromhex(s)
    if length is not None and len(b) != length:
        fail(line, f"{what} must be {length} bytes")
    return b


def code_list(s, line, what):
    if s == "":
        return []
    parts = s.split(",")
    for p in parts:
        if not is_code(p):
            fail(line, f"bad {what} '{p}'")
    return parts


def person_list(s, line):
    if s == "":
        return []
    parts = s.split(",")
    for p in parts:
        if len(p) != 32 or any(c not in "0123456789abcdef" for c in p):
            fail(line, f"bad person id '{p}'")
    return parts


def item_list(s, line):
    out = []
    for p in ([] if s == "" else s.split(",")):
        d, sep, c = p.partition(":")
        if not sep or not is_code(d) or not is_code(c):
            fail(line, f"bad item '{p}'")
        out.append((d, c))
    return out


def utf8_key(s):
    return s.encode("utf-8")


def canonical_list(values, key, line, what):
    keys = [key(v) for v in values]
    if any(a >= b for a, b in zip(keys, keys[1:])):
        fail(line, f"{what} must be sorted ascending without repeats")


# ------------------------------------------------------------------ reading

def split_sections(data):
    """Returns (spec, section names, sections); sections maps a name to
    [header line number, [(line number, text)], start byte, end byte]. A v2
    bundle may end with a [signature] section, which the manifest does not
    cover."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(None, f"the bundle is not valid UTF-8 (byte {e.start})")
    if not text.endswith("\n"):
        fail(None, "the last line must end with a newline")
    lines = text[:-1].split("\n")
    if lines[0] == MAGIC:
        spec, names = SPEC, SECTIONS
    elif lines[0] == MAGIC_V2:
        spec, names = SPEC_V2, SECTIONS_V2
    else:
        fail(1, f"the first line must be '{MAGIC}' or '{MAGIC_V2}'")
    sections = {}
    order = []
    offset = len(lines[0].encode("utf-8")) + 1
    for no, line in enumerate(lines[1:], start=2):
        n = len(order)
        if n < len(names) and line == "[" + names[n] + "]":
            if order:
                sections[order[-1]][3] = offset
            sections[names[n]] = [no, [], offset, len(data)]
            order.append(names[n])
        elif spec == SPEC_V2 and n == len(names) and order[-1] != "signature" and line == "[signature]":
            sections[order[-1]][3] = offset
            sections["signature"] = [no, [], offset, len(data)]
            order.append("signature")
        elif not order:
            fail(no, "expected section [manifest]")
        else:
            sections[order[-1]][1].append((no, line))
        offset += len(line.encode("utf-8")) + 1
    if len([o for o in order if o != "signature"]) != len(names):
        fail(len(lines), f"section [{names[len(order)]}] is missing or out of order")
    return spec, names, sections


def key_values(sec, name, keys):
    no, lines = sec[name][0], sec[name][1]
    if len(lines) != len(keys):
        fail(no, f"section [{name}] must have exactly the lines {', '.join(k + '=' for k in keys)}")
    out = []
    for (ln, text), k in zip(lines, keys):
        if not text.startswith(k + "="):
            fail(ln, f"expected '{k}=...'")
        out.append((ln, text[len(k) + 1:]))
    return out


def table(sec, name, nfields):
    no, lines = sec[name][0], sec[name][1]
    if not lines or lines[0][1] != HEADERS[name]:
        fail(no + 1, f"section [{name}] must start with its column header line")
    rows = []
    for ln, text in lines[1:]:
        f = text.split("\t")
        if len(f) != nfields:
            fail(ln, f"expected {nfields} tab-separated fields, found {len(f)}")
        rows.append((ln, f))
    return rows


def text_field(value, line, what, allow_empty=True):
    t = unescape(value, line)
    if escape(t) != value:
        fail(line, f"{what} is not canonically escaped")
    if not allow_empty and t == "":
        fail(line, f"{what} is empty")
    return t


def check_signature(data, sec, public_key):
    """§11: the [signature] of a v2 bundle signs the bytes from the start
    of the file through the end of [manifest]."""
    if "signature" not in sec:
        if public_key is not None:
            fail(None, f"signature: the bundle is not signed, but key {public_key.hex()} was given to check it")
        return None
    kv = key_values(sec, "signature", ["algorithm", "public_key", "signature"])
    if kv[0][1] != "ed25519":
        fail(kv[0][0], "signature: algorithm must be ed25519")
    key = hexbytes(kv[1][1], kv[1][0], "public_key", 32)
    sig = hexbytes(kv[2][1], kv[2][0], "signature", 64)
    if public_key is not None and key != public_key:
        fail(kv[1][0], f"signature: the bundle is signed by key {key.hex()}, not by the given key {public_key.hex()}")
    signed = data[:sec["manifest"][3]]
    if not ed25519_verify(key, signed_message(BUNDLE_SIGNATURE_TYPE, signed), sig):
        fail(kv[2][0], f"signature: not a valid signature of key {key.hex()}: the manifest was changed after signing")
    return key


def verify(data, public_key=None, beacon_value=None):
    spec, names, sec = split_sections(data)
    v2 = spec == SPEC_V2
    section_bytes = {n: data[sec[n][2]:sec[n][3]] for n in names}

    # 1. Manifest and integrity.
    mf = key_values(sec, "manifest", ["spec"] + names[1:] + ["result"])
    if mf[0][1] != spec:
        fail(mf[0][0], f"unsupported spec '{mf[0][1]}'")
    for (ln, value), name in zip(mf[1:len(names)], names[1:]):
        listed = hexbytes(value, ln, "section hash", 32)
        if sha256(section_bytes[name]) != listed:
            fail(sec[name][0], f"section [{name}]: hash mismatch: its SHA-256 is "
                 f"{sha256(section_bytes[name]).hex()}, the manifest lists {value}")
    result_hash = sha256(section_bytes["counts"] + section_bytes["visits"])
    if result_hash != hexbytes(mf[-1][1], mf[-1][0], "result hash", 32):
        fail(mf[-1][0], "result hash does not match [counts] and [visits]")
    if not v2 and public_key is not None:
        fail(None, "signature: a credo-draw-v1 bundle carries no signature; it cannot be checked against a key")
    signer = check_signature(data, sec, public_key) if v2 else None

    # 2. Plan.
    keys = ["plan_id", "departments", "officers_per_visit", "max_visits_per_officer", "commitment"]
    keys += ["beacon_rule", "beacon_source", "beacon_published_at"] if v2 else ["beacon_source"]
    kv = key_values(sec, "plan", keys)
    plan_id = unescape(kv[0][1], kv[0][0])
    if plan_id == "":
        fail(kv[0][0], "plan_id is empty")
    departments = code_list(kv[1][1], kv[1][0], "department")
    if not departments:
        fail(kv[1][0], "no department")
    canonical_list(departments, utf8_key, kv[1][0], "departments")
    per_visit = number(kv[2][1], kv[2][0], "officers_per_visit")
    cap = number(kv[3][1], kv[3][0], "max_visits_per_officer")
    if per_visit < 2 or cap < 1 or per_visit > 0xFFFFFFFF or cap > 0xFFFFFFFF:
        fail(kv[2][0], "officers_per_visit must be >= 2 and max_visits_per_officer >= 1")
    commitment = hexbytes(kv[4][1], kv[4][0], "commitment", 32)
    if escape(plan_id) != kv[0][1]:
        fail(kv[0][0], "plan_id is not canonically escaped")
    if v2:
        rule = kv[5][1]
        if rule not in BEACON_RULES:
            fail(kv[5][0], f"beacon_rule must be one of {', '.join(BEACON_RULES)}")
        beacon_source = text_field(kv[6][1], kv[6][0], "beacon_source")
        beacon_published_at = text_field(kv[7][1], kv[7][0], "beacon_published_at")
    else:
        text_field(kv[5][1], kv[5][0], "beacon_source")

    # 2b. Provenance (v2).
    if v2:
        pk = ["store_id", "plan_number", "kind", "name", "created_at", "as_of", "dataset_hash",
              "rules_hash", "run_id", "release_at", "replaces", "excluded_by"]
        pv = dict(zip(pk, key_values(sec, "provenance", pk)))
        for k in ["store_id", "kind"]:
            if not is_code(pv[k][1]):
                fail(pv[k][0], f"{k} must be a code")
        for k in ["dataset_hash", "rules_hash"]:
            text_field(pv[k][1], pv[k][0], k, allow_empty=False)
        plan_number = number(pv["plan_number"][1], pv["plan_number"][0], "plan_number")
        number(pv["run_id"][1], pv["run_id"][0], "run_id")
        text_field(pv["name"][1], pv["name"][0], "name")
        created_at = text_field(pv["created_at"][1], pv["created_at"][0], "created_at")
        as_of = text_field(pv["as_of"][1], pv["as_of"][0], "as_of")
        text_field(pv["release_at"][1], pv["release_at"][0], "release_at")
        for k in ["replaces", "excluded_by"]:
            canonical_list(code_list(pv[k][1], pv[k][0], "plan id"), utf8_key, pv[k][0], k)
        if plan_id != f"{pv['store_id'][1]}/{plan_number}":
            fail(kv[0][0], f"plan_id must be store_id/plan_number = {pv['store_id'][1]}/{plan_number}")
        if not is_utc_time(created_at):
            fail(pv["created_at"][0], "created_at must be a UTC time YYYY-MM-DDTHH:MM:SSZ")
        if not is_date(as_of):
            fail(pv["as_of"][0], "as_of must be a date YYYY-MM-DD")
        if rule == "none":
            if beacon_source != "" or beacon_published_at != "":
                fail(kv[5][0], "beacon rule none: the beacon source and publication time must be empty")
        else:
            if beacon_source == "":
                fail(kv[6][0], f"beacon rule {rule}: the beacon source is empty")
            if not is_utc_time(beacon_published_at):
                fail(kv[7][0], "beacon_published_at must be a UTC time YYYY-MM-DDTHH:MM:SSZ")
            if beacon_published_at <= created_at:
                fail(kv[7][0], f"the beacon is published at {beacon_published_at}, not after the plan's "
                     f"creation at {created_at}: it could be known before the commitment")

    # 3. Strata.
    strata = []  # (key, mode, ratio, min_ratio)
    for ln, f in table(sec, "strata", 4):
        key = unescape(f[0], ln)
        if key == "" or escape(key) != f[0]:
            fail(ln, "bad stratum key")
        if f[1] == "probability":
            if f[2] != "" or f[3] != "":
                fail(ln, "a probability stratum has empty ratio fields")
            strata.append((key, "probability", 0, 0))
        elif f[1] == "quota":
            r, mr = number(f[2], ln, "ratio_ppm"), number(f[3], ln, "min_ratio_ppm")
            if r > 1_000_000 or mr > 1_000_000:
                fail(ln, "ratios may not exceed 1000000")
            strata.append((key, "quota", r, mr))
        else:
            fail(ln, "mode must be probability or quota")
        if len(strata) > 1 and utf8_key(strata[-2][0]) >= utf8_key(key):
            fail(ln, "strata must be sorted by key without repeats")
    stratum_index = {s[0]: i for i, s in enumerate(strata)}

    # 4. Officers.
    officers = []
    for ln, f in table(sec, "officers", 6):
        oid, dept = f[0], f[1]
        if not is_code(oid) or not is_code(dept):
            fail(ln, "bad officer id or department")
        if officers and utf8_key(officers[-1]["id"]) >= utf8_key(oid):
            fail(ln, "officers must be sorted by officer id without repeats")
        quals = code_list(f[4], ln, "qualification")
        canonical_list(quals, utf8_key, ln, "qualifications")
        persons = person_list(f[5], ln)
        canonical_list(persons, str, ln, "persons")
        officers.append({"id": oid, "dept": dept, "city": city(f[2], ln),
                         "active": yes_no(f[3], ln, "active"),
                         "quals": set(quals), "persons": set(persons)})

    # 5. Frame.
    entities = []
    for ln, f in table(sec, "frame", 9):
        u = f[0]
        p = uscc_problem(u)
        if p:
            fail(ln, f"invalid credit code {u}: {p}")
        if entities and entities[-1]["uscc"] >= u:
            fail(ln, "entities must be sorted by USCC without repeats")
        skey = unescape(f[1], ln)
        if skey not in stratum_index or escape(skey) != f[1]:
            fail(ln, f"unknown stratum '{f[1]}'")
        prob = number(f[2], ln, "probability_ppm")
        if prob > 1_000_000:
            fail(ln, "probability_ppm exceeds 1000000")
        eligible = yes_no(f[3], ln, "eligible")
        exclusion = unescape(f[4], ln)
        if escape(exclusion) != f[4] or eligible != (exclusion == ""):
            fail(ln, "the exclusion reason must be empty exactly when eligible")
        items = item_list(f[6], ln)
        canonical_list(items, lambda it: (utf8_key(it[0]), utf8_key(it[1])), ln, "items")
        if any(d not in departments for d, _ in items):
            fail(ln, "an item's department does not take part in the plan")
        if eligible and not items:
            fail(ln, "eligible entity without items")
        persons = person_list(f[7], ln)
        canonical_list(persons, str, ln, "persons")
        recent = code_list(f[8], ln, "recent officer id")
        canonical_list(recent, utf8_key, ln, "recent officers")
        entities.append({"uscc": u, "stratum": stratum_index[skey], "prob": prob,
                         "eligible": eligible, "city": city(f[5], ln), "items": items,
                         "persons": set(persons), "recent": set(recent)})

    # 6. Seed materials.
    if v2:
        kv = key_values(sec, "seed", ["secret", "beacon_value", "beacon", "beacon_supplied_at", "frame_hash", "seed"])
        value = text_field(kv[1][1], kv[1][0], "beacon_value")
        supplied_at = text_field(kv[3][1], kv[3][0], "beacon_supplied_at")
        kv = [kv[0], kv[2], kv[4], kv[5], kv[1], kv[3]]
    else:
        kv = key_values(sec, "seed", ["secret", "beacon", "frame_hash", "seed"])
    secret = hexbytes(kv[0][1], kv[0][0], "secret")
    beacon = hexbytes(kv[1][1], kv[1][0], "beacon")
    if v2:
        # §4.2: the plan named its beacon in advance, or none.
        ln = kv[4][0]
        if rule == "none":
            if beacon != b"" or value != "":
                fail(ln, f"beacon: the plan names no beacon (beacon_rule=none), but the draw used beacon value "
                     f"'{value}' (bytes {beacon.hex()})")
            if supplied_at != "":
                fail(ln, "beacon: the plan names no beacon, but a time the beacon was supplied is recorded")
        else:
            if value == "":
                fail(ln, f"beacon: the plan names the beacon '{beacon_source}' (rule {rule}), but the draw used "
                     "none: the beacon was dropped")
            want, problem = beacon_bytes(rule, value)
            if problem:
                fail(ln, f"beacon: {problem}")
            if want != beacon:
                fail(ln, f"beacon: rule {rule} makes bytes {want.hex()} of the recorded value '{value}', "
                     f"but the draw used {beacon.hex()}")
            if not is_utc_time(supplied_at):
                fail(ln, "beacon: beacon_supplied_at must be a UTC time YYYY-MM-DDTHH:MM:SSZ")
            if supplied_at < beacon_published_at:
                fail(ln, f"beacon: supplied at {supplied_at}, before its announced publication at "
                     f"{beacon_published_at}")
        if beacon_value is not None and beacon_value != value:
            fail(ln, f"beacon: the bundle records the value '{value}', but the value given as published is "
                 f"'{beacon_value}': the beacon was swapped")
    if len(secret) < 16:
        fail(kv[0][0], "the secret must be at least 16 bytes")
    if sha256(secret) != commitment:
        fail(kv[0][0], "commitment does not match secret")
    frame_names = names[1:names.index("seed")]
    frame_hash = sha256(b"".join(section_bytes[n] for n in frame_names))
    if frame_hash != hexbytes(kv[2][1], kv[2][0], "frame_hash", 32):
        fail(kv[2][0], f"frame hash mismatch: the frame sections hash to {frame_hash.hex()}")
    seed = derive_seed(frame_hash, secret, beacon, spec)
    if seed != hexbytes(kv[3][1], kv[3][0], "seed", 32):
        fail(kv[3][0], f"seed mismatch: re-derivation gives {seed.hex()}")

    # 7. Re-derive: selection.
    population = [0] * len(strata)
    members = [[] for _ in strata]
    for e in entities:
        if e["eligible"]:
            population[e["stratum"]] += 1
            members[e["stratum"]].append(e)
    selected = []  # (ticket, uscc, entity)
    counts = []
    for i, (key, mode, ratio, min_ratio) in enumerate(strata):
        ranked = sorted((entity_ticket(seed, e["uscc"]), e["uscc"].encode(), e) for e in members[i])
        n = population[i]
        if mode == "probability":
            chosen = [r for r in ranked if r[0] < (r[2]["prob"] << 64) // 1_000_000]
        else:
            k = min(n, max(-(-ratio * n // 1_000_000), -(-min_ratio * n // 1_000_000)))
            chosen = ranked[:k]
        counts.append((key, n, len(chosen)))
        selected.extend(chosen)
    selected.sort(key=lambda r: (r[0], r[1]))

    # 8. Re-derive: assignment.
    load = {o["id"]: 0 for o in officers}
    visits = []
    for ticket, _, e in selected:
        depts = sorted({d for d, _ in e["items"]}, key=utf8_key)
        codes = {d: [c for dd, c in e["items"] if dd == d] for d in depts}

        def stages(o, d):
            return [o["city"] == e["city"] and o["dept"] == d,
                    o["active"],
                    all(c in o["quals"] for c in codes[d]),
                    not (o["persons"] & e["persons"]),
                    o["id"] not in e["recent"],
                    load[o["id"]] < cap]

        candidates = []
        for o in officers:
            if o["dept"] in codes:
                if all(stages(o, o["dept"])):
                    candidates.append((officer_ticket(seed, e["uscc"], o["id"]), utf8_key(o["id"]), o))
        candidates.sort(key=lambda c: (c[0], c[1]))
        team, reason = [], None
        for d in depts:
            best = next((c for c in candidates if c[2]["dept"] == d), None)
            if best is None:
                n = [0] * 6
                for o in officers:
                    ok = stages(o, d)
                    for k in range(6):
                        if not ok[k]:
                            break
                        n[k] += 1
                reason = (f"{d}: no officer can go ({n[0]} of {d} in {e['city']:06d}, {n[1]} active, "
                          f"{n[2]} qualified for {','.join(codes[d])}, {n[3]} without conflict of interest, "
                          f"{n[4]} not recently at this entity, {n[5]} under the workload cap of {cap})")
                break
            team.append(best)
        if reason is None:
            for c in candidates:
                if len(team) >= per_visit:
                    break
                if c not in team:
                    team.append(c)
            if len(team) < per_visit:
                total = len(candidates)
                per_dept = ", ".join(f"{d} {sum(1 for c in candidates if c[2]['dept'] == d)}" for d in depts)
                reason = (f"only {total} {'officer' if total == 1 else 'officers'} can go, "
                          f"{per_visit} needed ({per_dept})")
        if reason is None:
            team.sort(key=lambda c: (c[0], c[1]))
            for c in team:
                load[c[2]["id"]] += 1
            officers_field, reason_field = ",".join(c[2]["id"] for c in team), ""
        else:
            officers_field, reason_field = "", escape(reason)
        items = ",".join(f"{d}:{c}" for d, c in e["items"])
        visits.append((e["uscc"], escape(strata[e["stratum"]][0]), f"{ticket:016x}", items,
                       officers_field, reason_field))

    # 9. Compare with the recorded result.
    rows = table(sec, "counts", 3)
    for (ln, f), (key, n, k) in zip(rows, counts):
        if f != [escape(key), str(n), str(k)]:
            fail(ln, f"counts of stratum '{key}': bundle lists {'/'.join(f)}, re-derivation gives "
                 f"population {n} selected {k}")
    if len(rows) != len(counts):
        fail(sec["counts"][0], f"bundle lists {len(rows)} strata counts, re-derivation gives {len(counts)}")
    rows = table(sec, "visits", 7)
    names = ["entity", "stratum", "ticket", "items", "officers", "unstaffed reason"]
    for i, ((ln, f), want) in enumerate(zip(rows, visits)):
        if f[0] != str(i + 1):
            fail(ln, f"visits must be numbered 1, 2, ...; expected {i + 1}")
        for k in range(6):
            if f[k + 1] != want[k]:
                if k == 4:
                    fail(ln, f"visit {i + 1} (uscc {f[1]}): bundle lists officers [{f[5]}], "
                         f"re-derivation gives [{want[4]}]" + (f" (unstaffed: {unescape(want[5], ln)})" if want[5] else ""))
                fail(ln, f"visit {i + 1} (uscc {f[1]}): bundle lists {names[k]} '{f[k + 1]}', "
                     f"re-derivation gives '{want[k]}'")
    if len(rows) != len(visits):
        fail(sec["visits"][0], f"bundle lists {len(rows)} visits, re-derivation gives {len(visits)}")
    if v2:
        return f"identical ({SPEC_V2}, " + (f"signed by {signer.hex()})" if signer else "not signed)")
    return "identical"


def canonical_json(doc):
    """§11.2: members sorted, no white space, UTF-8, integers only."""
    def check(v):
        if isinstance(v, float):
            raise Difference("document: a number is not an integer; signed documents hold integers only")
        if isinstance(v, dict):
            for x in v.values():
                check(x)
        elif isinstance(v, list):
            for x in v:
                check(x)
    check(doc)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def verify_document(data, public_key=None):
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Difference(f"document: is not JSON: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        raise Difference("document: has no string member 'type'")
    sig = doc.pop("signature", None)
    if not isinstance(sig, dict):
        raise Difference(f"the {doc['type']} document carries no signature")
    if sig.get("algorithm") != "ed25519":
        raise Difference("signature: algorithm must be ed25519")
    try:
        key = bytes.fromhex(sig.get("public_key", ""))
        value = bytes.fromhex(sig.get("value", ""))
    except ValueError:
        raise Difference("signature: public_key and value must be hex")
    if public_key is not None and key != public_key:
        raise Difference(f"signature: signed by key {key.hex()}, but the key given to check against is "
                         f"{public_key.hex()}")
    if not ed25519_verify(key, signed_message(doc["type"], canonical_json(doc)), value):
        raise Difference(f"signature: the {doc['type']} document was changed after signing, or signed by "
                         "another key")
    return f"valid {doc['type']}, signed by {key.hex()}"


def main(argv):
    args = argv[1:]
    opts = {}
    while args and args[0] in ("--public-key", "--beacon-value", "--document"):
        if len(args) < 2:
            break
        opts[args[0]] = args[1]
        args = args[2:]
    if ("--document" in opts) == (len(args) == 1) or len(args) > 1:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        key = read_key(opts["--public-key"]) if "--public-key" in opts else None
        path = opts.get("--document") or args[0]
        with open(path, "rb") as fh:
            data = fh.read()
        if "--document" in opts:
            print(verify_document(data, key))
        else:
            print(verify(data, key, opts.get("--beacon-value")))
    except Difference as d:
        print(d)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
