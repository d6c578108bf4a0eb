"""A man(7) lint for the pages in man/, in mandoc's words, that needs nothing but Python.

``mandoc -T lint -W warning`` is what the pages are written against, but mandoc is not on every
machine CI runs on and no pip package ships it; groff (always there) renders the pages with
``-ww`` but does not see most of what mandoc warns about. So the checks mandoc makes at warning
level and above that these pages can run into are made here, each with mandoc's message, and a
few it reports only as STYLE (trailing blanks, a stray ``.fi``, an unterminated quote) or not
at all (a blank line, which groff renders as a break) are errors here: every page is checked in
every test run, and where mandoc is installed the tests also check that mandoc agrees
(tests/docs/test_man_pages.py).
"""

from __future__ import annotations

import re

__all__ = ("lint",)

# man(7) macros mandoc knows, and the roff requests these pages may use
MAN_MACROS = {
    "TH", "SH", "SS", "TP", "TQ", "LP", "PP", "P", "IP", "HP", "SM", "SB", "BI", "IB", "BR",
    "RB", "R", "B", "I", "IR", "RI", "RE", "RS", "DT", "UC", "PD", "AT", "OP", "EX", "EE", "UR",
    "UE", "MT", "ME", "SY", "YS", "MR",
}
ROFF_REQUESTS = {"br", "sp", "nf", "fi", "nh", "hy", "ad", "na", "ne", "in", "ti", "ft", "ce",
                 "ig", "ds", "de", "if", "ie", "el", "so", "ll", "ta", "tr", "mc", "rm", "rr"}
PARAGRAPHS = {"PP", "LP", "P"}
# escapes these pages may use: \- \e \& \" \(xx \fX \f[..] \c \0 \| \^ \~ \% \  \*
_ESCAPE = re.compile(r"\\(?:[-e&\"|^~%0c ./:]|\([^\s]{2}|f[BIRP1-4]|f\[[A-Z]*\]|\*(?:\(..|\[[^\]]*\]|.)|$)")


def _args(line: str) -> list[str] | None:
    """A macro line's arguments, quotes honoured; None for an unterminated quote."""
    out, cur, i, quoted = [], "", 0, False
    text = line
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"':
                if i + 1 < len(text) and text[i + 1] == '"':
                    cur += '"'
                    i += 2
                    continue
                quoted = False
                out.append(cur)
                cur = ""
            else:
                cur += ch
        elif ch == '"' and not cur:
            quoted = True
        elif ch in " \t":
            if cur:
                out.append(cur)
                cur = ""
        else:
            cur += ch
        i += 1
    if quoted:
        return None
    if cur:
        out.append(cur)
    return out


def lint(text: str, name: str = "page") -> list[str]:
    """mandoc-style messages (``name:line:col: LEVEL: message``) for ``text``; [] if clean."""
    msgs: list[str] = []

    def say(lineno: int, col: int, level: str, message: str) -> None:
        msgs.append(f"{name}:{lineno}:{col}: {level}: {message}")

    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    else:
        say(len(lines), 1, "WARNING", "missing newline at end of file")  # mandoc: ERROR level
    nofill = False
    rs_depth = 0
    last_macro: str | None = None  # the previous line's macro, None after text
    seen_th = False
    tp_pending = 0  # line of a .TP whose tag line has not come yet
    for n, line in enumerate(lines, 1):
        if line.rstrip(" \t") != line and not line.startswith('.\\"'):
            say(n, len(line.rstrip(" \t")) + 1, "WARNING", "whitespace at end of input line")
        if line.startswith(('.\\"', "'\\\"")) or line == ".":
            continue
        for m in re.finditer(r"\\", line):
            if m.start() > 0 and line[m.start() - 1] == "\\":
                continue
            if not _ESCAPE.match(line, m.start()):
                say(n, m.start() + 1, "WARNING", f"undefined escape, printing literally: {line[m.start():m.start() + 2]}")
        if line.startswith((".", "'")):
            body = line[1:].lstrip(" \t")
            macro = re.split(r"[ \t]", body, maxsplit=1)[0]
            rest = body[len(macro):]
            args = _args(rest)
            if args is None:
                say(n, len(line), "WARNING", "unterminated quoted argument")
                args = []
            if macro not in MAN_MACROS and macro not in ROFF_REQUESTS:
                say(n, 1, "ERROR", f"skipping unknown macro: .{macro}")
                continue
            if macro == "TH":
                seen_th = True
                if len(args) < 1:
                    say(n, 1, "WARNING", "missing manual title, using UNTITLED: TH")
                elif len(args) < 2:
                    say(n, 1, "WARNING", "missing manual section, using \"\": TH " + args[0])
                if len(args) < 3:
                    say(n, 1, "WARNING", "missing date, using today's date: TH")
                elif not re.fullmatch(r"\d{4}-\d{2}-\d{2}|[A-Z][a-z]+ \d{1,2}, \d{4}", args[2]):
                    say(n, 1, "WARNING", f"cannot parse date, using it verbatim: {args[2]}")
            elif not seen_th:
                say(n, 1, "WARNING", f"content before first section header: {macro}")
            if macro in ("SH", "SS"):
                if not args:
                    say(n, 1, "WARNING", f"empty block: {macro}")  # mandoc: "empty head"
                if rs_depth:
                    say(n, 1, "WARNING", "appending missing end of block: RS")
                    rs_depth = 0
            if macro in PARAGRAPHS and last_macro in ("SH", "SS", "PP", "LP", "P"):
                say(n, 1, "WARNING", f"skipping paragraph macro: {macro} after {last_macro}")
            if macro in PARAGRAPHS and n < len(lines) and lines[n].startswith((".SH", ".SS")):
                say(n, 1, "WARNING", f"skipping paragraph macro: {macro} empty")
            if macro == "RS":
                rs_depth += 1
            elif macro == "RE":
                if rs_depth == 0:
                    say(n, 1, "WARNING", "skipping end of block that is not open: RE")
                else:
                    rs_depth -= 1
            elif macro == "nf":
                if nofill:
                    say(n, 1, "WARNING", "no-fill mode already enabled, skipping: nf")
                nofill = True
            elif macro == "fi":
                if not nofill:
                    say(n, 1, "WARNING", "fill mode already enabled, skipping: fi")
                nofill = False
            if macro in ("TP", "TQ"):
                tp_pending = n
            elif tp_pending and macro in MAN_MACROS and macro not in (
                    "B", "I", "BR", "RB", "BI", "IB", "IR", "RI", "SM", "SB", "R"):
                say(tp_pending, 1, "WARNING", "empty head in list item: TP")
                tp_pending = 0
            elif tp_pending and macro in MAN_MACROS:
                tp_pending = 0
            last_macro = macro
        else:
            if line == "" and not nofill:
                say(n, 1, "WARNING", "blank line in fill mode, using .sp")
            tp_pending = 0
            last_macro = None
    if nofill:
        say(len(lines), 1, "WARNING", "appending missing end of no-fill mode: nf")
    if rs_depth:
        say(len(lines), 1, "WARNING", "appending missing end of block: RS")
    return msgs
