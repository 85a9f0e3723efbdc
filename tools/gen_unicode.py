#!/usr/bin/python3
"""gen_unicode.py - writes src/unicode_data.c and src/unicode_nfc.c, the Unicode tables the tokenizers use.

The byte-level BPE pre-tokenizers are regular expressions over Unicode general
categories (\\p{L}, \\p{N}, \\p{P}, ...) and White_Space (\\s). Rather than link a
regex library we ship one sorted table of code point ranges, each with its
general category and a White_Space bit, generated from the Unicode Character
Database as Debian packages it (`apt-get install unicode-data`). Code points
that UnicodeData.txt does not list are unassigned (Cn). The generated files are
committed so that building needs no Python and no UCD.

Some tokenizers (Qwen's tokenizer.json) normalize their input to NFC first, so
unicode_nfc.c holds what Normalization Form C needs: the canonical combining
class and NFC_Quick_Check value of every code point (ranges again), each
character's full canonical decomposition, and the primary composites. Hangul
syllables are composed and decomposed arithmetically and are not listed. The
composition exclusions are derived here (singletons, non-starter
decompositions, CompositionExclusions.txt) and, when DerivedNormalizationProps.txt
is present, checked against its Full_Composition_Exclusion and NFC_QC, so a
mistake in the derivation stops the generator instead of reaching the tables.

usage: tools/gen_unicode.py [UCD_DIR (default /usr/share/unicode)] [OUT_DIR (default src)]
"""
import os
import re
import sys

# Order matters: the index is the value stored in the table (enum uni_gc in src/unicode.h).
CATEGORIES = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
              "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
              "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"]
WHITE_SPACE_BIT = 0x80
MAX_CP = 0x110000


def read_categories(path):
    """Category index per code point; First/Last pairs (CJK, Hangul, ...) cover ranges."""
    cat = bytearray(MAX_CP)  # 0 = Cn
    range_start = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) < 3:
                continue
            cp, name, gc = int(fields[0], 16), fields[1], fields[2]
            value = CATEGORIES.index(gc)
            if name.endswith(", First>"):
                range_start = cp
                continue
            if name.endswith(", Last>"):
                for c in range(range_start, cp + 1):
                    cat[c] = value
                range_start = None
                continue
            cat[cp] = value
    return cat


def read_white_space(path):
    spaces = set()
    pat = re.compile(r"^([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;\s*White_Space\b")
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = pat.match(line)
            if m:
                lo = int(m.group(1), 16)
                hi = int(m.group(2), 16) if m.group(2) else lo
                spaces.update(range(lo, hi + 1))
    return spaces


def unicode_version(ucd):
    with open(os.path.join(ucd, "PropList.txt"), encoding="utf-8") as f:
        m = re.search(r"PropList-([0-9.]+)\.txt", f.readline())
    return m.group(1) if m else "unknown"


# ---------------------------------------------------------------- normalization (NFC)

# Hangul syllables (UAX #15, section 3.12): composed and decomposed by arithmetic, not listed.
S_BASE, L_BASE, V_BASE, T_BASE = 0xAC00, 0x1100, 0x1161, 0x11A7
L_COUNT, V_COUNT, T_COUNT = 19, 21, 28
S_COUNT = L_COUNT * V_COUNT * T_COUNT

QC_YES, QC_MAYBE, QC_NO = 0, 1, 2


def read_canonical(path):
    """Canonical combining classes (nonzero ones) and canonical decomposition mappings."""
    ccc, decomp = {}, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) < 6:
                continue
            cp = int(fields[0], 16)
            if int(fields[3]):
                ccc[cp] = int(fields[3])
            # "<tag> ..." mappings are compatibility ones, which NFC leaves alone.
            if fields[5] and not fields[5].startswith("<"):
                decomp[cp] = [int(x, 16) for x in fields[5].split()]
    return ccc, decomp


def read_code_points(path, prop=None):
    """The code points a UCD property file lists (with value prop in its second field, if given)."""
    out = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = [x.strip() for x in line.split(";")]
            if prop is not None and (len(fields) < 2 or fields[1] != prop):
                continue
            lo, _, hi = fields[0].partition("..")
            out.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return out


def read_nfc_qc(path):
    """NFC_QC values from DerivedNormalizationProps.txt (lines "RANGE ; NFC_QC; N|M")."""
    qc = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = [x.strip() for x in line.split("#", 1)[0].split(";")]
            if len(fields) == 3 and fields[1] == "NFC_QC":
                lo, _, hi = fields[0].partition("..")
                for cp in range(int(lo, 16), int(hi or lo, 16) + 1):
                    qc[cp] = QC_NO if fields[2] == "N" else QC_MAYBE
    return qc


def full_decomposition(cp, decomp):
    if cp not in decomp:
        return [cp]
    return [d for part in decomp[cp] for d in full_decomposition(part, decomp)]


def nfc_data(ucd):
    ccc, decomp = read_canonical(os.path.join(ucd, "UnicodeData.txt"))
    listed = read_code_points(os.path.join(ucd, "CompositionExclusions.txt"))
    # Full_Composition_Exclusion = the listed script-specific and post-composition-version
    # exclusions, singletons (one code point maps to one other), and non-starter
    # decompositions (the character, or the first character of its mapping, combines).
    excluded = set(listed)
    for cp, m in decomp.items():
        if len(m) == 1 or ccc.get(cp, 0) or ccc.get(m[0], 0):
            excluded.add(cp)
    pairs = {}
    for cp, m in decomp.items():
        if cp not in excluded:
            assert len(m) == 2, "U+%04X: a primary composite maps to %d characters" % (cp, len(m))
            pairs[(m[0], m[1])] = cp
    # Quick check: excluded characters never occur in NFC; the second half of a pair may
    # compose with what precedes it, so seeing one means the text has to be normalized.
    qc = {cp: QC_NO for cp in excluded}
    for _, second in pairs:
        qc[second] = QC_MAYBE
    for cp in list(range(V_BASE, V_BASE + V_COUNT)) + list(range(T_BASE + 1, T_BASE + T_COUNT)):
        qc[cp] = QC_MAYBE

    derived = os.path.join(ucd, "DerivedNormalizationProps.txt")
    if os.path.exists(derived):
        want = read_code_points(derived, "Full_Composition_Exclusion")
        if want != excluded:
            sys.exit("composition exclusions differ from Full_Composition_Exclusion: %s" %
                     " ".join("U+%04X" % c for c in sorted(want ^ excluded)[:20]))
        if read_nfc_qc(derived) != qc:
            sys.exit("derived NFC_QC values differ from DerivedNormalizationProps.txt")

    full = {cp: full_decomposition(cp, decomp) for cp in decomp}
    return ccc, qc, full, pairs


def c_array(lines, decl, values, per_row, fmt):
    lines.append(decl + " = {")
    for i in range(0, len(values), per_row):
        lines.append("    " + " ".join(fmt % v + "," for v in values[i:i + per_row]))
    lines.append("};")


def write_nfc(ucd, out):
    ccc, qc, full, pairs = nfc_data(ucd)
    ranges = []
    prev = None
    for cp in range(MAX_CP):
        v = (qc.get(cp, QC_YES) << 8) | ccc.get(cp, 0)
        if v != prev:
            ranges.append((cp << 11) | v)
            prev = v
    pool, entries = [], []
    for cp in sorted(full):
        entries.append((cp, len(pool), len(full[cp])))
        pool.extend(full[cp])
    assert len(pool) < 1 << 16 and max(n for _, _, n in entries) <= 4

    lines = []
    lines.append("/*")
    lines.append(" * unicode_nfc.c - GENERATED by tools/gen_unicode.py from the Unicode %s" % unicode_version(ucd))
    lines.append(" * Character Database (UnicodeData.txt, CompositionExclusions.txt, checked against")
    lines.append(" * DerivedNormalizationProps.txt). Do not edit by hand.")
    lines.append(" *")
    lines.append(" * The tables behind uni_nfc() (unicode.c): per range of code points, packed as")
    lines.append(" * (first code point << 11) | (NFC_QC << 8) | canonical combining class; the full")
    lines.append(" * canonical decomposition of every character that has one (Hangul syllables")
    lines.append(" * excepted), as a slice of a pool; and the primary composites by their two halves.")
    lines.append(" */")
    lines.append('#include "unicode.h"')
    lines.append("")
    c_array(lines, "const uint32_t uni_nfc_ranges[]", ranges, 8, "0x%08x")
    lines.append("const size_t uni_n_nfc_ranges = sizeof uni_nfc_ranges / sizeof uni_nfc_ranges[0];")
    lines.append("")
    c_array(lines, "const uint32_t uni_decomp_pool[]", pool, 8, "0x%05x")
    lines.append("")
    c_array(lines, "const uni_decomp uni_decomps[]", entries, 4, "{0x%05x, %d, %d}")
    lines.append("const size_t uni_n_decomps = sizeof uni_decomps / sizeof uni_decomps[0];")
    lines.append("")
    comps = [(a, b, c) for (a, b), c in sorted(pairs.items())]
    c_array(lines, "const uni_comp uni_comps[]", comps, 3, "{0x%05x, 0x%05x, 0x%05x}")
    lines.append("const size_t uni_n_comps = sizeof uni_comps / sizeof uni_comps[0];")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("%s: %d ranges, %d decompositions, %d compositions" % (out, len(ranges), len(entries), len(comps)))


def write_categories(ucd, out):
    cat = read_categories(os.path.join(ucd, "UnicodeData.txt"))
    for cp in read_white_space(os.path.join(ucd, "PropList.txt")):
        cat[cp] |= WHITE_SPACE_BIT

    ranges = []
    for cp in range(MAX_CP):
        if cp == 0 or cat[cp] != cat[cp - 1]:
            ranges.append((cp, cat[cp]))

    lines = []
    lines.append("/*")
    lines.append(" * unicode_data.c - GENERATED by tools/gen_unicode.py from the Unicode %s" % unicode_version(ucd))
    lines.append(" * Character Database (UnicodeData.txt, PropList.txt). Do not edit by hand.")
    lines.append(" *")
    lines.append(" * Each entry packs (first code point << 8) | properties, where properties are")
    lines.append(" * the general category (enum uni_gc) and UNI_WHITE_SPACE; an entry holds up to")
    lines.append(" * the next entry's first code point. The ASCII table is the same data, direct.")
    lines.append(" */")
    lines.append('#include "unicode.h"')
    lines.append("")
    lines.append("const uint32_t uni_ranges[] = {")
    row = []
    for cp, v in ranges:
        row.append("0x%08x," % ((cp << 8) | v))
        if len(row) == 8:
            lines.append("    " + " ".join(row))
            row = []
    if row:
        lines.append("    " + " ".join(row))
    lines.append("};")
    lines.append("const size_t uni_n_ranges = sizeof uni_ranges / sizeof uni_ranges[0];")
    lines.append("")
    lines.append("const uint8_t uni_ascii[128] = {")
    for base in range(0, 128, 16):
        lines.append("    " + " ".join("0x%02x," % cat[c] for c in range(base, base + 16)))
    lines.append("};")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("%s: %d ranges" % (out, len(ranges)))


def main():
    ucd = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "src")
    write_categories(ucd, os.path.join(out_dir, "unicode_data.c"))
    write_nfc(ucd, os.path.join(out_dir, "unicode_nfc.c"))


if __name__ == "__main__":
    main()
