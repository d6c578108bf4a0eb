"""Sizes as util-linux reads and prints them (lib/strutils.c)."""

from __future__ import annotations

import re

__all__ = ("parse_size", "size_to_human_string", "SizeError")

_SUFFIXES = "KMGTPEZY"


class SizeError(ValueError):
    """The string is not a size util-linux would accept."""


# a pattern, not a compiled regex: re compiles it on the first parse (and caches it), so the
# commands that only print sizes do not compile it at import
_SIZE_PATTERN = (
    r"^\s*(?P<int>0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)"
    r"(?:\.(?P<frac>[0-9]+))?"
    r"(?P<suffix>[KMGTPEZYkmgtpezy](?:iB|ib|B|b)?)?$"
)


def parse_size(text: str) -> int:
    """Mirror ``parse_size()``: ``10K`` and ``10KiB`` are 10240, ``10KB`` is 10000.

    Accepts the decimal fraction util-linux accepts (``0.5MiB``) only together with a suffix,
    and refuses a sign, as util-linux does.
    """
    m = re.match(_SIZE_PATTERN, text)
    if not m:
        raise SizeError(text)
    raw = m.group("int")
    value = int(raw, 0) if not (raw.startswith("0") and raw[1:2].isdigit()) else int(raw, 8)
    frac_digits = m.group("frac")
    suffix = m.group("suffix")
    if not suffix:
        if frac_digits:
            raise SizeError(text)
        return value
    base = 1000 if suffix[1:].lower() == "b" else 1024
    power = _SUFFIXES.index(suffix[0].upper()) + 1
    unit = base**power
    result = value * unit
    if frac_digits:
        # util-linux adds each fractional digit's share of the unit, truncating per digit
        # (0.25G is 1GiB/(10/2) + 1GiB/(100/5)); the sum below is the same for the digits it keeps.
        for position, digit in enumerate(frac_digits, start=1):
            d = int(digit)
            if d:
                result += unit // (10**position // d)
    return result


def _get_exp(n: int) -> int:
    shift = 10
    while shift <= 60:
        if n < (1 << shift):
            break
        shift += 10
    return shift - 10


def size_to_human_string(nbytes: int, *, space: bool = False, three_letter: bool = False) -> str:
    """Mirror ``size_to_human_string()`` (one decimal, round half up, trailing 0 dropped).

    mkswap uses ``space=True, three_letter=True`` ("36 KiB"); swapon --show uses the
    defaults ("36K").
    """
    exp = _get_exp(nbytes)
    letter = "BKMGTPE"[exp // 10 if exp else 0]
    suffix = (" " if space else "") + letter
    if three_letter and letter != "B":
        suffix += "iB"
    dec = nbytes >> exp if exp else nbytes
    frac = nbytes % (1 << exp) if exp else 0
    if frac:
        if frac >= (2**64 - 1) // 1000:
            frac = ((frac // 1024) * 1000) // (1 << (exp - 10))
        else:
            frac = (frac * 1000) // (1 << exp)
        frac = ((frac + 50) // 100) * 10
        if frac == 100:
            dec += 1
            frac = 0
    if frac:
        text = f"{dec}.{frac:02d}"
        if text.endswith("0"):
            text = text[:-1]
        return text + suffix
    return f"{dec}{suffix}"
