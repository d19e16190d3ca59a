"""A realistic history for the joint record's tests: every kind of write the service makes.

``tell(world)`` drives the ``world`` fixture's service through drafts, notices and
changes, a conflict acknowledged and escalated by the scheduler, notices opened, a
hotline thread answered, heartbeats and a party going DOWN, an incident reported and
closed, a policy change, a party's key registered and the service's key rotated.
Alpha's secrets carry markers (:data:`SECRETS`) that the need-to-know tests search for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from conftest import World, volume
from deconflict.ledger import Signer, generate_key, request_digest
from deconflict.service import ItemInput
from deconflict.store.schema import item_versions, items
from deconflict.wire import volumes_from_json

DRAFT_TITLE = "ALPHA-DRAFT-TITLE-7f3a"
DRAFT_NOTE = "ALPHA-DRAFT-NOTE-51c2"
PRIVATE_NOTE = "ALPHA-PRIVATE-NOTE-9e0d"
SECRETS = (DRAFT_TITLE, DRAFT_NOTE, PRIVATE_NOTE)
DISTRESS = {"callsign": "alpha-1", "position": {"lat": 33.5, "lon": 36.3}, "altitude": {"m": 3000, "ref": "amsl"}}


@dataclass
class Story:
    draft: str = ""
    sortie: str = ""
    bravo_sortie: str = ""
    conflict: str = ""
    thread: str = ""
    incident: str = ""
    alpha_key: Signer | None = None
    ids: dict[str, Any] = field(default_factory=dict)


def data(*, kind: str = "air_sortie", **kw: Any) -> ItemInput:
    vols = kw.pop("volumes", None) or [volume()]
    return ItemInput(kind=kind, volumes=volumes_from_json(vols), **kw)


def tell(w: World) -> Story:
    svc, p, s = w.service, w.p, Story()
    # a draft only alpha may ever see, then a notified sortie with private notes
    s.draft = svc.create_item(p["a_liaison"], "activity", data(title=DRAFT_TITLE, notes=DRAFT_NOTE), state="draft")[1][
        "item"
    ]["id"]
    a = svc.create_item(p["a_liaison"], "activity", data(title="ALPHA-1", notes=PRIVATE_NOTE), state="notified")[1]
    s.sortie = a["item"]["id"]
    w.clock.advance(timedelta(minutes=1))
    svc.list_notices(p["b_liaison"])  # delivered
    known = svc.get_item(p["b_liaison"], "activity", s.sortie)["version"]  # opened: bravo learns the version
    b = svc.create_item(p["b_liaison"], "activity", data(title="BRAVO-1"), state="notified", key=(known,))[1]
    s.bravo_sortie, s.conflict = b["item"]["id"], b["conflicts"][0]["id"]
    w.clock.advance(timedelta(minutes=1))
    svc.notice_action(p["a_liaison"], b["notice"]["id"], "open")
    bravo_version = svc.get_item(p["a_liaison"], "activity", s.bravo_sortie)["version"]
    # alpha changes its sortie (the conflict stays; back to open) and acknowledges the conflict
    svc.update_item(
        p["a_liaison"],
        "activity",
        s.sortie,
        data(title="ALPHA-1", notes=PRIVATE_NOTE + "-v2", volumes=[volume(upper=3500.0)]),
        version=a["item"]["version"],
        key=(bravo_version,),
    )
    svc.get_conflict(p["m_user"], s.conflict)
    svc.conflict_action(p["a_liaison"], s.conflict, "acknowledge")
    svc.conflict_action(p["m_user"], s.conflict, "comment", text="mediator: please deconflict by altitude")
    # the hotline: alpha tells bravo of an aircraft in distress, bravo answers ROGER
    _, opened = svc.open_thread(
        p["a_liaison"], parties=["bravo"], message={"code": 401, "params": DISTRESS}, subject="ALPHA-1"
    )
    s.thread = opened["thread"]["id"]
    svc.get_message(p["b_liaison"], opened["message"]["id"])
    svc.send_message(p["b_cmd"], s.thread, 506, {}, in_reply_to=opened["message"]["id"])
    # heartbeats; alpha falls silent and goes DOWN
    svc.heartbeat(p["a_liaison"])
    svc.heartbeat(p["b_liaison"])
    w.clock.advance(timedelta(seconds=100))
    svc.heartbeat(p["b_liaison"])
    w.clock.advance(timedelta(seconds=50))
    assert svc.tick()["down"] == 1
    # the scheduler: bravo never acknowledged, so the conflict escalates; the sortie starts
    w.clock.advance(timedelta(hours=3))
    counts = svc.tick()
    assert counts["escalated"] >= 1 and counts["activated"] >= 1
    svc.heartbeat(p["a_liaison"])  # alpha is back
    # an incident, reviewed and closed by the mediator
    _, inc = svc.report_incident(
        p["b_liaison"],
        "near_miss",
        "near miss at ALPHA-1",
        w.clock.now(),
        {"lat": 35.0, "lon": 36.0},
        links=[{"type": "activity", "id": s.sortie}],
    )
    s.incident = inc["id"]
    svc.incident_action(p["a_liaison"], s.incident, "comment", text="our pilot saw nothing")
    svc.incident_action(p["m_user"], s.incident, "review", text="tapes requested")
    svc.incident_action(p["m_user"], s.incident, "close", text="no breach of separation")
    # the agreement changes; alpha registers a key and signs a request; the service rotates its key
    policy = svc.get_policy()
    policy["liveness"] = {"heartbeat_s": 20, "down_after_s": 90}
    svc.set_policy(policy)
    s.alpha_key = generate_key()
    svc.register_party_key(p["a_cmd"], s.alpha_key.public_b64)
    svc.register_party_key(p["b_cmd"], None, server_side=True)
    signed(w, s.alpha_key, "a_liaison", "POST", f"/v1/activities/{s.draft}/cancel")
    svc.transition(p["a_liaison"], "activity", s.draft, "cancel", version=version_of(w, s.draft))
    svc.rotate_ledger_key()
    w.clock.advance(timedelta(minutes=1))
    svc.conflict_action(p["b_cmd"], s.conflict, "comment", text="bravo: climbing to FL200")
    return s


def signed(w: World, key: Signer, user: str, method: str, path: str, body: Any = None) -> None:
    """Make the next write carry ``user``'s signed request (as the API does)."""
    at = "2026-11-25T08:00:00.000000Z"
    digest = request_digest(method, path, body, user, at)
    w.service._pending_request = {
        "method": method,
        "path": path,
        "request_sha256": digest,
        "kid": key.kid,
        "signature": key.sign(bytes.fromhex(digest)),
    }


def version_of(w: World, item_id: str) -> str:
    with w.service.store.read() as conn:
        return str(conn.execute(sa.select(items.c.version).where(items.c.id == item_id)).scalar_one())


def alpha_versions(w: World) -> list[str]:
    """Every version string alpha's items ever had (none may reach another party)."""
    with w.service.store.read() as conn:
        return list(
            conn.execute(
                sa.select(item_versions.c.version)
                .join(items, items.c.id == item_versions.c.item_id)
                .where(items.c.party_id == "alpha")
            ).scalars()
        )
