#!/usr/bin/env python3
"""The generator of the frontend's Unicode tables, and their check.

  frontends/dockerfile/src/shell/unicode_class.rs   Go's unicode.IsLetter / IsDigit (Unicode 14.0,
                                                    from Python's unicodedata when it is 14.0.0)
  frontends/dockerfile/src/parser/printable.rs      Go's strconv.IsPrint (Unicode 15.0, the
                                                    version Go's tables use: needs that
                                                    UnicodeData.txt, given on the command line)

Usage:
  scripts/unicode-tables.py check                    compare both files with what the data says
  scripts/unicode-tables.py classes                  print the LETTER/DIGIT arrays (paste, rustfmt)
  scripts/unicode-tables.py printable UnicodeData.txt  print the PRINTABLE table

`check` is part of the test command. With Python's Unicode 14.0 it checks the classes exactly,
and the printable table as "every 14.0 printable code point, plus only code points 14.0 leaves
unassigned" (what 15.0 added); with another Unicode version it says what it could not check.
"""
import re
import sys
import unicodedata

ROOT = __file__.rsplit("/scripts/", 1)[0]
CLASSES = f"{ROOT}/frontends/dockerfile/src/shell/unicode_class.rs"
PRINTABLE = f"{ROOT}/frontends/dockerfile/src/parser/printable.rs"


def ranges(pred):
    out, start = [], None
    for cp in range(0x110000):
        if pred(cp):
            if start is None:
                start = cp
        elif start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, 0x10FFFF))
    return out


def category(cp):
    return unicodedata.category(chr(cp))


def letters():
    return ranges(lambda cp: cp >= 0x80 and category(cp).startswith("L"))


def digits():
    return ranges(lambda cp: cp >= 0x80 and category(cp) == "Nd")


def printable_from(ucd_path):
    """Categories L, M, N, P, S and U+0020, from a UnicodeData.txt (ranges given as
    `<..., First>` / `<..., Last>` pairs)."""
    cats = {}
    first = None
    for line in open(ucd_path, encoding="utf-8"):
        f = line.split(";")
        cp, name, cat = int(f[0], 16), f[1], f[2]
        if name.endswith(", First>"):
            first = cp
            continue
        if name.endswith(", Last>") and first is not None:
            for c in range(first, cp + 1):
                cats[c] = cat
            first = None
            continue
        cats[cp] = cat
    return ranges(lambda cp: cp == 0x20 or cats.get(cp, "Cn")[0] in "LMNPS")


def flat_array(name, pairs):
    nums = [f"0x{n:X}" for p in pairs for n in p]
    return f"const {name}: [u32; {len(nums)}] = [\n    " + ", ".join(nums) + ",\n];"


def parse_flat(src, name):
    body = src[src.index(f"const {name}"):]
    body = body[body.index("= [") : body.index("];")]
    nums = [int(x, 16) for x in re.findall(r"0x([0-9A-F]+)", body)]
    return list(zip(nums[0::2], nums[1::2]))


def parse_printable(src):
    body = src[src.index("PRINTABLE: &[(u32, u32)] = &[") :]
    body = body[: body.index("];")]
    return [(int(a, 16), int(b, 16)) for a, b in re.findall(r"\(0x([0-9A-F]+), 0x([0-9A-F]+)\)", body)]


def expand(pairs):
    s = set()
    for a, b in pairs:
        s.update(range(a, b + 1))
    return s


def check():
    version = unicodedata.unidata_version
    if version != "14.0.0":
        print(f"unicode-tables: Python's Unicode is {version}, not 14.0.0: tables NOT checked")
        return 0
    failed = 0
    src = open(CLASSES, encoding="utf-8").read()
    for name, want in [("LETTER_RANGES", letters()), ("DIGIT_RANGES", digits())]:
        have = parse_flat(src, name)
        if have != want:
            print(f"unicode-tables: {CLASSES}: {name} differs from Unicode {version}")
            failed = 1
    have = expand(parse_printable(open(PRINTABLE, encoding="utf-8").read()))
    want14 = expand(ranges(lambda cp: cp == 0x20 or category(cp)[0] in "LMNPS"))
    missing = want14 - have
    extra_assigned = [cp for cp in have - want14 if category(cp) != "Cn"]
    if missing or extra_assigned:
        print(
            f"unicode-tables: {PRINTABLE}: {len(missing)} printable 14.0 code points missing, "
            f"{len(extra_assigned)} non-printable 14.0 code points present"
        )
        failed = 1
    if not failed:
        print(f"unicode-tables: classes equal Unicode {version}; printable = {version} + {len(have - want14)} later additions")
    return failed


def main(argv):
    if argv[1:] == ["check"]:
        return check()
    if argv[1:] == ["classes"]:
        print(flat_array("LETTER_RANGES", letters()))
        print(flat_array("DIGIT_RANGES", digits()))
        return 0
    if len(argv) == 3 and argv[1] == "printable":
        print("pub(super) const PRINTABLE: &[(u32, u32)] = &[")
        for a, b in printable_from(argv[2]):
            print(f"    (0x{a:X}, 0x{b:X}),")
        print("];")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
