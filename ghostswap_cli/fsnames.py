"""File names that are not UTF-8, from the byte strings Linux allows to a line of text.

Python holds such a name as a string with surrogates (``os.fsdecode``); those can be neither
stored in SQLite's TEXT nor printed on a UTF-8 terminal. Three forms, each reversible:

* :func:`octal_escape`: each byte that is not UTF-8 as ``\\ooo``, as the kernel's seq_file
  escapes and libmount's ``unmangle()`` reads back (what ghostswap prints);
* :func:`hex_escape`: as ``\\xNN``, as util-linux dmesg shows bytes it cannot print (the log);
* :func:`to_db_text` / :func:`from_db_text`: a name as stored in the state database.
"""

from __future__ import annotations

import os

__all__ = ("octal_escape", "hex_escape", "to_db_text", "from_db_text", "OUTPUT_ERRORS")

#: The codec error handler for stdout and stderr (registered by :func:`register_output_errors`):
#: a byte that is not UTF-8 as ``\ooo``, anything else unencodable as ``\uXXXX``.
OUTPUT_ERRORS = "ghostswap-octal"


def _octal_handler(exc: UnicodeError):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    bad = exc.object[exc.start:exc.end]
    return "".join(f"\\{ord(ch) - 0xDC00:03o}" if "\udc80" <= ch <= "\udcff"
                   else ch.encode("unicode_escape").decode("ascii") for ch in bad), exc.end


def register_output_errors() -> str:
    import codecs

    codecs.register_error(OUTPUT_ERRORS, _octal_handler)
    return OUTPUT_ERRORS

_DB_PREFIX = "bytes:"


def _escape(text: str, fmt: str) -> str:
    if text.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return "".join(fmt % (ord(ch) - 0xDC00) if "\udc80" <= ch <= "\udcff" else ch for ch in text)


def octal_escape(text: str) -> str:
    """Bytes that are not UTF-8 (surrogates) as ``\\ooo``."""
    return _escape(text, "\\%03o")


def hex_escape(text: str) -> str:
    """Bytes that are not UTF-8 (surrogates) as ``\\xNN``."""
    return _escape(text, "\\x%02x")


def to_db_text(name: str) -> str:
    """``name`` as it can be stored in a TEXT column and read back exactly."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return _DB_PREFIX + os.fsencode(name).hex()
    return _DB_PREFIX + name.encode().hex() if name.startswith(_DB_PREFIX) else name


def from_db_text(text: str) -> str:
    if text.startswith(_DB_PREFIX):
        try:
            return os.fsdecode(bytes.fromhex(text[len(_DB_PREFIX):]))
        except ValueError:
            return text
    return text
