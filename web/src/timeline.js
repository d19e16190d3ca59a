// The time slider and the Gantt of activities under the map.
//
// The slider picks a window (its start on a range input, its length in a select, a "Now" button,
// an "All times" switch) and emits bus `time-filter` {start, end} (Dates), or null for all times;
// the map shows only the volumes whose window meets it.  The Gantt follows the same window: rows
// grouped by party (bars packed into lanes, first fit), bars from time_start to time_end coloured
// own/other, drafts paler, activities in an unresolved conflict outlined red, the current time as
// a red line, an axis in 24-hour UTC.  It is drawn on one <canvas> so 5,000 activities stay fast.
// Clicking a bar emits `select` {type: "activity", id}.
//
// Right-to-left pages: time runs left → right inside the canvas (and on the range input, which is
// kept dir="ltr" to match it), as on a clock-time axis; the controls around it mirror.
//
// data-testids: timeline (the module's root), timeline-all (checkbox "all times"),
// timeline-slider (range input: the window's start), timeline-window (select: its length, ms),
// timeline-now (button), timeline-range (the window as text), timeline-canvas (the Gantt).
import "./timeline.css";
import { el, clear } from "./dom.js";

const HOUR = 3600e3;
const WINDOWS = [1, 3, 6, 12, 24, 72, 168].map((h) => h * HOUR);
const STEPS = [15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map((m) => m * 60e3);
const LABEL_W = 110; // the party column, px
const AXIS_H = 20;
const BAR_BUDGET = 220; // px of lanes before lanes shrink / are capped
const LIVE = new Set(["draft", "notified", "active", "nonconforming", "contingent"]);

export function mountTimeline(root, ctx) {
  const { bus, data, me, t, fmt } = ctx;
  const state = { all: true, len: 6 * HOUR, start: floorTo(ctx.now().getTime(), HOUR), selected: null };

  const allBox = el("input", { type: "checkbox", checked: true, "data-testid": "timeline-all" });
  const slider = el("input", { type: "range", dir: "ltr", step: String(5 * 60e3), "data-testid": "timeline-slider", "aria-label": "" });
  const lenSelect = el("select", { "data-testid": "timeline-window" });
  const nowBtn = el("button", { type: "button", "data-testid": "timeline-now" });
  const rangeText = el("span", { class: "timeline-range", "data-testid": "timeline-range" });
  const allLabel = el("label", { class: "timeline-all" }, [allBox, el("span")]);
  const lenLabel = el("label", { class: "timeline-len" }, [el("span"), lenSelect]);
  const canvas = el("canvas", { class: "timeline-canvas", dir: "ltr", "data-testid": "timeline-canvas", role: "img" });
  const wrap = el("div", { class: "timeline-body", "data-testid": "timeline" }, [
    el("div", { class: "timeline-controls" }, [allLabel, nowBtn, lenLabel, slider, rangeText]),
    canvas,
  ]);
  clear(root);
  root.append(wrap);

  // ---- the slider ------------------------------------------------------------------------------

  // The slider spans the live activities' times and now, with a day of margin.
  function extent() {
    let lo = Infinity, hi = -Infinity;
    for (const it of data.items.values()) {
      if (it.type !== "activity" || !LIVE.has(it.state)) continue;
      const a = Date.parse(it.time_start), b = Date.parse(it.time_end);
      if (a < lo) lo = a;
      if (b > hi) hi = b;
    }
    const now = ctx.now().getTime();
    if (!Number.isFinite(lo)) { lo = now; hi = now; }
    return [floorTo(Math.min(lo, now) - 24 * HOUR, HOUR), floorTo(Math.max(hi, now) + 24 * HOUR, HOUR)];
  }

  function renderControls() {
    allLabel.lastChild.textContent = t("map.timeline.show_all");
    lenLabel.firstChild.textContent = t("map.timeline.window");
    nowBtn.textContent = t("map.timeline.now");
    slider.setAttribute("aria-label", t("map.timeline.position"));
    canvas.setAttribute("aria-label", t("map.timeline.gantt"));
    clear(lenSelect);
    for (const w of WINDOWS) {
      const h = w / HOUR;
      lenSelect.append(el("option", { value: String(w), selected: w === state.len },
        h < 48 ? t("map.timeline.hours", { n: fmt.number(h) }) : t("map.timeline.days", { n: fmt.number(h / 24) })));
    }
    const [lo, hi] = extent();
    slider.min = String(lo);
    slider.max = String(Math.max(lo, hi - state.len));
    slider.value = String(state.start);
    slider.disabled = lenSelect.disabled = state.all;
    rangeText.textContent = state.all ? t("map.timeline.all_range")
      : t("map.timeline.range", { start: fmt.dateTime(state.start), end: fmt.dateTime(state.start + state.len) });
  }

  function emit() {
    bus.emit("time-filter", state.all ? null : { start: new Date(state.start), end: new Date(state.start + state.len) });
    renderControls();
    draw();
  }

  allBox.addEventListener("change", () => { state.all = allBox.checked; emit(); });
  slider.addEventListener("input", () => { state.start = Number(slider.value); state.all = false; allBox.checked = false; emit(); });
  lenSelect.addEventListener("change", () => { state.len = Number(lenSelect.value); emit(); });
  nowBtn.addEventListener("click", () => {
    state.start = floorTo(ctx.now().getTime(), 5 * 60e3);
    state.all = false;
    allBox.checked = false;
    emit();
  });

  // ---- the Gantt -------------------------------------------------------------------------------

  let bars = []; // hit boxes: {x0, x1, y0, y1, id}
  const colors = {};
  function readColors() {
    const css = getComputedStyle(document.documentElement);
    for (const [k, v, d] of [["own", "--own", "#3fa7ff"], ["other", "--other", "#ffb547"], ["conflict", "--conflict", "#ff4d4f"],
      ["line", "--line", "#2a3a4a"], ["muted", "--muted", "#9fb0c0"], ["text", "--text", "#e6edf3"], ["panel", "--panel", "#16212c"]]) {
      colors[k] = css.getPropertyValue(v).trim() || d;
    }
  }
  readColors();

  function conflicted() {
    const ids = new Set();
    for (const c of data.conflicts.values()) {
      if (c.state === "resolved") continue;
      if (c.a?.item?.id) ids.add(c.a.item.id);
      if (c.b?.item?.id) ids.add(c.b.item.id);
    }
    return ids;
  }

  function draw() {
    const width = Math.max(200, root.clientWidth || 800);
    const [v0, v1] = state.all ? extent() : [state.start, state.start + state.len];
    // Rows: the parties (mine first), each with its activities that meet the view, packed in lanes.
    const byParty = new Map();
    for (const it of data.items.values()) {
      if (it.type !== "activity" || !LIVE.has(it.state)) continue;
      const a = Date.parse(it.time_start), b = Date.parse(it.time_end);
      if (b <= v0 || a >= v1) continue;
      if (!byParty.has(it.party)) byParty.set(it.party, []);
      byParty.get(it.party).push({ a, b, it });
    }
    const parties = [...byParty.keys()].sort((x, y) => (x === me.party ? -1 : y === me.party ? 1 : x.localeCompare(y)));
    const groups = parties.map((p) => {
      const list = byParty.get(p).sort((x, y) => x.a - y.a);
      const laneEnds = [];
      for (const r of list) {
        let lane = laneEnds.findIndex((end) => end <= r.a);
        if (lane < 0) { lane = laneEnds.length; laneEnds.push(r.b); } else laneEnds[lane] = r.b;
        r.lane = lane;
      }
      return { party: p, list, lanes: Math.max(1, laneEnds.length) };
    });
    const totalLanes = groups.reduce((s, g) => s + g.lanes, 0) || 1;
    const laneH = Math.max(3, Math.min(14, Math.floor(BAR_BUDGET / totalLanes)));
    const capLanes = Math.max(1, Math.floor(BAR_BUDGET / laneH / Math.max(1, groups.length)));
    const shown = groups.map((g) => ({ ...g, shownLanes: totalLanes * laneH > BAR_BUDGET ? Math.min(g.lanes, capLanes) : g.lanes }));
    const rowsH = shown.reduce((s, g) => s + Math.max(g.shownLanes * laneH, 16) + 4, 0);
    const height = AXIS_H + Math.max(rowsH, 24) + 4;

    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.direction = "ltr"; // time runs left → right in every language (see the top)
    g.clearRect(0, 0, width, height);
    const plotW = width - LABEL_W - 8;
    const x = (ms) => LABEL_W + ((ms - v0) / (v1 - v0)) * plotW;

    // Axis: ticks every step (≥ 70 px apart), 24-hour UTC; the date at day boundaries.
    const step = STEPS.find((s) => (s / (v1 - v0)) * plotW >= 70) ?? STEPS[STEPS.length - 1];
    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "middle";
    const day = new Intl.DateTimeFormat(ctx.language() === "ar" ? "ar-u-nu-arab" : ctx.language(), { day: "2-digit", month: "short", timeZone: "UTC" });
    for (let tick = Math.ceil(v0 / step) * step; tick <= v1; tick += step) {
      const px = x(tick);
      g.strokeStyle = colors.line;
      g.beginPath(); g.moveTo(px + 0.5, AXIS_H - 4); g.lineTo(px + 0.5, height); g.stroke();
      const midnight = tick % (24 * HOUR) === 0;
      g.fillStyle = midnight ? colors.text : colors.muted;
      g.fillText(midnight ? `${day.format(tick)} ${fmt.utc(tick)}` : fmt.utc(tick), px + 3, AXIS_H / 2);
    }

    const inConflict = conflicted();
    const down = new Set([...data.liveness.values()].filter((r) => r.state === "down").map((r) => r.party));
    bars = [];
    let y = AXIS_H + 2;
    for (const grp of shown) {
      const rowH = Math.max(grp.shownLanes * laneH, 16);
      g.fillStyle = grp.party === me.party ? "rgba(63,167,255,0.06)" : "rgba(255,255,255,0.03)";
      g.fillRect(0, y, width, rowH);
      g.fillStyle = colors.text;
      g.font = "12px system-ui, sans-serif";
      const name = data.parties.get(grp.party)?.name ?? grp.party;
      g.fillText(clip(g, name, LABEL_W - 10), 6, y + 8);
      let hidden = 0;
      const own = grp.party === me.party;
      const base = own ? colors.own : colors.other;
      for (const r of grp.list) {
        if (r.lane >= grp.shownLanes) { hidden++; continue; }
        const x0 = Math.max(LABEL_W, x(r.a)), x1 = Math.min(width - 8, Math.max(x(r.b), x0 + 2));
        const y0 = y + r.lane * laneH, h = Math.max(laneH - 1, 2);
        g.globalAlpha = r.it.state === "draft" ? 0.45 : 0.85;
        g.fillStyle = base;
        g.fillRect(x0, y0, x1 - x0, h);
        g.globalAlpha = 1;
        if (inConflict.has(r.it.id)) { g.strokeStyle = colors.conflict; g.lineWidth = 1.5; g.strokeRect(x0 + 0.5, y0 + 0.5, x1 - x0 - 1, h - 1); }
        if (r.it.party_down || down.has(r.it.party)) { g.fillStyle = "rgba(0,0,0,0.45)"; for (let sx = x0; sx < x1; sx += 6) g.fillRect(sx, y0, 3, h); }
        if (state.selected === r.it.id) { g.strokeStyle = "#fff"; g.lineWidth = 2; g.strokeRect(x0 - 1, y0 - 1, x1 - x0 + 2, h + 2); }
        bars.push({ x0, x1, y0, y1: y0 + h, id: r.it.id });
      }
      if (hidden) {
        g.fillStyle = colors.muted;
        g.font = "11px system-ui, sans-serif";
        g.fillText(t("map.timeline.more", { n: fmt.number(hidden) }), 6, y + Math.min(rowH - 6, 22));
      }
      y += rowH + 4;
    }
    if (!shown.length) {
      g.fillStyle = colors.muted;
      g.fillText(t("map.timeline.empty"), LABEL_W, AXIS_H + 12);
    }
    // Now.
    const now = ctx.now().getTime();
    if (now >= v0 && now <= v1) {
      g.strokeStyle = colors.conflict;
      g.lineWidth = 1.5;
      g.beginPath(); g.moveTo(x(now), 0); g.lineTo(x(now), height); g.stroke();
    }
    canvas.dataset.bars = String(bars.length);
  }

  function barAt(e) {
    const r = canvas.getBoundingClientRect();
    const px = e.clientX - r.left, py = e.clientY - r.top;
    for (let i = bars.length - 1; i >= 0; i--) {
      const b = bars[i];
      if (px >= b.x0 - 1 && px <= b.x1 + 1 && py >= b.y0 - 1 && py <= b.y1 + 1) return b;
    }
    return null;
  }
  canvas.addEventListener("click", (e) => {
    const b = barAt(e);
    if (b) bus.emit("select", { type: "activity", id: b.id });
  });
  canvas.addEventListener("mousemove", (e) => {
    const b = barAt(e);
    const it = b && data.items.get(b.id);
    canvas.style.cursor = it ? "pointer" : "";
    canvas.title = it ? `${it.callsign || it.title || it.id} · ${fmt.dateTime(it.time_start)} – ${fmt.dateTime(it.time_end)}` : "";
  });

  bus.on("select", (sel) => { state.selected = sel?.type === "activity" ? sel.id : null; draw(); });
  bus.on("data", ({ kind }) => { if (["items", "conflicts", "liveness"].includes(kind)) { renderControls(); draw(); } });
  bus.on("language", () => { readColors(); renderControls(); draw(); });
  setInterval(draw, 30e3); // the now line
  let lastW = 0;
  new ResizeObserver(() => { if (root.clientWidth !== lastW) { lastW = root.clientWidth; draw(); } }).observe(root);
  renderControls();
  draw();
}

function floorTo(ms, step) { return Math.floor(ms / step) * step; }

function clip(g, text, w) {
  if (g.measureText(text).width <= w) return text;
  let s = text;
  while (s.length > 1 && g.measureText(`${s}…`).width > w) s = s.slice(0, -1);
  return `${s}…`;
}
