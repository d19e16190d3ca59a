// The work queues: what awaits MY party, the most urgent first.
//
//   Notices   notices addressed to my party not yet acknowledged: what they are about, the
//             precedence, how late the notice was given, the acknowledgement deadline counting
//             down live.  "Open" GETs the item (the server records that my party OPENED the
//             notice — so only on a click, never in the background) and shows its volumes.
//   Conflicts conflicts my party is in that my side has not acknowledged yet, then those it has
//             acknowledged that are not settled ("in progress"): both items, the windows and the
//             gaps against the minima, worst case (the other party is DOWN), escalation.
//             Actions: acknowledge, accept (commanders), escalate to the mediator, comment, propose.
//             A mediator sees the escalated conflicts and may comment and propose.
//   Done      what was done here this session (compact).
//
// New rows arriving live (bus `data`) flash briefly; clicking a row emits bus `select` so the map
// pans to it.  Nothing here GETs an item or a conflict unless the person asks; the conflicts'
// deadlines come from GET /v1/conflicts/{id}/receipts, which records nothing.
//
// data-testids:
//   queue-notices, queue-notices-count          the notices section and its count badge
//   queue-notice-row (data-id = notice id)       one pending notice (data-overdue when overdue)
//   notice-late                                  "late by …" on a late notice
//   notice-open, notice-close, notice-ack        open the item (records "opened") / hide / acknowledge
//   notice-details                               the opened item's details (queue-volume per volume)
//   notice-error                                 the API's answer when an action failed
//   queue-deadline (data-deadline = RFC 3339)    a live countdown (class "overdue" once past)
//   queue-conflicts, queue-conflicts-count       conflicts awaiting my side (mediator: escalated ones)
//   queue-following, queue-following-count       conflicts my side acknowledged, not settled
//   queue-conflict-row (data-id = conflict id)   one conflict
//   conflict-worst-case, conflict-escalation     the worst-case flag, the escalation line
//   conflict-ack, conflict-accept, conflict-escalate, conflict-text, conflict-comment, conflict-propose
//   conflict-error                               the API's answer (message and field) next to the actions
//   queue-done, queue-done-row                   the recently done list
//   queue-empty                                  "nothing waiting" in an empty section
import "./work.css";
import { el, clear, bdi } from "./dom.js";

const CLOSED = new Set(["resolved", "accepted"]);
const PRECEDENCE_RANK = { flash: 0, immediate: 1, priority: 2, routine: 3 };

// --- shared formatting (also used by fileform.js) ---------------------------------------------

export function lengthText(ctx, len) {
  if (!len) return "?";
  const factor = { M: 1, m: 1, km: 1000, NM: 1852, ft: 0.3048 }[len.units ?? "M"] ?? 1;
  return metresText(ctx, len.value * factor);
}

export function metresText(ctx, m) {
  if (m === null || m === undefined) return "?";
  if (Math.abs(m) >= 10000) return ctx.t("work.unit.km", { v: ctx.fmt.number(m / 1000, 1) });
  return ctx.t("work.unit.m", { v: ctx.fmt.number(m) });
}

export function altitudeText(ctx, a) {
  if (!a) return "?";
  if (a.reference === "FL") return ctx.t("work.unit.fl", { v: ctx.fmt.number(a.value) });
  const units = (a.units ?? "M").toLowerCase() === "ft" ? "work.unit.ft" : "work.unit.m";
  return `${ctx.t(units, { v: ctx.fmt.number(a.value) })} ${a.reference ?? "W84"}`;
}

export function coordText(ctx, ll) {
  return ctx.t("work.unit.latlon", { lat: ctx.fmt.number(ll.lat, 4), lon: ctx.fmt.number(ll.lng, 4) });
}

export function windowText(ctx, start, end) {
  return ctx.t("work.window", { start: ctx.fmt.dateTime(start), end: ctx.fmt.dateTime(end) });
}

// One volume: its shape, altitude band and UTC (local) window.
export function volumeView(ctx, v, index) {
  const { t } = ctx;
  let shape = "?";
  if (v.outline_circle) shape = t("work.vol.circle", { at: coordText(ctx, v.outline_circle.center), r: lengthText(ctx, v.outline_circle.radius) });
  else if (v.outline_polygon) shape = t("work.vol.polygon", { n: ctx.fmt.number(v.outline_polygon.vertices.length) });
  else if (v.corridor) shape = t("work.vol.corridor", { n: ctx.fmt.number(v.corridor.path.length), w: lengthText(ctx, v.corridor.half_width) });
  return el("li", { class: "wk-volume", "data-testid": "queue-volume" }, [
    el("div", {}, [el("span", { class: "muted" }, t("work.vol.n", { n: ctx.fmt.number(index + 1) })), " ", shape]),
    el("div", {}, t("work.vol.alt", { lower: altitudeText(ctx, v.altitude_lower), upper: altitudeText(ctx, v.altitude_upper) })),
    el("div", {}, windowText(ctx, v.time_start?.value, v.time_end?.value)),
  ]);
}

// One pair of volumes in conflict: the window and each gap against its minimum.
export function gapView(ctx, d) {
  const { t, fmt } = ctx;
  const m = d.minima || {};
  const gap = (key, value, min, text) => el("span", { class: `wk-gap${d.breached?.includes(key) ? " wk-breached" : ""}` },
    t(`work.gap.${key}`, { gap: text(value), min: text(min ?? 0) }));
  const what = d.breached?.length ? d.breached.map((b) => t(`work.dim.${b}`)).join(", ") : t("work.gap.overlap");
  return el("li", { class: "wk-pair" }, [
    el("div", {}, windowText(ctx, d.window_start, d.window_end)),
    el("div", { class: "wk-gaps" }, [
      gap("lateral", d.lateral_gap_m, m.lateral_m, (x) => metresText(ctx, x)),
      gap("vertical", d.vertical_gap_m, m.vertical_m, (x) => metresText(ctx, x)),
      gap("time", d.time_gap_s, m.time_s, (x) => fmt.duration(x ?? 0)),
    ]),
    el("div", { class: "wk-breach" }, t("work.gap.what", { what })),
  ]);
}

// A policy duration ("30 min", "2 h 00 min"): whole minutes without the seconds.
export function policyDuration(ctx, seconds) {
  const s = Math.round(seconds ?? 0);
  if (s > 0 && s < 3600 && s % 60 === 0) return ctx.t("work.unit.min", { v: ctx.fmt.number(s / 60) });
  return ctx.fmt.duration(s);
}

export function kindText(ctx, kind) {
  const key = `work.kind.${kind}`;
  const s = ctx.t(key);
  return s === key ? kind : s;
}

export function partyName(ctx, id) { return ctx.data.parties.get(id)?.name ?? id; }

// A live countdown to `deadline`: the ticker in mountQueues (and fileform) refreshes it every second.
export function countdown(ctx, deadline, prefixKey = "work.due_in") {
  const node = el("span", { class: "wk-countdown", "data-testid": "queue-deadline", "data-deadline": deadline, "data-prefix": prefixKey });
  tickOne(ctx, node);
  return node;
}

export function tickOne(ctx, node) {
  const secs = (new Date(node.dataset.deadline) - ctx.now()) / 1000;
  const over = secs < 0;
  node.textContent = over ? ctx.t("work.overdue_by", { d: ctx.fmt.duration(-secs) })
    : ctx.t(node.dataset.prefix, { d: ctx.fmt.duration(secs) });
  node.classList.toggle("overdue", over);
  const row = node.closest("[data-id]");
  if (row && node.dataset.prefix === "work.due_in") row.toggleAttribute("data-overdue", over);
}

function errorText(ctx, err) {
  if (!err) return "";
  if (err.status === undefined) return String(err.message || err);
  return err.field ? ctx.t("work.error_field", { field: err.field, message: err.message }) : err.message;
}

// --- the queues -----------------------------------------------------------------------------

export function mountQueues(root, ctx) {
  const { api, bus, data, me, t, fmt } = ctx;
  const isMediator = me.party_role === "mediator";
  const opened = new Map(); // notice id → item doc the person opened (shown)
  const errors = new Map(); // row id → ApiError / message
  const busy = new Set(); // row ids with a request in flight
  const texts = new Map(); // conflict id → the comment/proposal being written
  const receipts = new Map(); // conflict id → {sig, mine} (my party's receipt: deadline, level)
  const done = []; // [{label, at}] newest first
  const cards = new Map(); // row id → {sig, node}
  const seen = new Set(); // row ids rendered before (to flash new ones)
  let first = true;
  let policy = null;
  api.get("/v1/policy").then((p) => { policy = p; render(); }).catch(() => {});

  const sections = {
    notices: el("section", { class: "wk-queue", "data-testid": "queue-notices" }),
    conflicts: el("section", { class: "wk-queue", "data-testid": "queue-conflicts" }),
    following: el("section", { class: "wk-queue", "data-testid": "queue-following" }),
    done: el("section", { class: "wk-queue wk-done", "data-testid": "queue-done" }),
  };
  clear(root);
  root.classList.add("wk");
  root.append(...Object.values(sections));

  // -- notices --
  function noticeDeadline(n) { return n.receipt?.deadline ?? n.deadline ?? null; }
  function itemType(n) {
    return n.item_type ?? data.items.get(n.item_id)?.type ?? (String(n.item_id).startsWith("zone") ? "zone" : "activity");
  }

  function noticeCard(n) {
    const item = data.items.get(n.item_id);
    const type = itemType(n);
    const doc = opened.get(n.id);
    const err = errors.get(n.id);
    const deadline = noticeDeadline(n);
    const late = n.late_by_s !== null && n.late_by_s !== undefined && n.late_by_s > 0;
    const title = item?.title || n.item_id;
    const level = n.receipt?.level ?? 0;
    const children = [
      el("div", { class: "wk-head" }, [
        el("span", { class: `wk-prec wk-prec-${n.precedence}` }, t(`work.prec.${n.precedence}`)),
        el("strong", {}, t(`work.change.${n.change}`) === `work.change.${n.change}` ? n.change : t(`work.change.${n.change}`)),
        el("span", { class: "muted" }, t("work.from", { party: partyName(ctx, n.sender_party) })),
      ]),
      el("div", { class: "wk-title" }, [
        el("span", { class: "wk-kind" }, kindText(ctx, item?.kind ?? type)), " ", bdi(title),
        item?.callsign ? [" · ", bdi(item.callsign)] : null,
      ].flat()),
    ];
    if (late) {
      children.push(el("div", { class: "wk-late", "data-testid": "notice-late" },
        t("work.notice.late", { d: fmt.duration(n.late_by_s), lead: fmt.duration(Math.max(0, n.lead_s ?? 0)), required: policyDuration(ctx, n.required_notice_s) })));
    } else if (n.lead_s !== null && n.lead_s !== undefined) {
      children.push(el("div", { class: "muted" },
        t("work.notice.on_time", { lead: fmt.duration(n.lead_s), required: policyDuration(ctx, n.required_notice_s) })));
    }
    if (item?.time_start) children.push(el("div", {}, windowText(ctx, item.time_start, item.time_end)));
    children.push(el("div", { class: "wk-due" }, [
      deadline ? countdown(ctx, deadline) : el("span", { class: "muted" }, t("work.no_deadline")),
      level > 0 ? el("span", { class: "wk-escalated" }, t(`work.escalated_to.${level}`)) : null,
    ]));
    if (doc) {
      children.push(el("div", { class: "wk-details", "data-testid": "notice-details" }, [
        el("div", { class: "muted" }, t("work.details", {
          state: t(`work.istate.${doc.state}`), priority: t(`work.prec.${doc.priority}`), party: partyName(ctx, doc.party),
        })),
        doc.callsign ? el("div", {}, [t("work.callsign"), " ", bdi(doc.callsign)]) : null,
        doc.contact ? el("div", {}, [t("work.contact"), " ", bdi(doc.contact)]) : null,
        el("ol", { class: "wk-volumes" }, (doc.volumes ?? []).map((v, i) => volumeView(ctx, v, i))),
      ]));
    }
    children.push(el("div", { class: "actions" }, [
      doc ? el("button", { type: "button", "data-testid": "notice-close", onclick: () => { opened.delete(n.id); render(); } }, t("work.action.close"))
        : el("button", { type: "button", "data-testid": "notice-open", disabled: busy.has(n.id), onclick: () => openNotice(n, type) }, t("work.action.open")),
      el("button", { type: "button", class: "primary", "data-testid": "notice-ack", disabled: busy.has(n.id), onclick: () => ackNotice(n, title) }, t("work.action.ack")),
      err ? el("span", { class: "error", role: "alert", "data-testid": "notice-error" }, errorText(ctx, err)) : null,
    ]));
    const card = el("article", { class: `card wk-row precedence-${n.precedence}`, "data-testid": "queue-notice-row", "data-id": n.id, tabindex: "0" }, children);
    card.addEventListener("click", (e) => { if (!e.target.closest("button, textarea, input, a")) bus.emit("select", { type, id: n.item_id }); });
    return card;
  }

  async function openNotice(n, type) {
    busy.add(n.id); errors.delete(n.id); render();
    try {
      opened.set(n.id, await data.open(type, n.item_id));
      bus.emit("select", { type, id: n.item_id });
    } catch (err) { errors.set(n.id, err); }
    busy.delete(n.id); render();
  }

  async function ackNotice(n, title) {
    busy.add(n.id); errors.delete(n.id); render();
    try {
      await api.post(`/v1/notices/${encodeURIComponent(n.id)}/acknowledge`);
      data.notices.delete(n.id);
      opened.delete(n.id);
      remember(t("work.done.notice", { title }));
      busy.delete(n.id);
      bus.emit("data", { kind: "notices" });
      return;
    } catch (err) { errors.set(n.id, err); }
    busy.delete(n.id); render();
  }

  // -- conflicts --
  function sides(c) {
    const mineIsA = c.a.party === me.party;
    const mineIsB = c.b.party === me.party;
    if (mineIsA || mineIsB) return { mine: mineIsA ? c.a : c.b, other: mineIsA ? c.b : c.a };
    return { mine: null, other: null };
  }

  function conflictDeadline(c) {
    const r = receipts.get(c.id);
    if (r?.mine) return r.mine.deadline ?? null;
    // until the receipt is read: the server's rule (the precedence's acknowledgement time, never
    // later than the conflict's start, at least a minute away from when it was raised)
    const ackS = policy?.ack_s?.[c.precedence];
    if (!ackS || c.state === "escalated") return null;
    const at = new Date(c.updated_at).getTime();
    const start = new Date(c.time_start).getTime();
    return new Date(Math.min(at + ackS * 1000, Math.max(start, at + 60000))).toISOString();
  }

  function fetchReceipts(list) {
    for (const c of list) {
      const sig = `${c.updated_at}|${c.state}`;
      if (receipts.get(c.id)?.sig === sig) continue;
      receipts.set(c.id, { sig, mine: receipts.get(c.id)?.mine ?? null });
      api.get(`/v1/conflicts/${encodeURIComponent(c.id)}/receipts`).then((res) => {
        const party = me.party;
        receipts.set(c.id, { sig, mine: (res.receipts ?? []).find((r) => r.party === party) ?? null });
        render();
      }).catch(() => {});
    }
  }

  function conflictCard(c) {
    const { mine, other } = sides(c);
    const left = mine ?? c.a;
    const right = other ?? c.b;
    const err = errors.get(c.id);
    const r = receipts.get(c.id)?.mine;
    const deadline = mine && !mine.acknowledged_at ? conflictDeadline(c) : null;
    const itemLine = (s) => el("div", { class: "wk-side" }, [
      el("span", { class: "wk-party" }, partyName(ctx, s.party)), " ",
      el("span", { class: "wk-kind" }, kindText(ctx, s.item.kind)), " ", bdi(s.item.title || s.item.id),
      s.item.callsign ? [" · ", bdi(s.item.callsign)] : null,
      s.acknowledged_at ? el("span", { class: "wk-ok" }, ` ${t("work.acked")}`) : null,
      s.accepted_at ? el("span", { class: "wk-ok" }, ` ${t("work.accepted")}`) : null,
    ].flat());
    const downParty = [c.a.party, c.b.party].find((p) => data.liveness.get(p)?.state === "down");
    const children = [
      el("div", { class: "wk-head" }, [
        el("span", { class: `wk-prec wk-prec-${c.precedence}` }, t(`work.prec.${c.precedence}`)),
        el("strong", {}, t("work.conflict")),
        el("span", { class: `wk-state wk-state-${c.state}` }, t(`work.cstate.${c.state}`)),
      ]),
      itemLine(left),
      el("div", { class: "wk-vs", "aria-hidden": "true" }, "⇅"),
      itemLine(right),
      el("div", {}, t("work.starts", { at: fmt.dateTime(c.time_start) })),
    ];
    if (c.worst_case) {
      children.push(el("div", { class: "wk-worst", "data-testid": "conflict-worst-case" },
        t("work.worst_case", { party: downParty ? partyName(ctx, downParty) : partyName(ctx, right.party) })));
    }
    if (c.state === "escalated" || (r && r.level > 0)) {
      children.push(el("div", { class: "wk-escalated", "data-testid": "conflict-escalation" },
        c.escalated_at ? t("work.escalated", { by: c.escalated_by === "scheduler" ? t("work.scheduler") : c.escalated_by ?? "?", at: fmt.dateTime(c.escalated_at) })
          : t(`work.escalated_to.${r.level}`)));
    }
    children.push(el("ul", { class: "wk-pairs" }, (c.volumes ?? []).map((d) => gapView(ctx, d))));
    if (deadline) children.push(el("div", { class: "wk-due" }, countdown(ctx, deadline)));
    else if (mine && mine.acknowledged_at) children.push(el("div", { class: "muted" }, t("work.waiting", { party: partyName(ctx, right.party) })));
    if (c.notes?.length) {
      children.push(el("ul", { class: "wk-notes" }, c.notes.map((nt) => el("li", { class: `wk-note wk-note-${nt.kind}` }, [
        el("div", { class: "muted" }, t(`work.note.${nt.kind}`, { party: partyName(ctx, nt.party), user: nt.user, at: fmt.dateTime(nt.at) })),
        el("div", {}, bdi(nt.text)),
      ]))));
    }
    const text = el("textarea", { rows: 2, "data-testid": "conflict-text", placeholder: t("work.text_placeholder"), "aria-label": t("work.text_placeholder") });
    text.value = texts.get(c.id) ?? "";
    text.addEventListener("input", () => texts.set(c.id, text.value));
    const b = (action, testid, label, extra = {}) => el("button", { type: "button", "data-testid": testid, disabled: busy.has(c.id) || extra.disabled, title: extra.title, class: extra.class, onclick: () => act(c, action, text) }, label);
    const isCommander = me.role === "commander";
    const actions = [];
    if (mine) {
      if (!mine.acknowledged_at) actions.push(b("acknowledge", "conflict-ack", t("work.action.ack"), { class: "primary" }));
      if (!mine.accepted_at) actions.push(b("accept", "conflict-accept", t("work.action.accept"), { disabled: !isCommander, title: isCommander ? undefined : t("work.accept_needs_commander") }));
      if (c.state !== "escalated") actions.push(b("escalate", "conflict-escalate", t("work.action.escalate"), { class: "danger" }));
    }
    actions.push(b("comment", "conflict-comment", t("work.action.comment")), b("propose", "conflict-propose", t("work.action.propose")));
    children.push(el("div", { class: "wk-compose" }, text));
    children.push(el("div", { class: "actions" }, [
      ...actions,
      err ? el("span", { class: "error", role: "alert", "data-testid": "conflict-error" }, errorText(ctx, err)) : null,
    ]));
    const card = el("article", { class: `card wk-row precedence-${c.precedence}`, "data-testid": "queue-conflict-row", "data-id": c.id, "data-state": c.state, tabindex: "0" }, children);
    card.addEventListener("click", (e) => { if (!e.target.closest("button, textarea, input, a")) bus.emit("select", { type: "conflict", id: c.id }); });
    return card;
  }

  async function act(c, action, textarea) {
    const text = textarea.value.trim();
    if ((action === "comment" || action === "propose") && !text) {
      errors.set(c.id, t("work.text_required")); render();
      return;
    }
    busy.add(c.id); errors.delete(c.id); render();
    try {
      const doc = await api.post(`/v1/conflicts/${encodeURIComponent(c.id)}/${action}`, { text: action === "comment" || action === "propose" ? text : null });
      if (action === "comment" || action === "propose") texts.delete(c.id);
      data.conflicts.set(doc.id, doc);
      const { mine, other } = sides(doc);
      remember(t(`work.done.${action}`, { title: (mine ?? doc.a).item.title || doc.id, other: (other ?? doc.b).item.title || "" }));
      busy.delete(c.id);
      bus.emit("data", { kind: "conflicts" });
      return;
    } catch (err) { errors.set(c.id, err); }
    busy.delete(c.id); render();
  }

  function remember(label) {
    done.unshift({ label, at: ctx.now() });
    done.length = Math.min(done.length, 8);
  }

  // -- rendering --
  function keyed(id, sig, build, fresh) {
    const cached = cards.get(id);
    let node;
    if (cached && cached.sig === sig) node = cached.node;
    else {
      node = build();
      // keep the focus (and the caret) in a field being typed in when its row is rebuilt
      const focused = cached?.node.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
      if (focused) queueMicrotask(() => node.querySelector(`[data-testid="${focused}"]`)?.focus());
    }
    cards.set(id, { sig, node, used: true });
    if (fresh) {
      node.classList.remove("wk-flash");
      void node.offsetWidth; // restart the animation
      node.classList.add("wk-flash");
    }
    return node;
  }

  // A section: its heading with the count badge (all rows), then its first rows, moved only where the
  // order changed (a row that stays put keeps the focus and caret of a field being typed in).  Only the
  // most urgent PAGE rows are built (a party may hold thousands of notices); "show more" adds a page.
  const PAGE = 25;
  const shown = { notices: PAGE, conflicts: PAGE, following: PAGE };
  const moreButtons = {};
  function section(host, titleKey, testid, total, rows, key) {
    if (!host.firstChild) host.append(el("h3", { class: "wk-h" }), el("div", { class: "wk-rows" }));
    const [head, list] = host.children;
    clear(head).append(t(titleKey), " ",
      el("span", { class: `wk-badge${total ? " wk-badge-on" : ""}`, "data-testid": `${testid}-count` }, fmt.number(total)));
    const want = rows.length ? [...rows] : [el("p", { class: "muted wk-empty", "data-testid": "queue-empty" }, t("work.empty"))];
    if (total > rows.length) {
      moreButtons[key] ??= el("button", { type: "button", class: "wk-more", "data-testid": `${testid}-more`,
        onclick: () => { shown[key] += PAGE; render(); } });
      moreButtons[key].textContent = t("work.queue.more", { n: fmt.number(total - rows.length) });
      want.push(moreButtons[key]);
    }
    want.forEach((node, i) => { if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null); });
    while (list.children.length > want.length) list.lastChild.remove();
  }

  const byUrgency = (dl) => (x, y) => {
    const a = dl(x);
    const b = dl(y);
    if (a && b && a !== b) return new Date(a) - new Date(b);
    if (a && !b) return -1;
    if (b && !a) return 1;
    return (PRECEDENCE_RANK[x.precedence] ?? 9) - (PRECEDENCE_RANK[y.precedence] ?? 9);
  };

  function render() {
    const lang = ctx.language();
    for (const c of cards.values()) c.used = false;
    const isNew = (id) => { const fresh = !first && !seen.has(id); seen.add(id); return fresh; };

    // notices
    const notices = [...data.notices.values()].filter((n) => !n.receipt?.acknowledged_at).sort(byUrgency(noticeDeadline));
    sections.notices.hidden = isMediator && notices.length === 0; // notices go to member parties
    section(sections.notices, "work.queue.notices", "queue-notices", notices.length, notices.slice(0, shown.notices).map((n) => {
      const item = data.items.get(n.item_id);
      const sig = JSON.stringify([lang, n, item?.title, item?.kind, item?.callsign, item?.time_start, item?.time_end, opened.get(n.id)?.version, String(errors.get(n.id)?.message ?? errors.get(n.id) ?? ""), busy.has(n.id)]);
      return keyed(n.id, sig, () => noticeCard(n), isNew(n.id));
    }), "notices");

    // conflicts
    const all = [...data.conflicts.values()];
    let waiting;
    let following = [];
    if (isMediator) {
      waiting = all.filter((c) => c.state === "escalated");
    } else {
      const mineOpen = all.filter((c) => sides(c).mine && !CLOSED.has(c.state));
      waiting = mineOpen.filter((c) => !sides(c).mine.acknowledged_at);
      following = mineOpen.filter((c) => sides(c).mine.acknowledged_at);
    }
    const startOf = (c) => c.time_start;
    waiting.sort(byUrgency((c) => conflictDeadline(c) ?? c.time_start));
    // the shown rows' deadlines from their receipts (the acknowledged ones have none left to meet)
    if (!isMediator) fetchReceipts(waiting.slice(0, shown.conflicts));
    following.sort((x, y) => new Date(startOf(x)) - new Date(startOf(y)));
    const conflictRow = (c) => {
      const down = [c.a.party, c.b.party].map((p) => data.liveness.get(p)?.state ?? "").join();
      const sig = JSON.stringify([lang, c, receipts.get(c.id)?.mine, policy ? 1 : 0, down, String(errors.get(c.id)?.message ?? errors.get(c.id) ?? ""), busy.has(c.id)]);
      return keyed(c.id, sig, () => conflictCard(c), isNew(c.id));
    };
    section(sections.conflicts, isMediator ? "work.queue.escalated" : "work.queue.conflicts", "queue-conflicts",
      waiting.length, waiting.slice(0, shown.conflicts).map(conflictRow), "conflicts");
    sections.following.hidden = isMediator;
    if (!isMediator) {
      section(sections.following, "work.queue.following", "queue-following", following.length,
        following.slice(0, shown.following).map(conflictRow), "following");
    }

    // done
    clear(sections.done);
    sections.done.hidden = done.length === 0;
    sections.done.append(el("h3", { class: "wk-h" }, t("work.queue.done")),
      el("ul", {}, done.map((d) => el("li", { "data-testid": "queue-done-row" }, [el("span", { class: "muted" }, fmt.utc(d.at)), " ", bdi(d.label)]))));

    for (const [id, c] of cards) if (!c.used) cards.delete(id);
    first = false;
  }

  // escalations of my receipts (the scheduler): patch the notice's / conflict's receipt in place
  bus.on("server-event", (ev) => {
    if (!ev.type?.startsWith("escalation.")) return;
    const p = ev.payload || {};
    if (p.party !== me.party) return;
    if (p.subject_type === "notice" && data.notices.has(p.subject_id)) {
      const n = data.notices.get(p.subject_id);
      data.notices.set(n.id, { ...n, deadline: p.deadline, receipt: { ...(n.receipt ?? {}), level: p.level, escalated_to: p.escalated_to, deadline: p.deadline } });
      render();
    } else if (p.subject_type === "conflict" && receipts.has(p.subject_id)) {
      const r = receipts.get(p.subject_id);
      receipts.set(p.subject_id, { sig: r.sig, mine: { ...(r.mine ?? {}), level: p.level, escalated_to: p.escalated_to, deadline: p.deadline } });
      render();
    }
  });
  bus.on("data", ({ kind }) => { if (["notices", "conflicts", "items", "liveness"].includes(kind)) render(); });
  bus.on("language", () => { cards.clear(); render(); });
  setInterval(() => { for (const node of root.querySelectorAll("[data-deadline]")) tickOne(ctx, node); }, 1000);
  render();
}
