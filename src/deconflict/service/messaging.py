"""The hotline's machinery: catalogue drafts, message and thread documents, posting.

:class:`MessagingBase` checks a message against the catalogue, stores it in a thread,
opens one receipt per recipient party, emits ``message.sent`` (with the text in every
catalogue language) and, for a response, stamps the question's receipt.  The use cases
over it are in :mod:`.hotline`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..catalogue import Catalogue, Entry, Group, ResponseKind, SlotType, load
from ..errors import ValidationError
from ..policy import ESCALATION_LADDER, Precedence
from ..store.schema import messages, receipts, thread_parties, threads
from ..wire import rfc3339, rfc3339_or_none
from .core import LINK_TYPES, Body, Principal, new_id
from .errors import Forbidden, NotFound, StateConflict
from .receipts import ReceiptsMixin

__all__ = [
    "MAX_PARTIES",
    "MAX_SUBJECT",
    "MAX_TEXT",
    "SYSTEM",
    "THREAD_LINKS",
    "Draft",
    "MessagingBase",
    "check_text",
    "link_of",
    "message_receipt",
]

MAX_TEXT = 2000
MAX_SUBJECT = 200
MAX_PARTIES = 20
SYSTEM = "system"  # the sender party (and user) of the service's own messages
THREAD_LINKS = ("activity", "zone", "conflict", "incident")


@dataclass(frozen=True, slots=True)
class Draft:
    """A message checked against the catalogue, before the checks that need the database."""

    entry: Entry
    params: dict[str, Any]
    text: str | None
    precedence: Precedence
    link: tuple[str, str] | None


def message_receipt(r: Row[Any]) -> Body:
    """One recipient party's receipt of a message: delivered / read / acknowledged / answered."""
    return {
        "party": r.party_id,
        "precedence": r.precedence,
        "delivered_at": rfc3339_or_none(r.delivered_at),
        "delivered_to": r.delivered_to,
        "read_at": rfc3339_or_none(r.opened_at),
        "read_by": r.opened_by,
        "acknowledged_at": rfc3339_or_none(r.acknowledged_at),
        "acknowledged_by": r.acknowledged_by,
        "answered_at": rfc3339_or_none(r.answered_at),
        "answered_by": r.answered_by,
        "answer_id": r.answer_id,
        "deadline": rfc3339_or_none(r.deadline),
        "level": r.level,
        "escalated_to": ESCALATION_LADDER[r.level],
        "escalated_at": rfc3339_or_none(r.escalated_at),
    }


def link_of(link: Any, field: str) -> tuple[str, str] | None:
    """``{"type", "id"}`` (or a ``(type, id)`` pair) checked for shape."""
    if link is None:
        return None
    if isinstance(link, Mapping):
        extra = sorted(set(link) - {"type", "id"})
        if extra:
            raise ValidationError(f"{field}.{extra[0]}", "unknown field (a link is {type, id})")
        kind, ident = link.get("type"), link.get("id")
    elif isinstance(link, tuple | list) and len(link) == 2:
        kind, ident = link
    else:
        raise ValidationError(field, "must be an object {type, id}")
    if not isinstance(kind, str) or kind not in LINK_TYPES:
        raise ValidationError(f"{field}.type", f"must be one of {list(LINK_TYPES)}")
    if not isinstance(ident, str) or not 1 <= len(ident) <= 64 or not ident.isprintable():
        raise ValidationError(f"{field}.id", "must be an id of 1–64 printable characters")
    return kind, ident


def check_text(text: Any, field: str) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValidationError(field, "must be a string")
    if len(text) > MAX_TEXT:
        raise ValidationError(field, f"must be at most {MAX_TEXT} characters (it has {len(text)})")
    if "\x00" in text:
        raise ValidationError(field, "must not contain NUL characters")
    bad = next((c for c in text if c not in "\n\t" and not c.isprintable()), None)
    if bad is not None:
        raise ValidationError(field, f"must be printable text (newlines allowed); U+{ord(bad):04X} is not")
    if not text.strip():
        raise ValidationError(field, "must not be blank")
    return text


class MessagingBase(ReceiptsMixin):
    """Drafting, documents and posting shared by the hotline's use cases."""

    # --- the catalogue ------------------------------------------------------------------

    @property
    def catalogue(self) -> Catalogue:
        return load()

    def describe_catalogue(self, principal: Principal | None = None, language: str | None = None) -> Body:
        """The catalogue for clients, in ``language`` (default: the principal's, else English)."""
        return self.catalogue.describe(self._language(principal, language))

    def _language(self, principal: Principal | None, language: str | None) -> str:
        langs = self.catalogue.languages
        if language is not None:
            if language not in langs:
                raise ValidationError("language", f"must be one of {list(langs)}")
            return language
        wanted = principal.language if principal is not None else "en"
        return wanted if wanted in langs else ("en" if "en" in langs else langs[0])

    def _draft(self, prefix: str, code: Any, params: Any, text: Any, precedence: Any, link: Any) -> Draft:
        """Check a message against the catalogue (errors name ``prefix`` + the field)."""
        cat = self.catalogue
        try:
            entry = cat.entry(code)
            canonical = cat.validate(code, {} if params is None else params)
        except ValidationError as e:
            raise ValidationError(prefix + e.field, e.reason) from None
        text = check_text(text, prefix + "text")
        if entry.group is Group.FREE and text is None:
            raise ValidationError(prefix + "text", f"message {entry.code} is free text: give the text")
        if precedence is None:
            chosen = entry.precedence
        else:
            try:
                chosen = Precedence(precedence)
            except ValueError:
                raise ValidationError(
                    prefix + "precedence", f"must be one of {[p.value for p in Precedence]}"
                ) from None
            if chosen.rank > entry.precedence.rank:
                raise ValidationError(
                    prefix + "precedence",
                    f"may be raised above message {entry.code}'s {entry.precedence.value!r}, not lowered",
                )
        return Draft(entry, canonical, text, chosen, link_of(link, prefix + "link"))

    # --- documents ----------------------------------------------------------------------

    def _message_core(self, m: Row[Any]) -> Body:
        """A message without rendering or receipts: the same for every reader."""
        entry = self.catalogue.entry(m.code)
        return {
            "id": m.id,
            "thread_id": m.thread_id,
            "code": m.code,
            "group": entry.group.value,
            "precedence": m.precedence,
            "sender": {"party": m.sender_party, "user": m.sender_user},
            "params": m.params,
            "text": m.text,
            "untranslated": m.text is not None,
            "response": entry.response.value,
            "in_reply_to": m.in_reply_to,
            "link": {"type": m.link_type, "id": m.link_id} if m.link_type else None,
            "at": rfc3339(m.at),
        }

    def _rendered(self, m: Row[Any], language: str) -> Body:
        r = self.catalogue.render(m.code, m.params, language, free_text=m.text)
        return {"language": r.language, "direction": r.direction, "text": r.text}

    def _renderings(self, m: Row[Any]) -> Body:
        cat = self.catalogue
        out: Body = {}
        for lang in cat.languages:
            r = cat.render(m.code, m.params, lang, free_text=m.text)
            out[lang] = {"direction": r.direction, "text": r.text}
        return out

    def _reader_docs(
        self, conn: Connection, principal: Principal, rows: Sequence[Row[Any]], language: str
    ) -> list[Body]:
        """Messages as ``principal`` sees them: rendered in ``language``; its own party's
        receipt; every receipt for the sending party and the mediator."""
        ids = [m.id for m in rows]
        by_message: dict[str, list[Row[Any]]] = {}
        if ids:
            for r in conn.execute(
                sa.select(receipts)
                .where(receipts.c.subject_type == "message", receipts.c.subject_id.in_(ids))
                .order_by(receipts.c.party_id)
            ).all():
                by_message.setdefault(r.subject_id, []).append(r)
        out = []
        for m in rows:
            got = by_message.get(m.id, [])
            mine = next((r for r in got if r.party_id == principal.party_id), None)
            overseer = principal.party_id == m.sender_party or principal.party_role == "mediator"
            out.append(
                self._message_core(m)
                | {
                    "rendered": self._rendered(m, language),
                    "receipt": message_receipt(mine) if mine is not None else None,
                    "receipts": [message_receipt(r) for r in got] if overseer else None,
                }
            )
        return out

    def _thread_doc(self, conn: Connection, t: Row[Any], members: Sequence[Row[Any]] | None = None) -> Body:
        """A thread and its parties (``members``: its ``thread_parties`` rows, when already read)."""
        if members is None:
            members = conn.execute(
                sa.select(thread_parties).where(thread_parties.c.thread_id == t.id).order_by(thread_parties.c.party_id)
            ).all()
        return {
            "id": t.id,
            "subject": t.subject,
            "link": {"type": t.link_type, "id": t.link_id} if t.link_type else None,
            "system": bool(t.system),
            "created_by": t.created_by,
            "created_party": t.created_party,
            "created_at": rfc3339(t.created_at),
            "updated_at": rfc3339(t.updated_at),
            "parties": [
                {"party": p.party_id, "joined_at": rfc3339(p.joined_at), "joined_via": p.joined_via} for p in members
            ],
        }

    # --- looking things up --------------------------------------------------------------

    def _thread_party_ids(self, conn: Connection, thread_id: str) -> list[str]:
        return sorted(
            conn.execute(sa.select(thread_parties.c.party_id).where(thread_parties.c.thread_id == thread_id)).scalars()
        )

    def _thread_row(self, conn: Connection, principal: Principal, thread_id: str, field: str) -> Row[Any]:
        """The thread, if ``principal``'s party takes part in it (else 404: not even its existence shows)."""
        t = conn.execute(sa.select(threads).where(threads.c.id == thread_id)).first()
        if t is None or principal.party_id not in self._thread_party_ids(conn, thread_id):
            raise NotFound(field, f"no thread {thread_id!r} that {principal.party_id!r} takes part in")
        return t

    def _message_row(self, conn: Connection, principal: Principal, message_id: str) -> Row[Any]:
        m = conn.execute(sa.select(messages).where(messages.c.id == message_id)).first()
        if m is None or principal.party_id not in self._thread_party_ids(conn, m.thread_id):
            raise NotFound("message_id", f"no message {message_id!r} in a thread {principal.party_id!r} takes part in")
        return m

    def _receipt(self, conn: Connection, message_id: str, party: str) -> Row[Any] | None:
        return conn.execute(
            sa.select(receipts).where(
                receipts.c.subject_type == "message", receipts.c.subject_id == message_id, receipts.c.party_id == party
            )
        ).first()

    def _message_thread(self, conn: Connection, message_id: str) -> str:
        """The thread a message was posted in."""
        return str(conn.execute(sa.select(messages.c.thread_id).where(messages.c.id == message_id)).scalar_one())

    @staticmethod
    def _require_sender(principal: Principal) -> None:
        principal.require("messages:write")
        if principal.party_role not in ("member", "mediator"):
            raise Forbidden("party", f"observers read the hotline; they do not send ({principal.party_id!r})")

    # --- writing ------------------------------------------------------------------------

    def _join(self, conn: Connection, thread_id: str, parties: Sequence[str], via: str) -> list[str]:
        """Add ``parties`` to a thread (those not in it yet); ``thread.joined`` for each."""
        now = self.clock.now()
        present = set(self._thread_party_ids(conn, thread_id))
        added = sorted(set(parties) - present)
        if not added:
            return []
        conn.execute(
            thread_parties.insert(),
            [dict(thread_id=thread_id, party_id=p, joined_at=now, joined_via=via) for p in added],
        )
        conn.execute(threads.update().where(threads.c.id == thread_id).values(updated_at=now))
        t = conn.execute(sa.select(threads).where(threads.c.id == thread_id)).one()
        doc = self._thread_doc(conn, t)
        audience = sorted(present | set(added))
        for p in added:
            self._emit(
                conn,
                "thread.joined",
                audience,
                {"thread": doc, "party": p, "joined_via": via},
                subject=("thread", thread_id),
            )
        return added

    def _new_thread(
        self,
        conn: Connection,
        *,
        parties: Mapping[str, str],
        subject: str | None,
        link: tuple[str, str] | None,
        system: bool,
        by: tuple[str, str],
    ) -> str:
        """Store a thread with its parties (``party → joined_via``); ``thread.opened``."""
        now = self.clock.now()
        tid = new_id("thr", now)
        conn.execute(
            threads.insert(),
            dict(
                id=tid,
                subject=subject,
                link_type=link[0] if link else None,
                link_id=link[1] if link else None,
                system=system,
                created_by=by[1],
                created_party=by[0],
                created_at=now,
                updated_at=now,
            ),
        )
        conn.execute(
            thread_parties.insert(),
            [dict(thread_id=tid, party_id=p, joined_at=now, joined_via=v) for p, v in sorted(parties.items())],
        )
        t = conn.execute(sa.select(threads).where(threads.c.id == tid)).one()
        self._emit(
            conn, "thread.opened", sorted(parties), {"thread": self._thread_doc(conn, t)}, subject=("thread", tid)
        )
        return tid

    def _check_ref(
        self, conn: Connection, principal: Principal | None, field: str, kinds: Sequence[str], value: Any
    ) -> None:
        """A reference parameter must name something of an allowed kind its sender can see."""
        for kind in kinds:
            if kind == "party":
                if value in self._parties(conn):
                    return
            elif principal is None:  # the service's own messages refer to what it knows
                return
            else:
                try:
                    self._check_link(conn, principal, field, kind, str(value))
                    return
                except NotFound:
                    continue
        who = principal.party_id if principal is not None else SYSTEM
        raise NotFound(field, f"no {' or '.join(kinds)} {value!r} that {who!r} can see")

    def _post(
        self,
        conn: Connection,
        *,
        thread_id: str,
        sender: tuple[str, str],
        draft: Draft,
        principal: Principal | None,
        in_reply_to: str | None = None,
        prefix: str = "",
    ) -> Row[Any]:
        """Store a message in a thread, open its recipients' receipts, emit ``message.sent``;
        for a response, stamp the question's receipt.  Everything is checked before anything
        is written (a refusal rolls the whole write back anyway)."""
        entry, party = draft.entry, sender[0]
        if entry.group is Group.RESPONSE and in_reply_to is None:
            raise ValidationError(prefix + "in_reply_to", f"message {entry.code} is a response: say what it answers")
        original = answered = None
        if in_reply_to is not None:
            original = conn.execute(sa.select(messages).where(messages.c.id == in_reply_to)).first()
            if original is None or original.thread_id != thread_id:
                raise ValidationError(prefix + "in_reply_to", f"no message {in_reply_to!r} in thread {thread_id!r}")
            if original.sender_party == party:
                raise ValidationError(prefix + "in_reply_to", "a party does not answer its own message")
            asked = self.catalogue.entry(original.code).response
            if asked not in entry.answers:
                raise ValidationError(
                    prefix + "code",
                    f"message {entry.code} does not answer message {original.code}, which asks for {asked.value!r}",
                )
            answered = self._receipt(conn, original.id, party)
            if answered is None:
                raise ValidationError(prefix + "in_reply_to", f"message {in_reply_to!r} was not addressed to {party!r}")
            if answered.answered_at is not None:
                raise StateConflict(
                    prefix + "in_reply_to",
                    f"message {in_reply_to!r} was already answered by {answered.answered_by!r} ({answered.answer_id})",
                )
        for slot in entry.slots:
            value = draft.params.get(slot.name)
            if slot.type is SlotType.REF and value is not None:
                self._check_ref(conn, principal, f"{prefix}params.{slot.name}", slot.ref_kinds, value)
        if draft.link is not None and principal is not None:
            self._check_link(conn, principal, prefix + "link", *draft.link)

        now = self.clock.now()
        mid = new_id("msg", now)
        conn.execute(
            messages.insert(),
            dict(
                id=mid,
                thread_id=thread_id,
                sender_party=party,
                sender_user=sender[1],
                code=entry.code,
                params=draft.params,
                text=draft.text,
                precedence=draft.precedence.value,
                in_reply_to=in_reply_to,
                link_type=draft.link[0] if draft.link else None,
                link_id=draft.link[1] if draft.link else None,
                at=now,
            ),
        )
        conn.execute(threads.update().where(threads.c.id == thread_id).values(updated_at=now))
        everyone = self._thread_party_ids(conn, thread_id)
        deadline = (
            self.policy.ack_deadline(draft.precedence, at=now) if entry.response is not ResponseKind.NONE else None
        )
        self._open_receipts(
            conn, ("message", mid), [p for p in everyone if p != party], draft.precedence.value, deadline
        )
        m = conn.execute(sa.select(messages).where(messages.c.id == mid)).one()
        self._emit(
            conn,
            "message.sent",
            everyone,
            {"message": self._message_core(m) | {"renderings": self._renderings(m)}},
            subject=("message", mid),
        )
        if original is not None and answered is not None and principal is not None:
            self._answer(conn, principal, original, answered, m, entry.closes)
        return m

    def _answer(
        self,
        conn: Connection,
        principal: Principal,
        original: Row[Any],
        before: Row[Any],
        reply: Row[Any],
        closes: bool,
    ) -> None:
        """A response: the replier's receipt of the question is acknowledged and, unless the
        response only asks to stand by, answered."""
        self._stamp(conn, principal, "message", original.id, "delivered", "opened", "acknowledged")
        if closes:
            conn.execute(
                receipts.update()
                .where(
                    receipts.c.subject_type == "message",
                    receipts.c.subject_id == original.id,
                    receipts.c.party_id == principal.party_id,
                    receipts.c.answered_at.is_(None),
                )
                .values(answered_at=reply.at, answered_by=principal.user_id, answer_id=reply.id)
            )
        fresh = self._receipt(conn, original.id, principal.party_id)
        assert fresh is not None
        audience = sorted({original.sender_party, principal.party_id} - {SYSTEM})
        payload = {"message_id": original.id, "thread_id": original.thread_id, "receipt": message_receipt(fresh)}
        if before.acknowledged_at is None:
            self._emit(conn, "message.acknowledged", audience, payload, subject=("message", original.id))
        if closes:
            self._emit(
                conn,
                "message.answered",
                audience,
                payload | {"answer": {"id": reply.id, "code": reply.code}},
                subject=("message", original.id),
            )
