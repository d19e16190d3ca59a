"""The numbered message table of ``docs/catalogue.md``, generated from the catalogue itself.

``python -m deconflict.catalogue.reference docs/catalogue.md`` rewrites the table between the
``<!-- catalogue:begin -->`` and ``<!-- catalogue:end -->`` markers of that file; a test fails when
the file and the data disagree.

>>> print(markdown().splitlines()[2])
| 101 | notice | routine | roger | activity: ref (activity) | Activity {activity} has been notified. |
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import Catalogue, Entry, load

__all__ = ["BEGIN", "END", "markdown", "update"]

BEGIN = "<!-- catalogue:begin -->"
END = "<!-- catalogue:end -->"


def _slots(entry: Entry) -> str:
    parts = [f"{s.name}: {s.type.value}" + (f" ({', '.join(s.ref_kinds)})" if s.ref_kinds else "") for s in entry.slots]
    return "; ".join(parts) or "—"


def _asks(entry: Entry) -> str:
    if entry.is_response:
        answers = "answers " + ", ".join(a.value for a in entry.answers)
        return answers if entry.closes else f"{answers} (does not close)"
    return entry.response.value


def markdown(catalogue: Catalogue | None = None, language: str = "en") -> str:
    """The message table in Markdown, texts in ``language``."""
    cat = catalogue or load()
    texts = cat.language(language).texts
    rows = [
        "| Code | Group | Precedence | Asks for / answers | Slots | Text (en) |",
        "|---:|---|---|---|---|---|",
    ]
    for code, entry in cat.entries.items():
        text = texts[code].replace("|", "\\|")
        rows.append(
            f"| {code} | {entry.group.value} | {entry.precedence.value} | {_asks(entry)} | {_slots(entry)} | {text} |"
        )
    return "\n".join(rows) + "\n"


def update(document: str, catalogue: Catalogue | None = None) -> str:
    """``document`` with the text between the markers replaced by the current table."""
    head, sep, rest = document.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"the document has no {BEGIN} … {END} markers")
    return f"{head}{BEGIN}\n{markdown(catalogue)}{END}{tail}"


if __name__ == "__main__":  # pragma: no cover
    path = Path(sys.argv[1])
    path.write_text(update(path.read_text(encoding="utf-8")), encoding="utf-8")
