// The filing form: draw (or type) an activity, check it against the other parties' items, open
// what it conflicts with (the key rule), and file it — as a draft or notified.
//
//   * Volumes: a circle (typed lat/lon/radius or drawn), a polygon or a corridor (drawn on the
//     map via bus `draw-start` → `draw-done`, or typed as one "lat, lon" per line), an altitude
//     band (m / ft / FL; W84 or AMSL, AMSL and FL with the geoid undulation), a window typed in
//     UTC (24-hour "YYYY-MM-DD HH:MM") with the local time shown beside.
//   * Client-side checks (end after start, lower below upper, coordinates) only help: the
//     server decides, and its 422 errors are shown next to the field they name
//     (problem.errors[].field such as "volumes[0].time_end").
//   * "Check" (POST /v1/activities/check) lists the conflicts the activity would create and emits
//     bus `preview` {volumes, conflicts}.  Each conflicting item must be OPENED (GET — recorded by
//     the server as seen; it returns the item's `version`): the versions are sent as `key`.  A 409
//     lists the objects still `missing`; they are shown with the same Open button.
//   * The minimum notice of the kind (GET /v1/policy) is shown by the times, with the lateness the
//     notice would have; after filing, the notice's recorded lateness is shown.
//   * Success: bus `preview` null, bus `select` for the new activity, the form is reset.
//
// data-testids:
//   file-form, file-kind, file-title, file-callsign, file-priority, file-notice-hint, file-notice-late
//   per volume (inside file-volume, data-index = 0, 1 …):
//     file-shape, file-draw, file-draw-cancel, file-lat, file-lon, file-radius, file-radius-units,
//     file-vertices, file-path, file-half-width, file-alt-lower, file-alt-upper, file-alt-units,
//     file-alt-ref, file-geoid, file-start, file-end, file-start-local, file-end-local, file-remove-volume
//   file-add-volume, file-check, file-draft, file-submit, file-reset
//   file-field-error (data-field = the API's field path, e.g. "volumes[0].time_end")   an error next to a field
//   file-error                      an error not tied to a field
//   file-conflicts                  the check's answer; file-conflict-row (data-id, data-seen when opened)
//   file-missing                    the 409's missing objects; file-missing-row (data-id, data-seen)
//   file-open-conflict              open (GET) a conflicting / missing item: records it seen, keeps its version
//   file-conflict-details           the opened item's volumes
//   file-result                     what was filed (and file-result-late when the notice was late)
import "./work.css";
import { el, clear, bdi } from "./dom.js";
import { gapView, kindText, partyName, policyDuration, volumeView, windowText } from "./queues.js";

export const ACTIVITY_KINDS = ["air_sortie", "air_corridor", "ground_movement", "maritime", "static_site", "exercise", "humanitarian_movement"];
const PRECEDENCES = ["routine", "priority", "immediate", "flash"];
const SHAPES = ["circle", "polygon", "corridor"];
const RADIUS_UNITS = { m: 1, km: 1000, NM: 1852 };

// "٣٥٫٠١" → "35.01": digits typed on an Arabic or Persian keyboard are numbers too.
function digits(s) {
  return String(s ?? "")
    .replace(/[\u0660-\u0669]/g, (d) => String(d.charCodeAt(0) - 0x0660))
    .replace(/[\u06f0-\u06f9]/g, (d) => String(d.charCodeAt(0) - 0x06f0))
    .replace(/\u066b/g, ".").replace(/\u2212/g, "-");
}
const ascii = (s) => digits(s).replace(/[\u066c\u00a0 ]/g, "").trim();

function num(s) {
  const v = ascii(s);
  if (v === "" || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v)) return null;
  return Number(v);
}

// "2026-12-03 14:05" (also "T", seconds, a trailing Z) as UTC → Date, or null.
export function parseUtc(s) {
  const m = digits(s).trim().replace(/\s+/g, " ").match(/^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?Z?$/i);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = m.slice(1).map((x) => Number(x ?? 0));
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, sec));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59) return null;
  return date;
}

export function utcInput(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
}

// "lat, lon" per line (or separated by ";") → [[lat, lon]…] or null.
function parsePoints(s) {
  const lines = digits(s).split(/[\n;]+/).map((l) => l.trim()).filter(Boolean);
  const out = [];
  for (const line of lines) {
    const parts = line.split(/[,\u060c\s]+/).filter(Boolean).map(num);
    if (parts.length !== 2 || parts.some((x) => x === null)) return null;
    out.push(parts);
  }
  return out;
}

const round6 = (x) => Math.round(x * 1e6) / 1e6;
const pointsText = (pts) => pts.map(([la, lo]) => `${round6(la)}, ${round6(lo)}`).join("\n");

function blankVolume(now, requiredS) {
  const start = new Date(Math.ceil((now.getTime() + (requiredS ?? 0) * 1000 + 15 * 60000) / (15 * 60000)) * 15 * 60000);
  return {
    shape: "circle", lat: "", lon: "", radius: "", radiusUnits: "m", vertices: "", path: "", halfWidth: "",
    lower: "0", upper: "", altUnits: "m", altRef: "W84", geoid: "",
    start: utcInput(start), end: utcInput(new Date(start.getTime() + 2 * 3600000)),
  };
}

export function mountFileForm(root, ctx) {
  const { api, bus, data, t, fmt } = ctx;
  let policy = null;
  let form; // the person's input, as typed
  let errors; // API field path → message
  let general; // an error not tied to a field (string or ApiError)
  let checked; // {conflicts, stale} | null
  let missing; // the 409's missing objects | null
  const versions = new Map(); // item id → version (opened by the person): the key
  const openedDocs = new Map(); // item id → doc
  const openErrors = new Map(); // item id → message
  let result = null; // what was filed last
  let busy = false;
  let drawing = null; // index of the volume being drawn on the map
  let touched = false; // the person has typed or drawn something (preview only then)
  let reveal = null; // after a check or a refused submit: the testid to scroll into view

  function reset() {
    form = { kind: "air_sortie", title: "", callsign: "", priority: "routine", volumes: [blankVolume(ctx.now(), policy?.min_notice_s?.air_sortie)] };
    errors = new Map();
    general = null;
    checked = null;
    missing = null;
    versions.clear();
    openedDocs.clear();
    openErrors.clear();
    drawing = null;
    touched = false;
  }
  reset();
  api.get("/v1/policy").then((p) => {
    policy = p;
    if (!touched) form.volumes = [blankVolume(ctx.now(), p?.min_notice_s?.[form.kind])];
    render();
  }).catch(() => {});

  clear(root);
  root.classList.add("wk");
  const formEl = el("form", { class: "wk-form", "data-testid": "file-form", novalidate: true });
  formEl.addEventListener("submit", (e) => { e.preventDefault(); submit("notified"); });
  root.append(formEl);

  // --- building the request ---------------------------------------------------------------

  // The request body from the form, or null with `errors` filled (client-side checks).
  function build() {
    const errs = new Map();
    const need = (path, ok, key, params) => { if (!ok && !errs.has(path)) errs.set(path, t(key, params)); return ok; };
    const volumes = form.volumes.map((v, i) => {
      const p = `volumes[${i}]`;
      const out = {};
      if (v.shape === "circle") {
        const lat = num(v.lat);
        const lon = num(v.lon);
        const r = num(v.radius);
        need(`${p}.outline_circle.center.lat`, lat !== null && lat >= -90 && lat <= 90, "work.err.lat");
        need(`${p}.outline_circle.center.lng`, lon !== null && lon >= -180 && lon <= 180, "work.err.lon");
        need(`${p}.outline_circle.radius`, r !== null && r > 0, "work.err.positive");
        out.outline_circle = { center: { lat, lng: lon }, radius: { value: (r ?? 0) * RADIUS_UNITS[v.radiusUnits], units: "M" } };
      } else if (v.shape === "polygon") {
        const pts = parsePoints(v.vertices);
        const ok = need(`${p}.outline_polygon`, pts && pts.length >= 3, "work.err.points", { n: fmt.number(3) })
          && need(`${p}.outline_polygon`, pts.every(([la, lo]) => Math.abs(la) <= 90 && Math.abs(lo) <= 180), "work.err.range");
        out.outline_polygon = { vertices: ok ? pts.map(([lat, lng]) => ({ lat, lng })) : [] };
      } else {
        const pts = parsePoints(v.path);
        const w = num(v.halfWidth);
        const ok = need(`${p}.corridor.path`, pts && pts.length >= 2, "work.err.points", { n: fmt.number(2) })
          && need(`${p}.corridor.path`, pts.every(([la, lo]) => Math.abs(la) <= 90 && Math.abs(lo) <= 180), "work.err.range");
        need(`${p}.corridor.half_width`, w !== null && w > 0, "work.err.positive");
        out.corridor = { path: ok ? pts.map(([lat, lng]) => ({ lat, lng })) : [], half_width: { value: w ?? 0, units: "M" } };
      }
      const lower = num(v.lower);
      const upper = num(v.upper);
      need(`${p}.altitude_lower`, ascii(v.lower) !== "", "work.err.required");
      need(`${p}.altitude_upper`, ascii(v.upper) !== "", "work.err.required");
      need(`${p}.altitude_lower`, lower !== null, "work.err.number");
      need(`${p}.altitude_upper`, upper !== null, "work.err.number");
      if (lower !== null && upper !== null) need(`${p}.altitude_lower`, lower < upper, "work.err.lower_upper");
      const fl = v.altUnits === "FL";
      const ref = fl ? "FL" : v.altRef;
      const alt = (value) => ({ value, reference: ref, units: v.altUnits === "m" ? "M" : "ft" });
      out.altitude_lower = alt(lower);
      out.altitude_upper = alt(upper);
      if (ref !== "W84") {
        const g = num(v.geoid);
        need(`${p}.geoid_undulation_m`, g !== null && g >= -120 && g <= 100, "work.err.geoid");
        out.geoid_undulation_m = g;
      }
      const start = parseUtc(v.start);
      const end = parseUtc(v.end);
      need(`${p}.time_start`, start, "work.err.time");
      need(`${p}.time_end`, end, "work.err.time");
      if (start && end) need(`${p}.time_end`, end > start, "work.err.end_before");
      out.time_start = { value: start ? start.toISOString() : null };
      out.time_end = { value: end ? end.toISOString() : null };
      return out;
    });
    const body = { kind: form.kind, title: form.title.trim(), priority: form.priority, volumes };
    if (form.callsign.trim()) body.callsign = form.callsign.trim();
    return { body, errs };
  }

  // The volumes good enough to draw (for the live preview), even while other fields are incomplete.
  function drawable() {
    const { body, errs } = build();
    return body.volumes.filter((v, i) => ![...errs.keys()].some((k) => k.startsWith(`volumes[${i}].outline`) || k.startsWith(`volumes[${i}].corridor`) || k.startsWith(`volumes[${i}].time`)));
  }

  let previewTimer = null;
  function livePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(() => {
      if (!touched) return;
      const vols = drawable();
      bus.emit("preview", vols.length ? { volumes: vols, conflicts: checked && !checked.stale ? checked.conflicts : [] } : null);
    }, 250);
  }

  function changed() {
    touched = true;
    if (checked) checked.stale = true;
    result = null;
    livePreview();
  }

  // --- talking to the server ----------------------------------------------------------------

  function serverErrors(err) {
    errors = new Map();
    general = null;
    const list = err.problem?.errors?.length ? err.problem.errors : err.field ? [{ field: err.field, reason: err.problem?.reason ?? err.message }] : [];
    for (const e of list) if (e.field) errors.set(e.field, e.reason || err.message);
    if (err.problem?.late_by_s !== undefined && err.problem?.late_by_s !== null) {
      general = t("work.form.refused_late", { d: fmt.duration(err.problem.late_by_s), required: policyDuration(ctx, err.problem.required_notice_s) });
    } else if (!list.length) general = err;
  }

  // The form's body when it passes the client-side checks (the form now busy), else null with the errors shown.
  function validated() {
    const { body, errs } = build();
    errors = errs;
    general = errs.size ? t("work.err.fix") : null;
    if (errs.size) { reveal = "field"; render(); return null; }
    busy = true; render();
    return body;
  }

  async function check() {
    const body = validated();
    if (!body) return;
    try {
      const res = await api.post("/v1/activities/check", { ...body, state: "notified" }, { idempotent: false });
      checked = { conflicts: res.conflicts ?? [], stale: false };
      missing = null;
      bus.emit("preview", { volumes: body.volumes, conflicts: checked.conflicts });
    } catch (err) {
      serverErrors(err);
    }
    busy = false; reveal = general || errors.size ? "file-error" : "file-conflicts"; render();
  }

  async function openItem(other) {
    openErrors.delete(other.id);
    try {
      const doc = await data.open(other.type, other.id);
      versions.set(doc.id, doc.version);
      openedDocs.set(doc.id, doc);
      bus.emit("select", { type: other.type, id: other.id });
    } catch (err) {
      openErrors.set(other.id, err.message);
    }
    render();
  }

  async function submit(state) {
    const body = validated();
    if (!body) return;
    try {
      const res = await api.post("/v1/activities", { ...body, state, key: state === "notified" ? [...versions.values()] : [] });
      const notice = res.notice;
      result = {
        title: res.item.title || res.item.id, state: res.item.state, conflicts: res.conflicts?.length ?? 0,
        late: notice?.late_by_s > 0 ? notice.late_by_s : null, required: notice?.required_notice_s ?? null,
      };
      bus.emit("preview", null);
      bus.emit("draw-cancel", {});
      bus.emit("select", { type: "activity", id: res.item.id });
      const kept = result;
      reset();
      result = kept;
    } catch (err) {
      if (err.status === 409 && Array.isArray(err.problem?.missing)) {
        missing = err.problem.missing;
        errors = new Map();
        general = null;
      } else {
        serverErrors(err);
      }
      reveal = missing ? "file-missing" : "file-error";
    }
    busy = false; render();
  }

  // --- drawing on the map -------------------------------------------------------------------

  bus.on("draw-done", (d) => {
    if (drawing === null || !form.volumes[drawing]) return;
    const v = form.volumes[drawing];
    if (d.shape === "circle" && d.center) {
      Object.assign(v, { shape: "circle", lat: String(round6(d.center[0])), lon: String(round6(d.center[1])), radius: String(Math.round(d.radiusM)), radiusUnits: "m" });
    } else if (d.shape === "polygon" && d.vertices) {
      Object.assign(v, { shape: "polygon", vertices: pointsText(d.vertices) });
    } else if (d.shape === "corridor" && d.path) {
      Object.assign(v, { shape: "corridor", path: pointsText(d.path), halfWidth: String(Math.round(d.halfWidthM ?? num(v.halfWidth) ?? 1000)) });
    }
    drawing = null;
    changed();
    render();
  });
  bus.on("draw-cancel", () => { if (drawing !== null) { drawing = null; render(); } });

  // --- rendering ----------------------------------------------------------------------------

  function fieldError(path) {
    const msg = errors.get(path);
    return el("span", { class: "error wk-field-error", "data-testid": "file-field-error", "data-field": path, role: msg ? "alert" : null, hidden: !msg }, msg ?? "");
  }

  // Server errors that name a field we have no element for land on the closest enclosing one.
  const KNOWN = (i) => [`volumes[${i}].outline_circle.center.lat`, `volumes[${i}].outline_circle.center.lng`, `volumes[${i}].outline_circle.radius`,
    `volumes[${i}].outline_polygon`, `volumes[${i}].corridor.path`, `volumes[${i}].corridor.half_width`, `volumes[${i}].altitude_lower`,
    `volumes[${i}].altitude_upper`, `volumes[${i}].geoid_undulation_m`, `volumes[${i}].time_start`, `volumes[${i}].time_end`, `volumes[${i}]`];
  function placeErrors() {
    const known = ["kind", "title", "callsign", "priority", "volumes", ...form.volumes.flatMap((_, i) => KNOWN(i))];
    const aliases = { "outline_circle.center": "outline_circle.center.lat", outline_circle: "outline_circle.center.lat", corridor: "corridor.path" };
    const placed = new Map();
    for (const [field, msg] of errors) {
      // the field itself, else the closest enclosing field we show, else the shape's first field
      let target = known.find((k) => k === field)
        ?? known.filter((k) => field.startsWith(`${k}.`) || field.startsWith(`${k}[`)).sort((a, b) => b.length - a.length)[0];
      const m = field.match(/^volumes\[(\d+)\]\.(.+)$/);
      if (m && target === `volumes[${m[1]}]`) {
        const alias = Object.entries(aliases).find(([a]) => m[2] === a || m[2].startsWith(`${a}.`));
        if (alias) target = `volumes[${m[1]}].${alias[1]}`;
      }
      if (!target || !known.includes(target)) { general = general ?? t("work.error_field", { field, message: msg }); continue; }
      placed.set(target, placed.has(target) ? `${placed.get(target)}; ${msg}` : msg);
    }
    errors = placed;
  }

  function input(testid, value, onValue, attrs = {}) {
    const node = el("input", { type: "text", "data-testid": testid, value, ...attrs });
    node.value = value ?? "";
    node.addEventListener("input", () => { onValue(node.value); changed(); });
    return node;
  }

  function select(testid, value, options, onValue, attrs = {}) {
    const node = el("select", { "data-testid": testid, ...attrs }, options.map(([v, label]) => el("option", { value: v, selected: v === value }, label)));
    node.addEventListener("change", () => { onValue(node.value); changed(); render(); });
    return node;
  }

  const field = (label, control, path, extra = null) => el("label", { class: "wk-field" }, [
    el("span", { class: "wk-label" }, label), control, extra, path ? fieldError(path) : null,
  ]);

  function localBeside(testid, text) {
    const d = parseUtc(text);
    return el("span", { class: "muted wk-local", "data-testid": testid }, d ? fmt.dateTime(d) : "");
  }

  function volumeFieldset(v, i) {
    const p = `volumes[${i}]`;
    const set = (k) => (x) => { v[k] = x; };
    const shapeControls = [];
    if (v.shape === "circle") {
      shapeControls.push(el("div", { class: "wk-row2" }, [
        field(t("work.field.lat"), input("file-lat", v.lat, set("lat"), { inputmode: "decimal", dir: "ltr", placeholder: "35.0" }), `${p}.outline_circle.center.lat`),
        field(t("work.field.lon"), input("file-lon", v.lon, set("lon"), { inputmode: "decimal", dir: "ltr", placeholder: "38.0" }), `${p}.outline_circle.center.lng`),
      ]), el("div", { class: "wk-row2" }, [
        field(t("work.field.radius"), el("span", { class: "wk-inline wk-nowrap" }, [
          input("file-radius", v.radius, set("radius"), { inputmode: "decimal", dir: "ltr" }),
          select("file-radius-units", v.radiusUnits, Object.keys(RADIUS_UNITS).map((u) => [u, t(`work.units.${u}`)]), set("radiusUnits"), { "aria-label": t("work.field.radius") }),
        ]), `${p}.outline_circle.radius`),
        el("span", { class: "wk-field" }),
      ]));
    } else if (v.shape === "polygon") {
      const ta = el("textarea", { rows: 4, "data-testid": "file-vertices", dir: "ltr", placeholder: "35.0, 38.0\n35.1, 38.2\n34.9, 38.3" });
      ta.value = v.vertices;
      ta.addEventListener("input", () => { v.vertices = ta.value; changed(); });
      shapeControls.push(field(t("work.field.vertices"), ta, `${p}.outline_polygon`));
    } else {
      const ta = el("textarea", { rows: 3, "data-testid": "file-path", dir: "ltr", placeholder: "35.0, 38.0\n35.3, 38.4" });
      ta.value = v.path;
      ta.addEventListener("input", () => { v.path = ta.value; changed(); });
      shapeControls.push(field(t("work.field.path"), ta, `${p}.corridor.path`),
        field(t("work.field.half_width"), input("file-half-width", v.halfWidth, set("halfWidth"), { inputmode: "decimal", dir: "ltr" }), `${p}.corridor.half_width`));
    }
    const isDrawing = drawing === i;
    const drawBtn = isDrawing
      ? el("button", { type: "button", "data-testid": "file-draw-cancel", onclick: () => { drawing = null; bus.emit("draw-cancel", {}); render(); } }, t("work.form.draw_cancel"))
      : el("button", { type: "button", "data-testid": "file-draw", onclick: () => {
        drawing = i;
        bus.emit("draw-start", v.shape === "corridor" ? { shape: "corridor", halfWidthM: num(v.halfWidth) ?? 1000 } : { shape: v.shape });
        render();
      } }, t("work.form.draw"));
    const fl = v.altUnits === "FL";
    const ref = fl ? "FL" : v.altRef;
    return el("fieldset", { class: "wk-volume-form", "data-testid": "file-volume", "data-index": String(i) }, [
      el("legend", {}, t("work.vol.n", { n: fmt.number(i + 1) })),
      el("div", { class: "wk-inline" }, [
        field(t("work.field.shape"), select("file-shape", v.shape, SHAPES.map((s) => [s, t(`work.shape.${s}`)]), set("shape"))),
        drawBtn,
        form.volumes.length > 1 ? el("button", { type: "button", "data-testid": "file-remove-volume", onclick: () => { form.volumes.splice(i, 1); if (drawing === i) drawing = null; changed(); render(); } }, t("work.form.remove_volume")) : null,
      ]),
      isDrawing ? el("p", { class: "wk-hint" }, t(`work.form.drawing_${v.shape}`)) : null,
      ...shapeControls,
      el("div", { class: "wk-row2" }, [
        field(t("work.field.alt_lower"), input("file-alt-lower", v.lower, set("lower"), { inputmode: "decimal", dir: "ltr" }), `${p}.altitude_lower`),
        field(t("work.field.alt_upper"), input("file-alt-upper", v.upper, set("upper"), { inputmode: "decimal", dir: "ltr" }), `${p}.altitude_upper`),
      ]),
      el("div", { class: "wk-row2" }, [
        field(t("work.field.alt_units"), select("file-alt-units", v.altUnits, [["m", t("work.units.m")], ["ft", t("work.units.ft")], ["FL", t("work.units.FL")]], set("altUnits"))),
        field(t("work.field.alt_ref"), select("file-alt-ref", ref, (fl ? ["FL"] : ["W84", "AMSL"]).map((r) => [r, t(`work.ref.${r}`)]), set("altRef"), { disabled: fl })),
      ]),
      ref !== "W84" ? field(t("work.field.geoid"), input("file-geoid", v.geoid, set("geoid"), { inputmode: "decimal", dir: "ltr" }), `${p}.geoid_undulation_m`, el("span", { class: "muted wk-hint" }, t("work.form.geoid_hint"))) : null,
      el("div", { class: "wk-row2" }, [
        field(t("work.field.start"), input("file-start", v.start, (x) => { v.start = x; updateLocal(); }, { dir: "ltr", placeholder: "YYYY-MM-DD HH:MM", autocomplete: "off" }), `${p}.time_start`, localBeside("file-start-local", v.start)),
        field(t("work.field.end"), input("file-end", v.end, (x) => { v.end = x; updateLocal(); }, { dir: "ltr", placeholder: "YYYY-MM-DD HH:MM", autocomplete: "off" }), `${p}.time_end`, localBeside("file-end-local", v.end)),
      ]),
      fieldError(p),
    ]);
  }

  // the local times beside the UTC fields and the notice hint, without rebuilding the form
  function updateLocal() {
    formEl.querySelectorAll("[data-testid=file-volume]").forEach((fs) => {
      const v = form.volumes[Number(fs.dataset.index)];
      if (!v) return;
      for (const [k, id] of [["start", "file-start-local"], ["end", "file-end-local"]]) {
        const d = parseUtc(v[k]);
        fs.querySelector(`[data-testid=${id}]`).textContent = d ? fmt.dateTime(d) : "";
      }
    });
    const hint = formEl.querySelector("[data-testid=file-notice-hint]");
    if (hint) hint.replaceWith(noticeHint());
  }

  // The agreement's minimum notice for the kind, and how late this notice would be if filed now.
  function noticeHint() {
    const required = policy?.min_notice_s?.[form.kind];
    const node = el("div", { class: "wk-notice-hint", "data-testid": "file-notice-hint" });
    if (required === undefined) return node;
    const refuses = policy?.late_notice?.[form.kind] === "refuse";
    node.append(el("div", {}, t("work.form.required_notice", { kind: kindText(ctx, form.kind), d: policyDuration(ctx, required) })),
      el("div", { class: "muted" }, t("work.form.earliest", { at: fmt.dateTime(new Date(ctx.now().getTime() + required * 1000)) })));
    if (refuses) node.append(el("div", { class: "muted" }, t("work.form.refuses")));
    const starts = form.volumes.map((v) => parseUtc(v.start)).filter(Boolean);
    if (starts.length) {
      const lead = (Math.min(...starts.map((d) => d.getTime())) - ctx.now().getTime()) / 1000;
      if (lead < required) {
        node.append(el("div", { class: "wk-late", "data-testid": "file-notice-late" },
          t(refuses ? "work.form.would_be_refused" : "work.form.would_be_late", { d: fmt.duration(required - Math.max(lead, 0)), lead: fmt.duration(Math.max(lead, 0)) })));
      }
    }
    return node;
  }

  function conflictRow(other, detail, testid) {
    const seen = versions.has(other.id);
    const doc = openedDocs.get(other.id);
    return el("li", { class: `card wk-row${seen ? " wk-seen" : ""}`, "data-testid": testid, "data-id": other.id, "data-seen": seen ? "true" : null }, [
      el("div", { class: "wk-title" }, [
        el("span", { class: "wk-party" }, partyName(ctx, other.party)), " ",
        el("span", { class: "wk-kind" }, kindText(ctx, other.kind)), " ", bdi(other.title || other.id),
      ]),
      detail,
      doc ? el("ol", { class: "wk-volumes", "data-testid": "file-conflict-details" }, (doc.volumes ?? []).map((v, i) => volumeView(ctx, v, i))) : null,
      el("div", { class: "actions" }, [
        seen ? el("span", { class: "wk-ok" }, t("work.form.seen"))
          : el("button", { type: "button", class: "primary", "data-testid": "file-open-conflict", onclick: () => openItem(other) }, t("work.action.open")),
        openErrors.has(other.id) ? el("span", { class: "error", role: "alert" }, openErrors.get(other.id)) : null,
      ]),
    ]);
  }

  function render() {
    placeErrors();
    const focused = document.activeElement && formEl.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
    const focusedIndex = document.activeElement?.closest?.("[data-testid=file-volume]")?.dataset.index;
    clear(formEl);
    const kinds = ACTIVITY_KINDS.map((k) => [k, kindText(ctx, k)]);
    formEl.append(...[
      el("h3", { class: "wk-h" }, t("work.form.heading")),
      result ? el("div", { class: "wk-result", role: "status", "data-testid": "file-result" }, [
        el("div", {}, [t("work.form.filed", { state: t(`work.istate.${result.state}`) }), " ", bdi(result.title)]),
        result.conflicts ? el("div", {}, t(result.state === "draft" ? "work.form.draft_conflicts" : "work.form.filed_conflicts", { n: fmt.number(result.conflicts) })) : null,
        result.late ? el("div", { class: "wk-late", "data-testid": "file-result-late" },
          t("work.form.filed_late", { d: fmt.duration(result.late), required: policyDuration(ctx, result.required) })) : null,
      ]) : null,
      el("div", { class: "wk-row2" }, [
        field(t("work.field.kind"), select("file-kind", form.kind, kinds, (x) => { form.kind = x; }), "kind"),
        field(t("work.field.priority"), select("file-priority", form.priority, PRECEDENCES.map((p) => [p, t(`work.prec.${p}`)]), (x) => { form.priority = x; }), "priority"),
      ]),
      field(t("work.field.title"), input("file-title", form.title, (x) => { form.title = x; }, { maxlength: "200" }), "title"),
      field(t("work.field.callsign"), input("file-callsign", form.callsign, (x) => { form.callsign = x; }, { maxlength: "64" }), "callsign"),
      noticeHint(),
      ...form.volumes.map(volumeFieldset),
      fieldError("volumes"),
      el("div", { class: "actions" }, [
        el("button", { type: "button", "data-testid": "file-add-volume", onclick: () => {
          const last = form.volumes[form.volumes.length - 1];
          form.volumes.push({ ...last, lat: "", lon: "", vertices: "", path: "" });
          changed(); render();
        } }, t("work.form.add_volume")),
      ]),
    ].filter(Boolean));

    // the check's answer, the 409's missing objects
    if (checked) {
      const box = el("div", { class: `wk-check${checked.stale ? " wk-stale" : ""}`, "data-testid": "file-conflicts" });
      if (checked.stale) box.append(el("p", { class: "wk-hint" }, t("work.form.stale")));
      if (!checked.conflicts.length) box.append(el("p", { class: "wk-ok" }, t("work.form.no_conflicts")));
      else {
        const open = checked.conflicts.filter((c) => !versions.has(c.other.id)).length;
        box.append(el("p", {}, t("work.form.conflicts", { n: fmt.number(checked.conflicts.length) })),
          open ? el("p", { class: "wk-hint" }, t("work.form.open_each", { n: fmt.number(open) })) : el("p", { class: "wk-ok" }, t("work.form.all_seen")),
          el("ul", { class: "wk-list" }, checked.conflicts.map((c) => conflictRow(c.other, el("ul", { class: "wk-pairs" }, c.volumes.map((d) => gapView(ctx, d))), "file-conflict-row"))));
      }
      formEl.append(box);
    }
    if (missing?.length) {
      formEl.append(el("div", { class: "wk-check wk-missing", "data-testid": "file-missing" }, [
        el("p", { class: "error" }, t("work.form.missing")),
        el("ul", { class: "wk-list" }, missing.map((m) => conflictRow(m, el("div", {}, windowText(ctx, m.time_start, m.time_end)), "file-missing-row"))),
      ]));
    }
    if (general) formEl.append(el("p", { class: "error", role: "alert", "data-testid": "file-error" }, typeof general === "string" ? general : general.message));
    formEl.append(el("div", { class: "actions wk-submit" }, [
      el("button", { type: "button", "data-testid": "file-check", disabled: busy, onclick: check }, t("work.form.check")),
      el("button", { type: "button", "data-testid": "file-draft", disabled: busy, onclick: () => submit("draft") }, t("work.form.draft")),
      el("button", { type: "submit", class: "primary", "data-testid": "file-submit", disabled: busy }, t("work.form.submit")),
      el("button", { type: "button", "data-testid": "file-reset", disabled: busy, onclick: () => { reset(); result = null; bus.emit("preview", null); bus.emit("draw-cancel", {}); render(); } }, t("work.form.reset")),
    ]));
    if (reveal) {
      const field = formEl.querySelector("[data-testid=file-field-error]:not([hidden])");
      const target = reveal === "field" ? field : formEl.querySelector(`[data-testid=${reveal}]`) ?? field;
      target?.scrollIntoView({ block: "nearest" });
      reveal = null;
    }
    if (focused) {
      const scope = focusedIndex !== undefined ? formEl.querySelector(`[data-testid=file-volume][data-index="${focusedIndex}"]`) : formEl;
      (scope ?? formEl).querySelector(`[data-testid="${focused}"]`)?.focus();
    }
  }

  bus.on("language", render);
  bus.on("data", ({ kind }) => { if (kind === "items" && checked) render(); });
  // the notice hint's "earliest start" and lateness move with the clock (the hint holds no control)
  setInterval(() => { formEl.querySelector("[data-testid=file-notice-hint]")?.replaceWith(noticeHint()); }, 5000);
  render();
}
