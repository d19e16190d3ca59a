// The hotline panel: threads between the parties, catalogue messages read in one's own language,
// receipts, responses and deadlines (docs/hotline.md, docs/catalogue.md).
//
// Reading semantics: GET /v1/threads/{id} marks the thread's messages read for my party, so it is
// only called when the person opens a thread (a click on a row or on an alert's "open", or a
// `select` {type: "thread"} from another module; and again when the person switches language with
// the thread open).  The thread list (GET /v1/threads) and the pending list (GET /v1/messages?
// pending=true — marks messages *delivered*, which they are: the list shows them) are loaded at
// mount and on language change; afterwards everything follows the WebSocket's server events
// (thread.opened, thread.joined, message.sent with `renderings` in every language,
// message.acknowledged, message.answered), with a debounced GET /v1/threads for the counts.
//
// Bus: listens to `server-event`, `language`, `data` (ref pickers), `select` {type: "thread", id}
// (opens it) and `select` {type: "thread", id: null, link?: {type, id}, parties?: [id]} (starts a
// new thread prefilled: "open a thread about this conflict").  Emits `select` {type: "thread", id,
// source: "hotline"} when the person opens a thread (the shell shows the hotline tab), and `select`
// {type: link.type, id} when the person clicks a thread's link.
//
// data-testids:
//   hotline-tab-badge            on the shell's tab-hotline button: pending messages for my party;
//                                data-urgent="flash|immediate" when one is pending, class "alerting"
//                                while a live FLASH/IMMEDIATE message has not been seen
//   hotline-alerts               the fixed alert stack (role=alert) of live FLASH/IMMEDIATE messages
//   hotline-alert                one alert (data-message-id, data-thread-id, data-precedence)
//   hotline-alert-open / hotline-alert-dismiss
//   hotline-new-thread           button: compose a new thread
//   hotline-threads              the thread list;  hotline-empty  when there is none
//   hotline-thread-row           a thread (data-thread-id, data-precedence = most urgent pending,
//                                data-unread, data-unanswered); inside: hotline-thread-subject,
//                                hotline-thread-parties, hotline-thread-time, hotline-unread,
//                                hotline-unanswered, hotline-thread-precedence, hotline-thread-due
//   hotline-thread               the open thread (data-thread-id);  hotline-back  back to the list
//   hotline-thread-link          the thread's link (activity/zone/conflict/incident)
//   hotline-message-ref          a ref parameter of a message, by name (click: `select` it)
//   hotline-message              a message (data-message-id, data-code, data-precedence,
//                                data-mine="true|false", dir/lang of its rendering, data-new when it
//                                arrived live while the thread was open); inside:
//                                hotline-message-text (dir = rendered.direction), hotline-message-sender,
//                                hotline-message-time, hotline-message-precedence, hotline-message-code,
//                                hotline-untranslated, hotline-deadline (data-deadline),
//                                hotline-receipt (data-party, data-state = pending|delivered|read|
//                                acknowledged|answered), hotline-receipts-refresh,
//                                hotline-reply-<code> (response buttons: 501 WILCO … 508),
//                                hotline-ack (acknowledge), hotline-mark-read (live message: read it)
//   hotline-compose              the composer form (data-mode="new|thread")
//   hotline-party-<id>           checkbox: a party of a new thread
//   hotline-subject              subject of a new thread;  hotline-link  its optional link (select)
//   hotline-group                catalogue group select;  hotline-code  message select
//   hotline-in-reply-to          select: the message a response answers
//   hotline-slot-<name>          the slot's input (time: text "YYYY-MM-DD HH:MM" in UTC, 24-hour —
//                                "YYYY-MM-DDTHH:MM" accepted too; count/callsign/unit:
//                                input; ref: select; altitude/distance/duration: the number);
//                                position: the fieldset, with hotline-slot-<name>-lat / -lon inputs
//   hotline-slot-<name>-unit     unit select (altitude m|ft|fl, distance m|km|nm, duration min|h|s)
//   hotline-slot-<name>-ref      altitude reference select (amsl|agl|wgs84)
//   hotline-slot-<name>-local    the local time beside a time slot
//   hotline-text                 free text (code 901 only, marked "not translated")
//   hotline-precedence           precedence select (lower than the message's own: disabled)
//   hotline-preview              how the message reads in my language (dir of the catalogue language)
//   hotline-send / hotline-cancel
//   hotline-error                the composer's general error;  hotline-error-<field>  a field's
//                                error (field: parties, subject, link, code, in_reply_to, text,
//                                precedence, slot-<name>)
//   hotline-action-error         error of a response/acknowledge action in the thread view
import "./hotline.css";
import { el, clear, bdi } from "./dom.js";

const RANK = { flash: 4, immediate: 3, priority: 2, routine: 1 };
const PRECEDENCES = ["flash", "immediate", "priority", "routine"];
const ALERTING = new Set(["flash", "immediate"]);
const DEFAULT_ACK_S = { flash: 300, immediate: 900, priority: 3600, routine: 14400 };
const UNITS = {
  altitude: { m: 1, ft: 0.3048, fl: null },
  distance: { m: 1, km: 1000, nm: 1852 },
  duration: { min: 60, h: 3600, s: 1 },
};
const ALT_REFS = ["amsl", "agl", "wgs84"];
const FSI = "\u2068";
const PDI = "\u2069";

export function mountHotline(root, ctx) {
  const { api, bus, data, me, t, fmt } = ctx;
  const canWrite = (me.scopes || []).includes("messages:write") && me.party_role !== "observer";
  const canRead = (me.scopes || []).includes("messages:read");

  const S = {
    catalogue: null,
    entries: new Map(), // code → entry (my language)
    threads: new Map(), // id → thread doc (+ last_message, unread, unanswered)
    pending: new Map(), // message id → {thread_id, precedence, deadline}
    ackS: { ...DEFAULT_ACK_S },
    mode: "list", // list | thread | new
    open: null, // {thread, messages: [doc]}
    newIds: new Set(), // messages that arrived live in the open thread, not yet read
    compose: null,
    alerts: [], // {message, thread_id}
    actionError: null,
  };

  // ---- skeleton --------------------------------------------------------------------------
  const head = el("div", { class: "hl-head" });
  const listEl = el("div", { class: "hl-list", "data-testid": "hotline-threads" });
  const viewEl = el("div", { class: "hl-view" });
  const composeEl = el("div", { class: "hl-compose-wrap" });
  root.classList.add("hotline");
  root.append(head, listEl, viewEl, composeEl);
  const alertsEl = el("div", { class: "hl-alerts", role: "alert", "aria-live": "assertive", "data-testid": "hotline-alerts" });
  document.body.append(alertsEl);

  // ---- helpers ---------------------------------------------------------------------------
  const lang = () => ctx.language();
  const partyName = (id) => (id === "system" ? t("hotline.system") : data.parties.get(id)?.name ?? id);
  const precLabel = (p) => S.catalogue?.precedences.find((x) => x.id === p)?.label ?? String(p).toUpperCase();
  const rendering = (m) => m.rendered ?? (m.renderings ? { language: lang(), ...(m.renderings[lang()] ?? m.renderings.en) } : { text: "", direction: "ltr" });
  const isMine = (m) => m.sender?.party === me.party;
  const asks = (m) => m.response && m.response !== "none";
  function debounce(fn, ms) {
    let h = null;
    return () => { clearTimeout(h); h = setTimeout(fn, ms); };
  }
  function chip(p, testid) {
    return el("span", { class: `hl-prec hl-prec-${p}`, "data-testid": testid, "data-precedence": p }, precLabel(p));
  }
  function deadlineEl(deadline, testid = "hotline-deadline") {
    const span = el("span", { class: "hl-deadline", "data-testid": testid, "data-deadline": deadline });
    tickOne(span);
    return span;
  }
  function tickOne(span) {
    const s = (new Date(span.dataset.deadline) - ctx.now()) / 1000;
    span.textContent = s >= 0 ? t("hotline.due_in", { d: fmt.duration(s) }) : fmt.duration(s);
    span.classList.toggle("overdue", s < 0);
  }
  const ticker = setInterval(() => {
    for (const span of document.querySelectorAll(".hl-deadline[data-deadline]")) tickOne(span);
  }, 1000);
  void ticker;

  // Something I can refer to (ref slots, thread links): [{kind, id, label}] from what the page knows.
  function refOptions(kind) {
    const out = [];
    if (kind === "activity" || kind === "zone") {
      for (const it of data.items.values()) {
        if (it.type !== kind) continue;
        const extra = [partyName(it.party), it.callsign].filter(Boolean).join(", ");
        out.push({ kind, id: it.id, label: `${it.title ?? it.id} (${extra})` });
      }
    } else if (kind === "conflict") {
      for (const c of data.conflicts.values()) {
        if (c.state && !["open", "acknowledged", "accepted", "escalated"].includes(c.state) && c.closed_at) continue;
        out.push({ kind, id: c.id, label: `${c.a?.item?.title ?? "?"} ↔ ${c.b?.item?.title ?? "?"} (${partyName(c.a?.party)}/${partyName(c.b?.party)})` });
      }
    } else if (kind === "incident") {
      for (const i of data.incidents.values()) out.push({ kind, id: i.id, label: i.title ?? i.id });
    } else if (kind === "party") {
      for (const p of data.parties.values()) out.push({ kind, id: p.id, label: p.name ?? p.id });
    }
    return out.sort((a, b) => a.label.localeCompare(b.label));
  }
  function refLabel(kind, id) {
    const found = refOptions(kind).find((o) => o.id === id);
    return found ? found.label : id;
  }

  // ---- loading ---------------------------------------------------------------------------
  async function loadCatalogue() {
    S.catalogue = await api.get("/v1/catalogue", { language: lang() });
    S.entries = new Map(S.catalogue.entries.map((e) => [e.code, e]));
  }
  async function loadThreads() {
    const list = await api.all("/v1/threads", { language: lang() }, "threads", 1000);
    const fresh = new Map(list.map((th) => [th.id, th]));
    S.threads = fresh;
  }
  async function loadPending() {
    const list = await api.all("/v1/messages", { pending: true, language: lang() }, "messages", 1000);
    S.pending = new Map(list.filter(asks).map((m) => [m.id, { thread_id: m.thread_id, precedence: m.precedence, deadline: m.receipt?.deadline ?? null }]));
  }
  async function loadAll() {
    if (!canRead) { renderAll(); return; }
    try {
      await Promise.all([loadCatalogue(), loadThreads(), loadPending()]);
    } catch (err) {
      S.loadError = err.message;
    }
    renderAll();
  }
  const refreshThreads = debounce(async () => {
    try { await loadThreads(); } catch { return; }
    renderList();
  }, 250);

  // ---- the tab badge and the alerts --------------------------------------------------------
  function renderBadge() {
    const tab = document.querySelector('[data-testid="tab-hotline"]');
    if (!tab) return;
    let badge = tab.querySelector(".hl-badge");
    if (!badge) {
      badge = el("span", { class: "hl-badge", "data-testid": "hotline-tab-badge" });
      tab.append(" ", badge);
    }
    const pending = [...S.pending.values()];
    const top = pending.reduce((best, p) => (RANK[p.precedence] > RANK[best] ? p.precedence : best), "routine");
    badge.textContent = pending.length ? fmt.number(pending.length) : "";
    badge.hidden = pending.length === 0 && S.alerts.length === 0;
    if (S.alerts.length && !pending.length) badge.textContent = "!";
    if (pending.length && ALERTING.has(top)) badge.dataset.urgent = top; else delete badge.dataset.urgent;
    badge.classList.toggle("alerting", S.alerts.length > 0);
    tab.classList.toggle("hl-tab-alerting", S.alerts.length > 0);
    badge.setAttribute("aria-label", t("hotline.badge", { n: pending.length }));
  }
  const tabsObserver = new MutationObserver(() => renderBadge());
  const tabsNav = document.querySelector("nav.tabs");
  if (tabsNav) tabsObserver.observe(tabsNav, { childList: true });

  function renderAlerts() {
    clear(alertsEl);
    for (const a of S.alerts) {
      const r = rendering(a.message);
      alertsEl.append(el("div", {
        class: `hl-alert hl-alert-${a.message.precedence}`, "data-testid": "hotline-alert",
        "data-message-id": a.message.id, "data-thread-id": a.thread_id, "data-precedence": a.message.precedence,
      }, [
        el("div", { class: "hl-alert-head" }, [
          chip(a.message.precedence, "hotline-alert-precedence"), " ",
          el("strong", {}, t("hotline.alert_from", { party: partyName(a.message.sender?.party) })), " ",
          el("span", { class: "muted" }, fmt.time(a.message.at)),
        ]),
        el("p", { dir: r.direction, lang: r.language ?? lang(), class: "hl-alert-text" }, r.text),
        el("div", { class: "actions" }, [
          el("button", { type: "button", class: "primary", "data-testid": "hotline-alert-open", onclick: () => openThread(a.thread_id, { person: true }) }, t("hotline.open")),
          el("button", { type: "button", "data-testid": "hotline-alert-dismiss", onclick: () => { S.alerts = S.alerts.filter((x) => x !== a); renderAlerts(); renderBadge(); } }, t("hotline.dismiss")),
        ]),
      ]));
    }
    alertsEl.hidden = S.alerts.length === 0;
  }

  // ---- the thread list -------------------------------------------------------------------
  function threadUrgency(th) {
    let best = null;
    let due = null;
    for (const p of S.pending.values()) {
      if (p.thread_id !== th.id) continue;
      if (!best || RANK[p.precedence] > RANK[best]) best = p.precedence;
      if (p.deadline && (!due || p.deadline < due)) due = p.deadline;
    }
    return { precedence: best, deadline: due };
  }
  const recency = (th) => th.last_message?.at ?? th.updated_at ?? th.created_at ?? "";

  function renderHead() {
    clear(head);
    head.append(el("h2", {}, t("hotline.title")));
    if (canWrite && S.mode === "list") {
      head.append(el("button", { type: "button", class: "primary", "data-testid": "hotline-new-thread", onclick: () => startNew({}) }, t("hotline.new_thread")));
    }
  }

  function renderList() {
    renderBadge();
    listEl.hidden = S.mode !== "list";
    clear(listEl);
    if (S.mode !== "list") return;
    if (!canRead) { listEl.append(el("p", { class: "muted" }, t("hotline.no_access"))); return; }
    if (S.loadError) listEl.append(el("p", { class: "error", role: "alert" }, S.loadError));
    const rows = [...S.threads.values()].map((th) => ({ th, u: threadUrgency(th) }));
    rows.sort((a, b) => (RANK[b.u.precedence] ?? 0) - (RANK[a.u.precedence] ?? 0)
      || ((b.th.unanswered > 0) - (a.th.unanswered > 0))
      || recency(b.th).localeCompare(recency(a.th)));
    if (!rows.length) { listEl.append(el("p", { class: "muted", "data-testid": "hotline-empty" }, t("hotline.empty"))); return; }
    for (const { th, u } of rows) {
      const others = (th.parties || []).map((p) => p.party);
      const last = th.last_message;
      const r = last ? rendering(last) : null;
      listEl.append(el("button", {
        type: "button",
        class: `hl-row card${u.precedence ? ` precedence-${u.precedence}` : ""}${th.unread ? " hl-unread" : ""}`,
        "data-testid": "hotline-thread-row", "data-thread-id": th.id, "data-precedence": u.precedence ?? "",
        "data-unread": th.unread ?? 0, "data-unanswered": th.unanswered ?? 0,
        onclick: () => openThread(th.id, { person: true }),
      }, [
        el("span", { class: "hl-row-top" }, [
          el("span", { class: "hl-row-subject", "data-testid": "hotline-thread-subject" },
            th.subject ? bdi(th.subject) : th.system ? t("hotline.system_thread") : t("hotline.no_subject")),
          u.precedence ? chip(u.precedence, "hotline-thread-precedence") : null,
        ]),
        el("span", { class: "hl-row-meta muted" }, [
          el("span", { "data-testid": "hotline-thread-parties" }, others.map(partyName).join(" · ")),
          last ? el("span", { "data-testid": "hotline-thread-time" }, fmt.time(last.at)) : null,
        ]),
        r ? el("span", { class: "hl-row-last", dir: r.direction, lang: r.language ?? lang() }, r.text) : null,
        el("span", { class: "hl-row-counts" }, [
          th.unread ? el("span", { class: "hl-count hl-count-unread", "data-testid": "hotline-unread" }, t("hotline.unread", { n: fmt.number(th.unread) })) : null,
          th.unanswered ? el("span", { class: "hl-count hl-count-unanswered", "data-testid": "hotline-unanswered" }, t("hotline.unanswered", { n: fmt.number(th.unanswered) })) : null,
          u.deadline ? deadlineEl(u.deadline, "hotline-thread-due") : null,
        ]),
      ]));
    }
  }

  // ---- a thread --------------------------------------------------------------------------
  async function openThread(id, { person = false } = {}) {
    if (!id) return;
    S.alerts = S.alerts.filter((a) => a.thread_id !== id);
    renderAlerts();
    if (person) bus.emit("select", { type: "thread", id, source: "hotline" });
    let doc;
    try {
      const messages = [];
      let cursor = null;
      do {
        const page = await api.get(`/v1/threads/${encodeURIComponent(id)}`, { language: lang(), limit: 1000, cursor });
        doc = page;
        messages.push(...page.messages);
        cursor = page.next_cursor ?? null;
      } while (cursor);
      doc = { thread: doc.thread, messages };
    } catch (err) {
      S.actionError = err.message;
      renderView();
      return;
    }
    S.mode = "thread";
    S.open = doc;
    S.newIds.clear();
    S.actionError = null;
    const th = S.threads.get(id);
    if (th) th.unread = 0;
    S.compose = newCompose("thread");
    renderAll();
    refreshThreads();
    viewEl.querySelector(".hl-messages")?.lastElementChild?.scrollIntoView?.({ block: "nearest" });
  }

  function backToList() {
    S.mode = "list";
    S.open = null;
    S.compose = null;
    S.actionError = null;
    renderAll();
  }

  function receiptState(r) {
    if (r.answered_at) return "answered";
    if (r.acknowledged_at) return "acknowledged";
    if (r.read_at) return "read";
    if (r.delivered_at) return "delivered";
    return "pending";
  }

  function receiptEl(r) {
    const stage = (key, at, by) => (at ? el("span", { class: `hl-stage hl-stage-${key}` }, [
      t(`hotline.receipt.${key}`, { time: fmt.time(at) }), by ? [" ", t("hotline.receipt.by"), " ", bdi(by)] : null,
    ].flat()) : null);
    const state = receiptState(r);
    return el("div", { class: `hl-receipt hl-receipt-${state}`, "data-testid": "hotline-receipt", "data-party": r.party, "data-state": state }, [
      el("strong", {}, partyName(r.party)), ": ",
      state === "pending" ? el("span", { class: "muted" }, t("hotline.receipt.pending")) : null,
      stage("delivered", r.delivered_at, r.delivered_to),
      stage("read", r.read_at, r.read_by),
      stage("acknowledged", r.acknowledged_at, r.acknowledged_by),
      stage("answered", r.answered_at, r.answered_by),
      r.level > 0 ? el("span", { class: "hl-stage overdue" }, t("hotline.receipt.escalated", { to: r.escalated_to ?? "?" })) : null,
    ]);
  }

  function responsesFor(m) {
    if (!S.catalogue || !asks(m)) return [];
    return S.catalogue.entries.filter((e) => e.group === "response" && e.answers.includes(m.response));
  }

  function messageEl(m) {
    const r = rendering(m);
    const mine = isMine(m);
    const myReceipt = m.receipt && m.receipt.party === me.party ? m.receipt : null;
    const open = myReceipt && asks(m) && !myReceipt.answered_at && !(m.response === "roger" && myReceipt.acknowledged_at);
    const needsAck = myReceipt && asks(m) && !myReceipt.acknowledged_at;
    const replyTo = m.in_reply_to ? S.open?.messages.find((x) => x.id === m.in_reply_to) : null;
    const children = [
      el("div", { class: "hl-msg-head" }, [
        el("span", { class: "hl-sender", "data-testid": "hotline-message-sender" }, [
          el("strong", {}, partyName(m.sender?.party)), m.sender?.user ? [" · ", bdi(m.sender.user)] : null,
        ].flat()),
        el("span", { class: "muted", "data-testid": "hotline-message-time" }, fmt.dateTime(m.at)),
        chip(m.precedence, "hotline-message-precedence"),
        el("span", { class: "hl-code", "data-testid": "hotline-message-code" }, `#${m.code}`),
        S.newIds.has(m.id) ? el("span", { class: "hl-new" }, t("hotline.new")) : null,
      ]),
      replyTo ? el("div", { class: "hl-inreply muted" }, t("hotline.in_reply_to", { code: replyTo.code, time: fmt.time(replyTo.at) })) : null,
      el("p", { class: "hl-msg-text", dir: r.direction, lang: r.language ?? lang(), "data-testid": "hotline-message-text" }, r.text),
      m.untranslated ? el("div", { class: "hl-untranslated", "data-testid": "hotline-untranslated" }, t("hotline.untranslated")) : null,
      m.link ? el("div", { class: "muted" }, [t("hotline.link"), " ", linkButton(m.link)]) : null,
      refsEl(m),
    ];
    const receipts = mine ? m.receipts : myReceipt ? [myReceipt] : null;
    if (receipts?.length) children.push(el("div", { class: "hl-receipts" }, receipts.map(receiptEl)));
    if (mine && m.receipts !== undefined) {
      children.push(el("button", { type: "button", class: "hl-linkish", "data-testid": "hotline-receipts-refresh", onclick: () => refreshReceipts(m) }, t("hotline.receipts_refresh")));
    }
    if (open && myReceipt.deadline) children.push(el("div", { class: "hl-due" }, [t("hotline.response_due"), " ", deadlineEl(myReceipt.deadline)]));
    if (!mine && canWrite && (open || needsAck || S.newIds.has(m.id))) {
      const actions = el("div", { class: "actions" });
      if (open) {
        for (const e of responsesFor(m)) {
          actions.append(el("button", {
            type: "button", class: e.closes ? "primary" : "", "data-testid": `hotline-reply-${e.code}`,
            onclick: () => respond(m, e),
          }, e.slots.length ? `${e.text.replace(/\{\w+\}/g, "…")}` : e.text));
        }
      }
      if (needsAck) actions.append(el("button", { type: "button", "data-testid": "hotline-ack", onclick: () => acknowledge(m) }, t("hotline.acknowledge")));
      if (S.newIds.has(m.id)) actions.append(el("button", { type: "button", "data-testid": "hotline-mark-read", onclick: () => markRead(m) }, t("hotline.mark_read")));
      children.push(actions);
    }
    return el("article", {
      class: `hl-msg card precedence-${m.precedence}${mine ? " hl-mine" : ""}`, "data-testid": "hotline-message",
      "data-message-id": m.id, "data-code": m.code, "data-precedence": m.precedence, "data-mine": String(mine),
      "data-new": S.newIds.has(m.id) ? "true" : null,
    }, children);
  }

  // What a message's ref slots point at, by name (the rendering shows the bare id).
  function refsEl(m) {
    const e = S.entries.get(m.code);
    const refs = (e?.slots || []).filter((s) => s.type === "ref" && m.params?.[s.name]);
    if (!refs.length) return null;
    return el("div", { class: "hl-refs" }, refs.map((s) => {
      const id = m.params[s.name];
      const kind = (s.kinds || []).map((k) => k.id).find((k) => refOptions(k).some((o) => o.id === id));
      if (!kind) return null;
      const label = refLabel(kind, id);
      return kind === "party" ? el("span", { class: "muted" }, [`${s.label}: `, bdi(label)])
        : el("button", { type: "button", class: "hl-linkish", "data-testid": "hotline-message-ref", onclick: () => bus.emit("select", { type: kind, id }) }, [`${s.label}: `, bdi(label)]);
    }));
  }

  function linkButton(link) {
    const label = ["activity", "zone", "conflict", "incident"].includes(link.type) ? refLabel(link.type, link.id) : link.id;
    return el("button", { type: "button", class: "hl-linkish", "data-testid": "hotline-thread-link", onclick: () => bus.emit("select", { type: link.type, id: link.id }) },
      [t(`hotline.kind.${link.type}`), ": ", bdi(label)]);
  }

  function renderView() {
    viewEl.hidden = S.mode !== "thread";
    clear(viewEl);
    if (S.mode !== "thread" || !S.open) {
      if (S.actionError && S.mode === "list") {
        viewEl.hidden = false;
        viewEl.append(el("p", { class: "error", role: "alert", "data-testid": "hotline-action-error" }, S.actionError));
      }
      return;
    }
    const th = S.open.thread;
    viewEl.append(el("div", { class: "hl-thread", "data-testid": "hotline-thread", "data-thread-id": th.id }, [
      el("div", { class: "hl-thread-head" }, [
        el("button", { type: "button", "data-testid": "hotline-back", onclick: backToList }, t("hotline.back")),
        el("h3", {}, th.subject ? bdi(th.subject) : th.system ? t("hotline.system_thread") : t("hotline.no_subject")),
      ]),
      el("div", { class: "muted" }, t("hotline.parties", { parties: (th.parties || []).map((p) => partyName(p.party)).join(" · ") })),
      th.link ? el("div", {}, linkButton(th.link)) : null,
      S.actionError ? el("p", { class: "error", role: "alert", "data-testid": "hotline-action-error" }, S.actionError) : null,
      el("div", { class: "hl-messages" }, S.open.messages.map(messageEl)),
    ]));
  }

  async function refreshReceipts(m) {
    try {
      const doc = await api.get(`/v1/messages/${encodeURIComponent(m.id)}/receipts`);
      m.receipts = doc.receipts;
      S.actionError = null;
    } catch (err) {
      S.actionError = err.message;
    }
    renderView();
  }

  async function markRead(m) {
    try {
      const doc = await api.get(`/v1/messages/${encodeURIComponent(m.id)}`, { language: lang() });
      replaceMessage(doc);
      S.newIds.delete(m.id);
      S.actionError = null;
    } catch (err) {
      S.actionError = err.message;
    }
    renderView();
    refreshThreads();
  }

  async function acknowledge(m) {
    try {
      const doc = await api.post(`/v1/messages/${encodeURIComponent(m.id)}/acknowledge`, {});
      replaceMessage(doc);
      S.newIds.delete(m.id);
      S.pending.delete(m.id);
      S.actionError = null;
    } catch (err) {
      S.actionError = err.message;
    }
    renderView();
    renderList();
    refreshThreads();
  }

  async function respond(m, entry) {
    if (entry.slots.length) {
      // A response with slots (507 "UNABLE — can do at {time}"): the composer, preset.
      S.compose = newCompose("thread");
      S.compose.group = "response";
      S.compose.inReplyTo = m.id;
      setCode(entry.code);
      renderCompose();
      composeEl.scrollIntoView?.({ block: "nearest" });
      return;
    }
    try {
      const res = await api.post(`/v1/threads/${encodeURIComponent(m.thread_id)}/messages`, { code: entry.code, params: {}, in_reply_to: m.id });
      addMessage(res.message ?? res);
      S.newIds.delete(m.id);
      S.actionError = null;
    } catch (err) {
      S.actionError = err.field ? `${err.field}: ${err.problem?.reason ?? err.message}` : err.message;
    }
    renderView();
    refreshThreads();
  }

  function replaceMessage(doc) {
    if (!S.open) return;
    const i = S.open.messages.findIndex((x) => x.id === doc.id);
    if (i >= 0) S.open.messages[i] = { ...S.open.messages[i], ...doc };
  }
  function addMessage(doc) {
    if (!S.open || doc.thread_id !== S.open.thread.id) return;
    const i = S.open.messages.findIndex((x) => x.id === doc.id);
    if (i >= 0) {
      const old = S.open.messages[i];
      S.open.messages[i] = { ...old, ...doc, receipt: doc.receipt ?? old.receipt, receipts: doc.receipts ?? old.receipts, rendered: doc.rendered ?? old.rendered };
    } else {
      S.open.messages.push(doc);
    }
  }

  // ---- composing -------------------------------------------------------------------------
  function newCompose(mode, preset = {}) {
    return {
      mode, group: "", code: null, values: {}, precedence: null, text: "", inReplyTo: null,
      parties: new Set(preset.parties || []), subject: preset.subject || "", link: preset.link ? `${preset.link.type}:${preset.link.id}` : "",
      errors: {}, error: null, busy: false,
    };
  }

  function startNew(preset) {
    S.mode = "new";
    S.open = null;
    S.compose = newCompose("new", preset);
    if (preset.link?.type === "conflict" && !preset.parties) {
      const c = data.conflicts.get(preset.link.id);
      for (const p of [c?.a?.party, c?.b?.party]) if (p && p !== me.party) S.compose.parties.add(p);
    }
    renderAll();
  }

  function setCode(code) {
    const c = S.compose;
    c.code = code;
    c.values = {};
    c.errors = {};
    c.error = null;
    const e = S.entries.get(code);
    c.precedence = e ? e.precedence : null;
  }

  function openQuestions() {
    // Messages from other parties in the open thread that still await my party's answer.
    if (!S.open) return [];
    return S.open.messages.filter((m) => !isMine(m) && asks(m) && m.receipt?.party === me.party && !m.receipt.answered_at);
  }

  function fieldError(key) {
    const msg = S.compose?.errors[key];
    return el("div", { class: "error hl-field-error", "data-testid": `hotline-error-${key}`, hidden: !msg, role: msg ? "alert" : null }, msg || "");
  }

  function slotInput(slot) {
    const c = S.compose;
    const v = c.values[slot.name] ?? (c.values[slot.name] = {});
    const id = `hotline-slot-${slot.name}`;
    const upd = (k) => (e) => { v[k] = e.target.value; if (slot.type === "time") updateLocal(); renderPreview(); };
    let control;
    let localSpan = null;
    const updateLocal = () => {
      if (!localSpan) return;
      const iso = toUtc(v.value);
      localSpan.textContent = iso ? fmt.dateTime(iso) : t("hotline.utc_hint");
      localSpan.classList.toggle("hl-bad", Boolean(v.value) && !iso);
    };
    switch (slot.type) {
      case "time":
        // A text field, not datetime-local: the browser's widget follows its own locale (12-hour
        // in en-US), and times here are always 24-hour UTC.
        localSpan = el("span", { class: "muted hl-local", "data-testid": `${id}-local` });
        control = el("span", { class: "hl-inline" }, [
          el("input", { type: "text", inputmode: "numeric", placeholder: "YYYY-MM-DD HH:MM", size: 17, maxlength: 19, value: v.value ?? "",
            "data-testid": id, "aria-label": `${slot.label} (UTC)`, oninput: upd("value"), dir: "ltr", autocomplete: "off", spellcheck: "false" }),
          el("span", { class: "hl-utc" }, "UTC"), localSpan,
        ]);
        updateLocal();
        break;
      case "position":
        control = el("fieldset", { class: "hl-inline hl-position", "data-testid": id }, [
          el("label", {}, [t("hotline.lat"), el("input", { type: "number", step: "any", min: -90, max: 90, value: v.lat ?? "", "data-testid": `${id}-lat`, oninput: upd("lat"), dir: "ltr" })]),
          el("label", {}, [t("hotline.lon"), el("input", { type: "number", step: "any", min: -180, max: 180, value: v.lon ?? "", "data-testid": `${id}-lon`, oninput: upd("lon"), dir: "ltr" })]),
        ]);
        break;
      case "altitude": case "distance": case "duration": {
        v.unit ??= Object.keys(UNITS[slot.type])[0];
        if (slot.type === "altitude") v.ref ??= "amsl";
        const refSel = slot.type === "altitude"
          ? el("select", { "data-testid": `${id}-ref`, "aria-label": t("hotline.altitude_ref"), hidden: v.unit === "fl", onchange: upd("ref") },
            ALT_REFS.map((r) => el("option", { value: r, selected: v.ref === r }, r.toUpperCase())))
          : null;
        control = el("span", { class: "hl-inline" }, [
          el("input", { type: "number", step: "any", min: 0, value: v.value ?? "", "data-testid": id, "aria-label": slot.label, oninput: upd("value"), dir: "ltr" }),
          el("select", { "data-testid": `${id}-unit`, "aria-label": t("hotline.unit"), onchange: (e) => { v.unit = e.target.value; if (refSel) refSel.hidden = v.unit === "fl"; renderPreview(); } },
            Object.keys(UNITS[slot.type]).map((u) => el("option", { value: u, selected: v.unit === u }, t(`hotline.u.${u}`)))),
          refSel,
        ]);
        break;
      }
      case "count":
        control = el("input", { type: "number", step: 1, min: 0, value: v.value ?? "", "data-testid": id, oninput: upd("value"), dir: "ltr" });
        break;
      case "callsign":
        control = el("input", { type: "text", maxlength: 16, pattern: "[A-Za-z0-9\\-]{2,16}", value: v.value ?? "", "data-testid": id, oninput: upd("value"), dir: "ltr", autocomplete: "off" });
        break;
      case "unit":
        control = el("input", { type: "text", maxlength: 100, value: v.value ?? "", "data-testid": id, oninput: upd("value"), dir: "auto", autocomplete: "off" });
        break;
      case "ref": {
        const kinds = slot.kinds || [];
        const groups = kinds.map((k) => ({ k, opts: refOptions(k.id) }));
        control = el("select", { "data-testid": id, onchange: upd("value") }, [
          el("option", { value: "" }, t("hotline.choose")),
          ...groups.map(({ k, opts }) => el("optgroup", { label: k.label }, opts.length
            ? opts.map((o) => el("option", { value: o.id, selected: v.value === o.id }, o.label))
            : [el("option", { value: "", disabled: true }, t("hotline.none_visible"))])),
        ]);
        break;
      }
      default:
        control = el("input", { type: "text", value: v.value ?? "", "data-testid": id, oninput: upd("value") });
    }
    return el("div", { class: "hl-field" }, [
      el("label", { class: "hl-label" }, [slot.label, " ", el("span", { class: "muted" }, `· ${S.catalogue.slot_types.find((s) => s.id === slot.type)?.label ?? slot.type}`)]),
      control,
      fieldError(`slot-${slot.name}`),
    ]);
  }

  // "2026-11-25 14:05" or "2026-11-25T14:05[:ss]" typed as UTC → "2026-11-25T14:05:00Z"; null if not that.
  function toUtc(typed) {
    const m = /^\s*(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?\s*Z?\s*$/i.exec(typed || "");
    if (!m) return null;
    const s = `${m[1]}T${m[2]}${m[3] ?? ":00"}Z`;
    return Number.isNaN(Date.parse(s)) ? null : s;
  }
  const num = (x) => (x === undefined || x === null || x === "" ? null : Number(x));

  // The slot's value as the API wants it (docs/catalogue.md), or undefined when not filled.
  function slotValue(slot) {
    const v = S.compose.values[slot.name] || {};
    switch (slot.type) {
      case "time": return v.value ? toUtc(v.value) ?? v.value : undefined; // a malformed one: the server names it
      case "position": {
        const lat = num(v.lat), lon = num(v.lon);
        return lat === null && lon === null ? undefined : { lat, lon };
      }
      case "altitude": {
        const n = num(v.value);
        if (n === null) return undefined;
        if (v.unit === "fl") return { fl: Math.round(n) };
        return { m: Math.round(n * UNITS.altitude[v.unit] * 10) / 10, ref: v.ref || "amsl" };
      }
      case "distance": case "duration": {
        const n = num(v.value);
        return n === null ? undefined : n * UNITS[slot.type][v.unit];
      }
      case "count": { const n = num(v.value); return n === null ? undefined : Number.isInteger(n) ? n : v.value; }
      case "callsign": return v.value ? v.value.trim().toUpperCase() : undefined;
      default: return v.value ? v.value : undefined;
    }
  }

  // The value as the preview shows it (an approximation of the server's rendering).
  function slotText(slot) {
    const v = S.compose.values[slot.name] || {};
    const val = slotValue(slot);
    if (val === undefined) return null;
    switch (slot.type) {
      case "time": return toUtc(v.value) ? fmt.dateTime(val) : null;
      case "position": {
        if (val.lat === null || val.lon === null) return null;
        return `${fmt.number(Math.abs(val.lat), 4)}°${val.lat < 0 ? "S" : "N"} ${fmt.number(Math.abs(val.lon), 4)}°${val.lon < 0 ? "W" : "E"}`;
      }
      case "altitude": return val.fl !== undefined ? `FL${fmt.number(val.fl)}` : `${fmt.number(Number(v.value), 1)} ${t(`hotline.u.${v.unit}`)} ${val.ref.toUpperCase()}`;
      case "distance": case "duration": return `${fmt.number(Number(v.value), 2)} ${t(`hotline.u.${v.unit}`)}`;
      case "count": return fmt.number(Number(v.value));
      case "ref": {
        for (const k of slot.kinds || []) { const o = refOptions(k.id).find((x) => x.id === val); if (o) return o.label; }
        return val;
      }
      default: return String(val);
    }
  }

  let previewEl = null;
  function renderPreview() {
    const c = S.compose;
    if (!previewEl || !c) return;
    clear(previewEl);
    const e = S.entries.get(c.code);
    if (!e) { previewEl.hidden = true; return; }
    previewEl.hidden = false;
    previewEl.dir = S.catalogue.language.direction;
    previewEl.lang = S.catalogue.language.code;
    const body = el("p", { class: "hl-preview-text" });
    const parts = e.text.split(/\{(\w+)\}/);
    parts.forEach((part, i) => {
      if (i % 2 === 0) { if (part) body.append(part); return; }
      const slot = e.slots.find((s) => s.name === part);
      const txt = slot ? slotText(slot) : null;
      body.append(txt === null
        ? el("span", { class: "hl-placeholder" }, `[${slot?.label ?? part}]`)
        : el("bdi", { class: "hl-filled" }, txt));
    });
    if (e.code === 901 || c.text) body.append(" ", el("bdi", { class: "hl-filled", dir: "auto" }, c.text || "…"));
    previewEl.append(el("div", { class: "muted hl-preview-label" }, t("hotline.preview")), body,
      el("div", { class: "muted hl-preview-note" }, t("hotline.preview_note")));
  }

  function renderCompose() {
    clear(composeEl);
    previewEl = null;
    const c = S.compose;
    if (!c || !canWrite || !S.catalogue || S.mode === "list") return;
    const isNew = c.mode === "new";
    const questions = isNew ? [] : openQuestions();
    const groups = S.catalogue.groups.filter((g) => (g.id === "response" ? questions.length > 0 : true) && g.codes.length);
    const entry = S.entries.get(c.code);
    const form = el("form", { class: "hl-compose card", "data-testid": "hotline-compose", "data-mode": c.mode, novalidate: true });
    form.append(el("h3", {}, isNew ? t("hotline.new_thread") : t("hotline.compose")));

    if (isNew) {
      const candidates = [...data.parties.values()].filter((p) => p.id !== me.party && (p.role === "member" || p.role === "mediator"));
      form.append(el("fieldset", { class: "hl-field hl-parties" }, [
        el("legend", {}, t("hotline.to")),
        ...candidates.map((p) => el("label", { class: "hl-check" }, [
          el("input", { type: "checkbox", "data-testid": `hotline-party-${p.id}`, checked: c.parties.has(p.id),
            onchange: (ev) => { if (ev.target.checked) c.parties.add(p.id); else c.parties.delete(p.id); } }),
          p.name ?? p.id, p.role === "mediator" ? el("span", { class: "muted" }, ` (${t("hotline.mediator")})`) : null,
        ])),
        fieldError("parties"),
      ]));
      form.append(el("div", { class: "hl-field" }, [
        el("label", { class: "hl-label" }, t("hotline.subject")),
        el("input", { type: "text", maxlength: 200, value: c.subject, "data-testid": "hotline-subject", dir: "auto", oninput: (ev) => { c.subject = ev.target.value; } }),
        fieldError("subject"),
      ]));
      const kinds = ["conflict", "activity", "zone", "incident"];
      form.append(el("div", { class: "hl-field" }, [
        el("label", { class: "hl-label" }, t("hotline.about")),
        el("select", { "data-testid": "hotline-link", onchange: (ev) => { c.link = ev.target.value; onLinkChange(); } }, [
          el("option", { value: "" }, t("hotline.about_nothing")),
          ...kinds.map((k) => { const opts = refOptions(k); return opts.length ? el("optgroup", { label: t(`hotline.kind.${k}`) }, opts.map((o) => el("option", { value: `${k}:${o.id}`, selected: c.link === `${k}:${o.id}` }, o.label))) : null; }),
        ]),
        fieldError("link"),
      ]));
    }

    form.append(el("div", { class: "hl-field" }, [
      el("label", { class: "hl-label" }, t("hotline.group")),
      el("select", { "data-testid": "hotline-group", onchange: (ev) => { c.group = ev.target.value; setCode(null); renderCompose(); } }, [
        el("option", { value: "" }, t("hotline.choose")),
        ...groups.map((g) => el("option", { value: g.id, selected: c.group === g.id }, g.id === "free" ? t("hotline.free_group", { label: g.label }) : g.label)),
      ]),
    ]));
    if (c.group) {
      const g = S.catalogue.groups.find((x) => x.id === c.group);
      let codes = g ? g.codes.map((code) => S.entries.get(code)).filter(Boolean) : [];
      if (c.group === "response") {
        const q = S.open?.messages.find((m) => m.id === c.inReplyTo);
        if (q) codes = codes.filter((e) => e.answers.includes(q.response));
      }
      form.append(el("div", { class: "hl-field" }, [
        el("label", { class: "hl-label" }, t("hotline.message")),
        el("select", { "data-testid": "hotline-code", dir: S.catalogue.language.direction, onchange: (ev) => { setCode(ev.target.value ? Number(ev.target.value) : null); renderCompose(); } }, [
          el("option", { value: "" }, t("hotline.choose")),
          ...codes.map((e) => el("option", { value: e.code, selected: c.code === e.code },
            `${e.code} · ${e.text.replace(/\{(\w+)\}/g, (m0, name) => `[${e.slots.find((s) => s.name === name)?.label ?? name}]`)}`)),
        ]),
        fieldError("code"),
      ]));
    }
    if (c.group === "response") {
      if (!c.inReplyTo && questions.length) c.inReplyTo = questions[questions.length - 1].id;
      form.append(el("div", { class: "hl-field" }, [
        el("label", { class: "hl-label" }, t("hotline.reply_to")),
        el("select", { "data-testid": "hotline-in-reply-to", onchange: (ev) => { c.inReplyTo = ev.target.value; renderCompose(); } },
          questions.map((m) => el("option", { value: m.id, selected: c.inReplyTo === m.id }, `#${m.code} · ${fmt.time(m.at)} · ${rendering(m).text.slice(0, 80)}`))),
        fieldError("in_reply_to"),
      ]));
    }
    if (entry) {
      for (const slot of entry.slots) form.append(slotInput(slot));
      if (entry.code === 901) {
        form.append(el("div", { class: "hl-field" }, [
          el("label", { class: "hl-label" }, [t("hotline.free_text"), " ", el("span", { class: "hl-untranslated" }, t("hotline.untranslated"))]),
          el("p", { class: "hl-warning" }, t("hotline.free_warning")),
          el("textarea", { rows: 3, maxlength: 2000, "data-testid": "hotline-text", dir: "auto", oninput: (ev) => { c.text = ev.target.value; renderPreview(); } }, c.text),
          fieldError("text"),
        ]));
      }
      const base = RANK[entry.precedence];
      form.append(el("div", { class: "hl-field" }, [
        el("label", { class: "hl-label" }, t("hotline.precedence")),
        el("select", { "data-testid": "hotline-precedence", onchange: (ev) => { c.precedence = ev.target.value; } },
          PRECEDENCES.map((p) => el("option", { value: p, disabled: RANK[p] < base, selected: c.precedence === p },
            RANK[p] < base ? t("hotline.precedence_lower", { label: precLabel(p) }) : precLabel(p)))),
        fieldError("precedence"),
      ]));
      previewEl = el("div", { class: "hl-preview", "data-testid": "hotline-preview", "aria-live": "polite" });
      form.append(previewEl);
    }
    form.append(el("div", { class: "error", role: c.error ? "alert" : null, "data-testid": "hotline-error", hidden: !c.error }, c.error || ""));
    form.append(el("div", { class: "actions" }, [
      el("button", { type: "submit", class: "primary", "data-testid": "hotline-send", disabled: !entry || c.busy }, t("hotline.send")),
      el("button", { type: "button", "data-testid": "hotline-cancel", onclick: () => { if (isNew) backToList(); else { S.compose = newCompose("thread"); renderCompose(); } } }, t("hotline.cancel")),
    ]));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); send(); });
    composeEl.append(form);
    renderPreview();
  }

  function onLinkChange() {
    const c = S.compose;
    const [type, id] = c.link ? c.link.split(/:(.*)/s) : [];
    if (type === "conflict") {
      const cf = data.conflicts.get(id);
      for (const p of [cf?.a?.party, cf?.b?.party]) if (p && p !== me.party) c.parties.add(p);
      renderCompose();
    }
  }

  // Where a server error goes: "message.params.time" → slot-time, "parties[0]" → parties …
  function errorKey(field) {
    if (!field) return null;
    let f = field.replace(/^message\./, "");
    if (f.startsWith("params.")) return `slot-${f.split(".")[1].replace(/\[.*$/, "")}`;
    f = f.split(/[.[]/)[0];
    return ["parties", "subject", "link", "code", "in_reply_to", "text", "precedence"].includes(f) ? f : null;
  }

  async function send() {
    const c = S.compose;
    const e = S.entries.get(c.code);
    if (!e || c.busy) return;
    const params = {};
    for (const slot of e.slots) {
      const v = slotValue(slot);
      if (v !== undefined) params[slot.name] = v;
    }
    const message = { code: e.code, params };
    if (e.code === 901 || c.text) message.text = c.text;
    if (c.precedence && c.precedence !== e.precedence) message.precedence = c.precedence;
    c.busy = true;
    c.errors = {};
    c.error = null;
    try {
      if (c.mode === "new") {
        const body = { parties: [...c.parties], message };
        if (c.subject.trim()) body.subject = c.subject.trim();
        if (c.link) { const [type, id] = c.link.split(/:(.*)/s); body.link = { type, id }; }
        const res = await api.post("/v1/threads", body);
        S.threads.set(res.thread.id, { ...res.thread, last_message: res.message, unread: 0, unanswered: 0 });
        S.mode = "thread";
        S.open = { thread: res.thread, messages: [res.message] };
        S.newIds.clear();
        S.compose = newCompose("thread");
        renderAll();
        refreshThreads();
      } else {
        if (c.group === "response") message.in_reply_to = c.inReplyTo;
        const res = await api.post(`/v1/threads/${encodeURIComponent(S.open.thread.id)}/messages`, message);
        addMessage(res.message ?? res);
        if (message.in_reply_to) S.newIds.delete(message.in_reply_to);
        S.compose = newCompose("thread");
        renderView();
        renderCompose();
        refreshThreads();
      }
    } catch (err) {
      c.busy = false;
      const key = errorKey(err.field);
      const reason = err.problem?.reason || err.message;
      const errs = err.problem?.errors?.length ? err.problem.errors : [{ field: err.field, reason }];
      let placed = false;
      for (const x of errs) {
        const k = errorKey(x.field);
        if (k && composeEl.querySelector(`[data-testid="hotline-error-${k}"]`)) { c.errors[k] = x.reason || reason; placed = true; }
      }
      if (!placed || !key) c.error = err.field ? `${err.field}: ${reason}` : reason;
      renderCompose();
      return;
    }
  }

  // ---- live ------------------------------------------------------------------------------
  function onServerEvent(ev) {
    const p = ev.payload || {};
    switch (ev.type) {
      case "thread.opened":
      case "thread.joined": {
        const old = S.threads.get(p.thread.id);
        S.threads.set(p.thread.id, { unread: 0, unanswered: 0, last_message: null, ...old, ...p.thread });
        if (S.open?.thread.id === p.thread.id) S.open.thread = p.thread;
        renderList();
        if (S.mode === "thread") renderView();
        refreshThreads();
        break;
      }
      case "message.sent": {
        const m = p.message;
        const mine = m.sender?.party === me.party;
        const th = S.threads.get(m.thread_id);
        const forMe = !mine && asks(m);
        const deadline = forMe ? new Date(Date.parse(m.at) + 1000 * (S.ackS[m.precedence] ?? DEFAULT_ACK_S.routine)).toISOString() : null;
        if (th) {
          th.last_message = m;
          if (!mine) { th.unread = (th.unread ?? 0) + 1; if (asks(m)) th.unanswered = (th.unanswered ?? 0) + 1; }
        }
        if (forMe) S.pending.set(m.id, { thread_id: m.thread_id, precedence: m.precedence, deadline });
        if (!mine && ALERTING.has(m.precedence)) S.alerts.push({ message: m, thread_id: m.thread_id });
        if (S.mode === "thread" && S.open?.thread.id === m.thread_id) {
          const doc = { ...m };
          if (!mine) {
            doc.receipt = { party: me.party, precedence: m.precedence, delivered_at: ev.at ?? m.at, deadline, level: 0 };
            if (!S.open.messages.some((x) => x.id === m.id)) S.newIds.add(m.id);
          } else if (!S.open.messages.some((x) => x.id === m.id)) {
            doc.receipts = null;
          }
          addMessage(doc);
          renderView();
          if (S.compose?.mode === "thread" && !S.compose.code) renderCompose();
        }
        renderAlerts();
        renderList();
        refreshThreads();
        break;
      }
      case "message.acknowledged":
      case "message.answered": {
        const r = p.receipt;
        if (r?.party === me.party) {
          S.pending.delete(p.message_id);
          S.alerts = S.alerts.filter((a) => a.message.id !== p.message_id);
          renderAlerts();
        }
        if (S.open) {
          const m = S.open.messages.find((x) => x.id === p.message_id);
          if (m && r) {
            if (m.receipt?.party === r.party) m.receipt = r;
            if (Array.isArray(m.receipts)) m.receipts = m.receipts.some((x) => x.party === r.party) ? m.receipts.map((x) => (x.party === r.party ? r : x)) : [...m.receipts, r];
            else if (isMine(m)) m.receipts = [r];
          }
          renderView();
        }
        renderList();
        refreshThreads();
        break;
      }
      default:
        break;
    }
  }

  function renderAll() {
    renderHead();
    renderList();
    renderView();
    renderCompose();
    renderAlerts();
    renderBadge();
  }

  bus.on("server-event", onServerEvent);
  bus.on("language", async () => {
    try {
      await Promise.all([loadCatalogue(), loadThreads()]);
      if (S.mode === "thread" && S.open) { await openThread(S.open.thread.id); return; }
    } catch (err) {
      S.loadError = err.message;
    }
    renderAll();
  });
  bus.on("data", ({ kind }) => {
    if (kind === "parties") renderAll();
    // ref pickers follow the picture, but never re-render a composer the person is typing in:
    // only an empty one (no message chosen yet) is refreshed.
    if (S.compose && !S.compose.code && S.mode !== "list" && !composeEl.contains(document.activeElement)) renderCompose();
  });
  bus.on("select", (sel) => {
    if (sel?.type !== "thread" || sel.source === "hotline") return;
    if (sel.id) openThread(sel.id);
    else if (canWrite) startNew({ link: sel.link, parties: sel.parties });
  });
  api.get("/v1/policy").then((pol) => { if (pol?.ack_s) S.ackS = { ...S.ackS, ...pol.ack_s }; }).catch(() => {});

  renderAll();
  loadAll();
}
