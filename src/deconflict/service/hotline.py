"""The hotline: threads between parties, catalogue messages in each reader's language, their receipts.

A *thread* is a conversation between two member parties, or between member parties and
the mediator; it always opens with its first message.  A *message* is a catalogue code
with typed parameters (:mod:`deconflict.catalogue`), stored language-neutral and
rendered in each reader's own language — optionally with free text, which is stored and
shown as is and marked *untranslated* — with a precedence (never below the code's own),
an optional link to an activity, zone, conflict, incident, thread or message, and, for
a response (WILCO, UNABLE, STANDBY, AFFIRM, NEGATIVE, ROGER …), the message it answers.

Every message opens one receipt per recipient party: *delivered* (to whom), *read* (by
whom), *acknowledged* (by whom) and — for a question — *answered* (by whom, with which
message).  A message that asks for a response is due within its precedence's
acknowledgement time and escalates like a notice (level 1: the party's next contact;
level 2: the mediator, who then joins the thread to read and answer it).  A response
acknowledges the question on the replier's receipt, and answers it unless it only asks
the sender to stand by (STANDBY).

The service posts messages of its own (``sender_party`` ``"system"``) through
:meth:`HotlineMixin._post_system_message` — the liveness alerts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..catalogue import ResponseKind
from ..errors import ValidationError
from ..policy import ESCALATION_LADDER, Precedence
from ..store.schema import messages, receipts, thread_parties, threads
from ..wire import rfc3339
from .core import Body, Idempotency, Principal, Result
from .errors import Forbidden, NotFound
from .messaging import (
    MAX_PARTIES,
    MAX_SUBJECT,
    SYSTEM,
    THREAD_LINKS,
    Draft,
    MessagingBase,
    check_text,
    link_of,
    message_receipt,
)

__all__ = ["HotlineMixin"]

_MESSAGE_FIELDS = frozenset({"code", "params", "text", "precedence"})
_ASKS = (ResponseKind.WILCO_UNABLE, ResponseKind.AFFIRM_NEGATIVE)


class HotlineMixin(MessagingBase):
    # --- use cases: threads -------------------------------------------------------------

    def open_thread(
        self,
        principal: Principal,
        *,
        parties: Sequence[str],
        message: Mapping[str, Any],
        subject: str | None = None,
        link: Any = None,
        idem: Idempotency | None = None,
    ) -> Result:
        """Open a thread between the caller's party and ``parties`` with its first ``message``
        (``{code, params, text, precedence}``): two member parties, or member parties with
        the mediator.  201 ``{thread, message}``."""
        self._require_sender(principal)
        if isinstance(parties, str) or not isinstance(parties, Sequence) or not parties:
            raise ValidationError("parties", "name the other parties of the thread (a non-empty list)")
        if len(parties) > MAX_PARTIES:
            raise ValidationError("parties", f"at most {MAX_PARTIES} parties")
        if subject is not None:
            subject = check_text(subject, "subject")
            if subject is not None and (len(subject) > MAX_SUBJECT or "\n" in subject):
                raise ValidationError("subject", f"must be one line of at most {MAX_SUBJECT} characters")
        where = link_of(link, "link")
        if where is not None and where[0] not in THREAD_LINKS:
            raise ValidationError("link.type", f"a thread is about one of {list(THREAD_LINKS)}")
        if not isinstance(message, Mapping):
            raise ValidationError("message", "must be an object {code, params, text, precedence}")
        unknown = sorted(set(message) - _MESSAGE_FIELDS)
        if unknown:
            raise ValidationError(f"message.{unknown[0]}", "unknown field")
        draft = self._draft(
            "message.", message.get("code"), message.get("params"), message.get("text"), message.get("precedence"), None
        )

        def run(conn: Connection) -> Result:
            known = self._parties(conn)
            joined = {principal.party_id: "opened"}
            for i, pid in enumerate(parties):
                p = known.get(pid) if isinstance(pid, str) else None
                if p is None:
                    raise ValidationError(f"parties[{i}]", f"no party {pid!r}")
                if p.role == "observer":
                    raise ValidationError(f"parties[{i}]", f"{pid!r} is an observer; observers take part in no thread")
                joined.setdefault(pid, "addressed")
            if len(joined) < 2:
                raise ValidationError("parties", f"name at least one party besides {principal.party_id!r}")
            members = [p for p in joined if known[p].role == "member"]
            if not any(known[p].role == "mediator" for p in joined) and len(members) != 2:
                raise ValidationError("parties", "a thread is between two member parties, or includes the mediator")
            if where is not None:
                self._check_link(conn, principal, "link", *where)
            tid = self._new_thread(
                conn,
                parties=joined,
                subject=subject,
                link=where,
                system=False,
                by=(principal.party_id, principal.user_id),
            )
            m = self._post(
                conn,
                thread_id=tid,
                sender=(principal.party_id, principal.user_id),
                draft=draft,
                principal=principal,
                prefix="message.",
            )
            t = conn.execute(sa.select(threads).where(threads.c.id == tid)).one()
            [doc] = self._reader_docs(conn, principal, [m], self._language(principal, None))
            return 201, {"thread": self._thread_doc(conn, t), "message": doc}

        return self._write(run, principal=principal, idem=idem)

    def list_threads(
        self,
        principal: Principal,
        *,
        party: str | None = None,
        link: tuple[str, str] | None = None,
        language: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Body:
        """The threads the caller's party takes part in (oldest first), each with its last
        message and the number of messages to the caller's party not yet read / answered."""
        principal.require("messages:read")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit", "must be between 1 and 1000")
        lang = self._language(principal, language)
        mine = sa.select(thread_parties.c.thread_id).where(thread_parties.c.party_id == principal.party_id)
        q = sa.select(threads).where(threads.c.id.in_(mine))
        if party is not None:
            q = q.where(
                threads.c.id.in_(sa.select(thread_parties.c.thread_id).where(thread_parties.c.party_id == party))
            )
        if link is not None:
            q = q.where(threads.c.link_type == link[0], threads.c.link_id == link[1])
        if cursor is not None:
            q = q.where(threads.c.id > cursor)
        with self.store.read() as conn:
            rows = conn.execute(q.order_by(threads.c.id).limit(limit + 1)).all()
            page = rows[:limit]
            ids = [t.id for t in page]
            last: dict[str, Row[Any]] = {}
            unread: dict[str, int] = dict.fromkeys(ids, 0)
            unanswered: dict[str, int] = dict.fromkeys(ids, 0)
            if ids:
                newest = (
                    sa.select(sa.func.max(messages.c.id))
                    .where(messages.c.thread_id.in_(ids))
                    .group_by(messages.c.thread_id)
                )
                last = {
                    m.thread_id: m for m in conn.execute(sa.select(messages).where(messages.c.id.in_(newest))).all()
                }
                open_ = conn.execute(
                    sa.select(
                        messages.c.thread_id,
                        messages.c.code,
                        receipts.c.opened_at,
                        receipts.c.acknowledged_at,
                        receipts.c.answered_at,
                    )
                    .join(
                        receipts, sa.and_(receipts.c.subject_type == "message", receipts.c.subject_id == messages.c.id)
                    )
                    .where(
                        receipts.c.party_id == principal.party_id,
                        messages.c.thread_id.in_(ids),
                        sa.or_(receipts.c.opened_at.is_(None), receipts.c.answered_at.is_(None)),
                    )
                ).all()
                for r in open_:
                    unread[r.thread_id] += r.opened_at is None
                    asks = self.catalogue.entry(r.code).response
                    if r.answered_at is None and (
                        asks in _ASKS or (asks is ResponseKind.ROGER and r.acknowledged_at is None)
                    ):
                        unanswered[r.thread_id] += 1
            members: dict[str, list[Row[Any]]] = {tid: [] for tid in ids}
            if ids:
                for p in conn.execute(
                    sa.select(thread_parties)
                    .where(thread_parties.c.thread_id.in_(ids))
                    .order_by(thread_parties.c.party_id)
                ).all():
                    members[p.thread_id].append(p)
            docs = []
            for t in page:
                m = last.get(t.id)
                summary = self._message_core(m) | {"rendered": self._rendered(m, lang)} if m is not None else None
                docs.append(
                    self._thread_doc(conn, t, members[t.id])
                    | {"last_message": summary, "unread": unread[t.id], "unanswered": unanswered[t.id]}
                )
        return {"threads": docs, "next_cursor": page[-1].id if len(rows) > limit else None}

    def get_thread(
        self,
        principal: Principal,
        thread_id: str,
        *,
        language: str | None = None,
        limit: int = 500,
        cursor: str | None = None,
    ) -> Body:
        """A thread and its messages (oldest first) in the caller's language; marks them
        delivered and read for the caller's party; the read is logged."""
        principal.require("messages:read")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit", "must be between 1 and 1000")
        lang = self._language(principal, language)

        def run(conn: Connection) -> Result:
            t = self._thread_row(conn, principal, thread_id, "thread_id")
            q = sa.select(messages).where(messages.c.thread_id == thread_id)
            if cursor is not None:
                q = q.where(messages.c.id > cursor)
            rows = conn.execute(q.order_by(messages.c.id).limit(limit + 1)).all()
            page = rows[:limit]
            if page:
                self._stamp(conn, principal, "message", [m.id for m in page], "delivered", "opened")
            self._log_access(conn, principal, "read_thread", ("thread", thread_id), {"messages": [m.id for m in page]})
            return 200, {
                "thread": self._thread_doc(conn, t),
                "messages": self._reader_docs(conn, principal, page, lang),
                "next_cursor": page[-1].id if len(rows) > limit else None,
            }

        return self._write(run)[1]

    # --- use cases: messages ------------------------------------------------------------

    def send_message(
        self,
        principal: Principal,
        thread_id: str,
        code: Any,
        params: Any = None,
        *,
        text: str | None = None,
        precedence: str | None = None,
        in_reply_to: str | None = None,
        link: Any = None,
        idem: Idempotency | None = None,
    ) -> Result:
        """Post a catalogue message in a thread the caller's party takes part in. 201 ``{message}``."""
        self._require_sender(principal)
        draft = self._draft("", code, params, text, precedence, link)

        def run(conn: Connection) -> Result:
            self._thread_row(conn, principal, thread_id, "thread_id")
            m = self._post(
                conn,
                thread_id=thread_id,
                sender=(principal.party_id, principal.user_id),
                draft=draft,
                principal=principal,
                in_reply_to=in_reply_to,
            )
            [doc] = self._reader_docs(conn, principal, [m], self._language(principal, None))
            return 201, {"message": doc}

        return self._write(run, principal=principal, idem=idem)

    def get_message(self, principal: Principal, message_id: str, *, language: str | None = None) -> Body:
        """One message in the caller's language; marks it delivered and read for the caller's party."""
        principal.require("messages:read")
        lang = self._language(principal, language)

        def run(conn: Connection) -> Result:
            m = self._message_row(conn, principal, message_id)
            self._stamp(conn, principal, "message", message_id, "delivered", "opened")
            self._log_access(conn, principal, "read_message", ("message", message_id))
            [doc] = self._reader_docs(conn, principal, [m], lang)
            return 200, doc

        return self._write(run)[1]

    def list_messages(
        self,
        principal: Principal,
        *,
        thread: str | None = None,
        pending: bool = False,
        language: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Body:
        """Messages addressed to the caller's party (oldest first; ``pending``: not yet
        acknowledged); fetching them marks them delivered."""
        principal.require("messages:read")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit", "must be between 1 and 1000")
        lang = self._language(principal, language)

        def run(conn: Connection) -> Result:
            q = (
                sa.select(messages)
                .join(receipts, sa.and_(receipts.c.subject_type == "message", receipts.c.subject_id == messages.c.id))
                .where(receipts.c.party_id == principal.party_id)
            )
            if thread is not None:
                self._thread_row(conn, principal, thread, "thread")
                q = q.where(messages.c.thread_id == thread)
            if pending:
                q = q.where(receipts.c.acknowledged_at.is_(None))
            if cursor is not None:
                q = q.where(messages.c.id > cursor)
            rows = conn.execute(q.order_by(messages.c.id).limit(limit + 1)).all()
            page = rows[:limit]
            if page:
                self._stamp(conn, principal, "message", [m.id for m in page], "delivered")
            return 200, {
                "messages": self._reader_docs(conn, principal, page, lang),
                "next_cursor": page[-1].id if len(rows) > limit else None,
            }

        return self._write(run)[1]

    def acknowledge_message(self, principal: Principal, message_id: str, *, idem: Idempotency | None = None) -> Result:
        """Acknowledge a message addressed to the caller's party (without answering it)."""
        principal.require("messages:write")

        def run(conn: Connection) -> Result:
            m = self._message_row(conn, principal, message_id)
            mine = self._receipt(conn, message_id, principal.party_id)
            if mine is None:
                raise Forbidden("message_id", "only the parties a message was addressed to acknowledge it")
            self._stamp(conn, principal, "message", message_id, "delivered", "opened", "acknowledged")
            if mine.acknowledged_at is None:
                fresh = self._receipt(conn, message_id, principal.party_id)
                assert fresh is not None
                self._emit(
                    conn,
                    "message.acknowledged",
                    sorted({m.sender_party, principal.party_id} - {SYSTEM}),
                    {"message_id": m.id, "thread_id": m.thread_id, "receipt": message_receipt(fresh)},
                    subject=("message", m.id),
                )
            [doc] = self._reader_docs(conn, principal, [m], self._language(principal, None))
            return 200, doc

        return self._write(run, principal=principal, idem=idem)

    def message_receipts(self, principal: Principal, message_id: str) -> Body:
        """Every recipient party's receipt of a message — for its sending party and the
        mediator (who oversees timeliness; it sees no content here)."""
        principal.require("messages:read")

        def run(conn: Connection) -> Result:
            m = conn.execute(sa.select(messages).where(messages.c.id == message_id)).first()
            if m is None:
                raise NotFound("message_id", f"no message {message_id!r}")
            if m.sender_party != principal.party_id and principal.party_role != "mediator":
                self._message_row(conn, principal, message_id)  # 404 unless in the thread
                raise Forbidden("message_id", "receipts of a message are shown to its sender and the mediator")
            if m.sender_party != principal.party_id:
                self._log_access(conn, principal, "read_message_receipts", ("message", message_id))
            rows = conn.execute(
                sa.select(receipts)
                .where(receipts.c.subject_type == "message", receipts.c.subject_id == message_id)
                .order_by(receipts.c.party_id)
            ).all()
            return 200, {
                "message_id": m.id,
                "thread_id": m.thread_id,
                "code": m.code,
                "precedence": m.precedence,
                "sender": {"party": m.sender_party, "user": m.sender_user},
                "at": rfc3339(m.at),
                "receipts": [message_receipt(r) for r in rows],
            }

        return self._write(run)[1]

    # --- the service's own messages, and escalation -------------------------------------

    def _post_system_message(
        self,
        conn: Connection,
        thread_id: str | None,
        parties: Sequence[str],
        code: int,
        params: Mapping[str, Any],
        precedence: Precedence | str | None = None,
        subject: str | None = None,
    ) -> str:
        """Post a message from the service itself (sender ``"system"``) inside the caller's
        write and return its id.  ``thread_id=None`` opens a system thread among ``parties``
        (with ``subject``); otherwise ``parties`` not yet in the thread join it.  Every
        party in the thread gets a receipt (with a deadline when the code asks for a
        response); ``message.sent`` is emitted.  ``precedence`` may raise the code's, never lower it."""
        draft = self._draft("", code, dict(params), None, None, None)
        if precedence is not None:  # never below the code's own
            chosen = Precedence.highest(Precedence(precedence), draft.entry.precedence)
            draft = Draft(draft.entry, draft.params, None, chosen, None)
        if thread_id is None:
            thread_id = self._new_thread(
                conn,
                parties=dict.fromkeys(parties, "system"),
                subject=subject,
                link=None,
                system=True,
                by=(SYSTEM, SYSTEM),
            )
        else:
            self._join(conn, thread_id, parties, "system")
        return str(self._post(conn, thread_id=thread_id, sender=(SYSTEM, SYSTEM), draft=draft, principal=None).id)

    def _escalated(self, conn: Connection, r: Row[Any], level: int, now: datetime) -> None:
        """A message still unacknowledged at the mediator level: the mediator joins its
        thread (to read and answer it) and gets a receipt of its own."""
        super()._escalated(conn, r, level, now)
        if r.subject_type != "message" or level < len(ESCALATION_LADDER) - 1:
            return
        m = conn.execute(sa.select(messages).where(messages.c.id == r.subject_id)).first()
        if m is None:
            return
        mediators = sorted(pid for pid, p in self._parties(conn).items() if p.role == "mediator")
        self._join(conn, m.thread_id, mediators, "escalation")
        have = set(
            conn.execute(
                sa.select(receipts.c.party_id).where(
                    receipts.c.subject_type == "message", receipts.c.subject_id == m.id
                )
            ).scalars()
        )
        missing = [p for p in mediators if p not in have and p != m.sender_party]
        self._open_receipts(conn, ("message", m.id), missing, r.precedence, None, level)
