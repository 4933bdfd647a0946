#!/usr/bin/env python3
"""Independent verifier for credo-draw-v1 bundles (docs/draw-spec.md).

Usage: python3 verify_draw.py BUNDLE_FILE

Prints "identical" and exits 0 when the bundle is intact and re-deriving the
draw from its recorded inputs gives exactly its recorded result. Otherwise
prints the first difference found and exits 1.

Pure Python 3.11, standard library only. Written from the specification;
ChaCha20 is implemented here (RFC 8439 block function).
"""

import hashlib
import sys

SPEC = "credo-draw-v1"
MAGIC = "#credo-draw-bundle v1"
SECTIONS = ["manifest", "plan", "strata", "frame", "officers", "seed", "counts", "visits"]
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


def derive_seed(frame_hash, secret, beacon):
    return sha256(b"credo-draw-v1\x00" + frame_hash
                  + len(secret).to_bytes(4, "big") + secret
                  + len(beacon).to_bytes(4, "big") + beacon)


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
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(None, f"the bundle is not valid UTF-8 (byte {e.start})")
    if not text.endswith("\n"):
        fail(None, "the last line must end with a newline")
    lines = text[:-1].split("\n")
    if lines[0] != MAGIC:
        fail(1, f"the first line must be '{MAGIC}'")
    sections = {}  # name -> (header line number, [lines], start byte, end byte)
    order = []
    offset = len(lines[0].encode("utf-8")) + 1
    for no, line in enumerate(lines[1:], start=2):
        n = len(order)
        if n < len(SECTIONS) and line == "[" + SECTIONS[n] + "]":
            if order:
                prev = sections[order[-1]]
                prev[3] = offset
            sections[SECTIONS[n]] = [no, [], offset, len(data)]
            order.append(SECTIONS[n])
        elif not order:
            fail(no, "expected section [manifest]")
        else:
            sections[order[-1]][1].append((no, line))
        offset += len(line.encode("utf-8")) + 1
    if len(order) != len(SECTIONS):
        fail(len(lines), f"section [{SECTIONS[len(order)]}] is missing or out of order")
    return sections


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


def verify(data):
    sec = split_sections(data)
    section_bytes = {n: data[sec[n][2]:sec[n][3]] for n in SECTIONS}

    # 1. Manifest and integrity.
    mf = key_values(sec, "manifest", ["spec"] + SECTIONS[1:] + ["result"])
    if mf[0][1] != SPEC:
        fail(mf[0][0], f"unsupported spec '{mf[0][1]}'")
    for (ln, value), name in zip(mf[1:8], SECTIONS[1:]):
        listed = hexbytes(value, ln, "section hash", 32)
        if sha256(section_bytes[name]) != listed:
            fail(sec[name][0], f"section [{name}]: hash mismatch: its SHA-256 is "
                 f"{sha256(section_bytes[name]).hex()}, the manifest lists {value}")
    result_hash = sha256(section_bytes["counts"] + section_bytes["visits"])
    if result_hash != hexbytes(mf[8][1], mf[8][0], "result hash", 32):
        fail(mf[8][0], "result hash does not match [counts] and [visits]")

    # 2. Plan.
    kv = key_values(sec, "plan", ["plan_id", "departments", "officers_per_visit",
                                  "max_visits_per_officer", "commitment", "beacon_source"])
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
    unescape(kv[5][1], kv[5][0])
    if escape(plan_id) != kv[0][1]:
        fail(kv[0][0], "plan_id is not canonically escaped")

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
    kv = key_values(sec, "seed", ["secret", "beacon", "frame_hash", "seed"])
    secret = hexbytes(kv[0][1], kv[0][0], "secret")
    beacon = hexbytes(kv[1][1], kv[1][0], "beacon")
    if len(secret) < 16:
        fail(kv[0][0], "the secret must be at least 16 bytes")
    if sha256(secret) != commitment:
        fail(kv[0][0], "commitment does not match secret")
    frame_hash = sha256(section_bytes["plan"] + section_bytes["strata"]
                        + section_bytes["frame"] + section_bytes["officers"])
    if frame_hash != hexbytes(kv[2][1], kv[2][0], "frame_hash", 32):
        fail(kv[2][0], f"frame hash mismatch: the frame sections hash to {frame_hash.hex()}")
    seed = derive_seed(frame_hash, secret, beacon)
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
    return len(visits)


def main(argv):
    if len(argv) != 2:
        print("usage: verify_draw.py BUNDLE_FILE", file=sys.stderr)
        return 2
    with open(argv[1], "rb") as fh:
        data = fh.read()
    try:
        verify(data)
    except Difference as d:
        print(d)
        return 1
    print("identical")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
