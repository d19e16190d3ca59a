// What the page knows, kept current from the event stream.
//
// Snapshots are loaded once (after reading the stream's head, so nothing falls between the
// snapshot and the stream); afterwards every server event updates the maps from its payload
// and emits `data` {kind} on the bus.  Nothing here GETs a single activity, zone or notice
// on its own: such a read is recorded by the server as the reader's party having *opened*
// it, so it must only happen when a person opens it (see `Data.open`).
export class Data {
  constructor(api, bus, me) {
    this.api = api;
    this.bus = bus;
    this.me = me;
    this.parties = new Map(); // id → party doc
    this.items = new Map(); // id → activity/zone doc (without other parties' versions)
    this.conflicts = new Map(); // id → conflict doc
    this.notices = new Map(); // id → pending notice doc addressed to my party
    this.incidents = new Map(); // id → incident doc
    this.liveness = new Map(); // party → liveness row
    this.head = 0; // the stream's last seq when the snapshot was taken
  }

  // What the picture needs: parties, activities, zones, conflicts, liveness.  The work queue's notices and
  // the incidents follow in loadRest(), after the map has painted (a party may hold thousands of notices).
  async load() {
    this.head = (await this.api.get("/v1/events/head")).seq;
    const [parties, activities, zones, conflicts, liveness] = await Promise.all([
      this.api.get("/v1/parties"),
      this.api.all("/v1/activities", {}, "items"),
      this.api.all("/v1/zones", {}, "items"),
      this.api.all("/v1/conflicts", {}, "conflicts"),
      this.api.get("/v1/liveness"),
    ]);
    for (const p of parties) this.parties.set(p.id, p);
    for (const i of [...zones, ...activities]) this.items.set(i.id, i);
    for (const c of conflicts) this.conflicts.set(c.id, c);
    for (const l of liveness) this.liveness.set(l.party, l);
    for (const kind of ["items", "conflicts", "liveness"]) this.bus.emit("data", { kind });
  }

  async loadRest() {
    const [notices, incidents] = await Promise.all([
      this.api.all("/v1/notices", { pending: true }, "notices"),
      this.api.all("/v1/incidents", {}, "incidents"),
    ]);
    for (const n of notices) this.notices.set(n.id, n);
    for (const i of incidents) this.incidents.set(i.id, i);
    for (const kind of ["notices", "incidents"]) this.bus.emit("data", { kind });
  }

  // A person opens an item: the server records the read (the notice's "opened" stage) and
  // returns the document with its version (the key rule needs it).
  async open(type, id) {
    const doc = await this.api.get(`/v1/${type === "zone" ? "zones" : "activities"}/${encodeURIComponent(id)}`);
    this.items.set(doc.id, { ...this.items.get(doc.id), ...doc });
    this.bus.emit("data", { kind: "items", ids: [doc.id] });
    return doc;
  }

  apply(ev) {
    const p = ev.payload || {};
    const changed = new Set();
    if (p.item) { this.items.set(p.item.id, p.item); changed.add("items"); }
    if (p.conflict) { this.conflicts.set(p.conflict.id, p.conflict); changed.add("conflicts"); }
    if (p.incident) { this.incidents.set(p.incident.id, p.incident); changed.add("incidents"); }
    // Pending notices: the server decides what is still pending (acknowledged elsewhere, replaced by a newer
    // version…), so any event about a notice for my party refreshes the list, at most every 300 ms.
    if ((p.notice && p.notice.recipients?.includes(this.me.party)) || ev.type === "notice.acknowledged"
        || ev.type.startsWith("escalation.")) this.soon("notices");
    if (ev.type === "party.down" || ev.type === "party.up") this.soon("liveness");
    for (const kind of changed) this.bus.emit("data", { kind });
  }

  soon(kind) {
    this.timers ??= {};
    if (this.timers[kind]) return;
    this.timers[kind] = setTimeout(() => { this.timers[kind] = null; this.refresh(kind); }, 300);
  }

  async refresh(kind) {
    if (kind === "notices") {
      const list = await this.api.all("/v1/notices", { pending: true }, "notices");
      this.notices = new Map(list.map((n) => [n.id, n]));
    } else if (kind === "liveness") {
      const l = await this.api.get("/v1/liveness");
      this.liveness = new Map(l.map((r) => [r.party, r]));
    } else if (kind === "conflicts") {
      const list = await this.api.all("/v1/conflicts", {}, "conflicts");
      this.conflicts = new Map(list.map((c) => [c.id, c]));
    }
    this.bus.emit("data", { kind });
  }
}
