// The map of the common operating picture (OpenLayers, offline).
//
// Layers, bottom to top: an optional XYZ tile layer (only when /ui/config.json names a
// `tile_url`; off otherwise), the Natural Earth basemap (/ui/basemap.json, land over a sea-coloured
// background), zones (coloured by kind), other parties' activities, my party's activities,
// conflicts (the volumes of items in unresolved conflicts: red outline and hatch), incidents
// (position + radius), labels (callsign/title and altitude band, decluttered, only when zoomed
// in), then the selection/preview/drawing overlays.  Every layer is a feature per *volume*.
//
// Speed (5,000 activities / 20,000 volumes, software rendering in headless Chromium): the big
// layers are VectorImageLayers — drawn once into an image and only moved while panning, redrawn
// when the view settles — with cached styles (one Style per category/state, never one per
// feature per frame).  Circles are ol/geom/Circle in EPSG:3857 (radius / cos φ), corridors a
// cheap buffered polygon computed once.  The time filter is a style function returning null.
//
// Reading semantics: the popup uses data.items only; nothing here GETs an item (a GET is
// recorded by the server as the party having *opened* it).
//
// Hooks for tests and the benchmark: `window.__deconflictMap` is the OL map (with
// `map.deconflict.pixelOf(id)` → the pixel of an item/conflict/incident's first feature, and
// `map.deconflict.count()` → visible features per layer); performance.mark("picture-painted") and
// <body data-painted="1"> once the first frame with the basemap and the items has rendered.
//
// data-testids: map (the OL target), map-layers (the layer switcher <details>),
// map-layer-{tiles,zones,other,own,conflicts,incidents,labels} (checkboxes),
// map-zone-{base,training_area,protected_site,restricted_area} (checkboxes), map-legend,
// map-popup, map-popup-close, map-popup-title, map-draw-hint, map-draw-cancel.
import "./map.css";
import Map from "ol/Map.js";
import View from "ol/View.js";
import Overlay from "ol/Overlay.js";
import Feature from "ol/Feature.js";
import VectorSource from "ol/source/Vector.js";
import XYZ from "ol/source/XYZ.js";
import VectorLayer from "ol/layer/Vector.js";
import VectorImageLayer from "ol/layer/VectorImage.js";
import TileLayer from "ol/layer/Tile.js";
import GeoJSON from "ol/format/GeoJSON.js";
import CircleGeom from "ol/geom/Circle.js";
import Polygon from "ol/geom/Polygon.js";
import LineString from "ol/geom/LineString.js";
import Point from "ol/geom/Point.js";
import { Style, Fill, Stroke, Text, Circle as CircleStyle } from "ol/style.js";
import Draw from "ol/interaction/Draw.js";
import { defaults as defaultControls, ScaleLine } from "ol/control.js";
import { fromLonLat, toLonLat } from "ol/proj.js";
import { getDistance } from "ol/sphere.js";
import { createEmpty, extend, isEmpty, getCenter } from "ol/extent.js";
import { el, clear, bdi } from "./dom.js";

const ZONE_KINDS = ["base", "training_area", "protected_site", "restricted_area"];
const ZONE_VAR = { base: "--zone-base", training_area: "--zone-training", protected_site: "--zone-protected", restricted_area: "--zone-restricted" };
const LIVE = { activity: new Set(["draft", "notified", "active", "nonconforming", "contingent"]), zone: new Set(["active"]) };
const LABEL_MAX_RES = 400; // m/px: labels from about zoom 8.6 in
const BASEMAP_TOLERANCE_M = 1000; // projected metres
const DETAIL_RES = 300; // m/px: wider outlines and the conflict hatch from about zoom 9 in
const D2R = Math.PI / 180;

// ---- geometry: F3548 volumes → EPSG:3857 geometries -------------------------------------------

const merc = (p) => fromLonLat([p.lng, p.lat]);
const scaleAt = (lat) => 1 / Math.max(Math.cos(lat * D2R), 0.01); // Mercator scale factor

// A line buffered by `hw` projected metres: mitred sides, round caps (computed once per corridor).
function bufferLine(pts, hw) {
  const p = [];
  for (const q of pts) if (!p.length || q[0] !== p[p.length - 1][0] || q[1] !== p[p.length - 1][1]) p.push(q);
  if (p.length === 1) return circlePolygon(p[0], hw);
  const n = [];
  for (let i = 0; i < p.length - 1; i++) {
    const dx = p[i + 1][0] - p[i][0], dy = p[i + 1][1] - p[i][1], len = Math.hypot(dx, dy);
    n.push([-dy / len, dx / len]);
  }
  const side = (sign) => p.map((q, k) => {
    let m;
    if (k === 0) m = n[0]; else if (k === p.length - 1) m = n[n.length - 1];
    else {
      const a = n[k - 1], b = n[k];
      const sx = a[0] + b[0], sy = a[1] + b[1], sl = Math.hypot(sx, sy) || 1;
      const cos = Math.max((sx / sl) * b[0] + (sy / sl) * b[1], 1 / 3); // clamp the mitre at 3 × hw
      m = [sx / sl / cos, sy / sl / cos];
    }
    return [q[0] + sign * m[0] * hw, q[1] + sign * m[1] * hw];
  });
  const cap = (c, normal) => {
    const out = [], a = Math.atan2(normal[1], normal[0]);
    for (let j = 1; j < 8; j++) out.push([c[0] + hw * Math.cos(a - (Math.PI * j) / 8), c[1] + hw * Math.sin(a - (Math.PI * j) / 8)]);
    return out;
  };
  const left = side(1), right = side(-1).reverse();
  const last = n[n.length - 1], first = n[0];
  const ring = [...left, ...cap(p[p.length - 1], last), ...right, ...cap(p[0], [-first[0], -first[1]])];
  ring.push(ring[0]);
  return new Polygon([ring]);
}

function circlePolygon(c, r, segments = 32) {
  const ring = [];
  for (let i = 0; i <= segments; i++) ring.push([c[0] + r * Math.cos((2 * Math.PI * i) / segments), c[1] + r * Math.sin((2 * Math.PI * i) / segments)]);
  return new Polygon([ring]);
}

// The geometry of one F3548 volume, and a point for its label.
export function volumeGeometry(v) {
  if (v.outline_circle) {
    const c = v.outline_circle.center;
    const r = (v.outline_circle.radius?.value ?? 0) * scaleAt(c.lat);
    const center = merc(c);
    return { geom: new CircleGeom(center, r), anchor: center };
  }
  if (v.outline_polygon) {
    const ring = v.outline_polygon.vertices.map(merc);
    ring.push(ring[0]);
    const ext = createEmpty();
    for (const q of ring) extend(ext, [q[0], q[1], q[0], q[1]]);
    return { geom: new Polygon([ring]), anchor: getCenter(ext) };
  }
  if (v.corridor) {
    const path = v.corridor.path;
    const lat = path.reduce((s, q) => s + q.lat, 0) / path.length;
    const pts = path.map(merc);
    const hw = (v.corridor.half_width?.value ?? 0) * scaleAt(lat);
    return { geom: bufferLine(pts, hw), anchor: pts[Math.floor((pts.length - 1) / 2)] };
  }
  return null;
}

const ms = (t) => (t ? Date.parse(t.value ?? t) : NaN);

function altitudeBand(v, fmt, t) {
  const lo = v.altitude_lower, hi = v.altitude_upper;
  if (!lo || !hi) return "";
  const toM = (a) => (a.units === "FT" ? a.value * 0.3048 : a.value);
  return t("map.altitude", { lo: fmt.number(toM(lo)), hi: fmt.number(toM(hi)) });
}

// ---- styles (cached) ----------------------------------------------------------------------------

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function rgba(hex, a) {
  const h = hex.replace("#", "");
  const n = parseInt(h.length === 3 ? h.replace(/./g, "$&$&") : h, 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

function hatch(color) {
  const c = document.createElement("canvas");
  c.width = c.height = 10;
  const g = c.getContext("2d");
  g.strokeStyle = color;
  g.lineWidth = 1.5;
  g.beginPath();
  g.moveTo(0, 10); g.lineTo(10, 0); g.moveTo(-5, 5); g.lineTo(5, -5); g.moveTo(5, 15); g.lineTo(15, 5);
  g.stroke();
  return g.createPattern(c, "repeat");
}

class Styles {
  constructor() {
    this.colors = {
      own: cssVar("--own", "#3fa7ff"), other: cssVar("--other", "#ffb547"), conflict: cssVar("--conflict", "#ff4d4f"),
      preview: "#4dffe1", select: "#ffffff", land: "#26333f", border: "#4f6478",
    };
    for (const k of ZONE_KINDS) this.colors[k] = cssVar(ZONE_VAR[k], "#8fa3b8");
    this.cache = new Map();
  }
  get(key, make) {
    let s = this.cache.get(key);
    if (!s) { s = make(); this.cache.set(key, s); }
    return s;
  }
  // category: own | other | a zone kind; down: dashed; draft: more transparent, dotted.
  // detail: zoomed in (few volumes in view) — wider outlines; zoomed out, 1 px outlines, which
  // software rendering draws several times faster than wider ones (measured: 45 vs 100 ms for
  // 4,000 polygons).
  item(category, down, draft, detail) {
    return this.get(`i|${category}|${down}|${draft}|${detail}`, () => {
      const c = this.colors[category] ?? this.colors.other;
      const zone = ZONE_KINDS.includes(category);
      return new Style({
        fill: new Fill({ color: rgba(c, zone ? 0.12 : draft ? 0.06 : 0.16) }),
        stroke: new Stroke({ color: rgba(c, draft ? 0.6 : 0.95), width: detail ? 1.5 : 1, lineDash: down ? [8, 6] : draft ? [2, 4] : undefined }),
      });
    });
  }
  // In conflict: a red hatch and a wide red outline zoomed in; zoomed out a plain translucent red
  // fill and a 1 px outline (the hatch costs 3 × more to draw).
  conflict(detail) {
    return this.get(`conflict|${detail}`, () => new Style({
      fill: new Fill({ color: detail ? hatch(rgba(this.colors.conflict, 0.7)) : rgba(this.colors.conflict, 0.22) }),
      stroke: new Stroke({ color: this.colors.conflict, width: detail ? 2.5 : 1 }),
    }));
  }
  incident() {
    return this.get("incident", () => [
      new Style({ fill: new Fill({ color: rgba("#ff8c42", 0.15) }), stroke: new Stroke({ color: "#ff8c42", width: 2, lineDash: [4, 3] }) }),
      new Style({
        geometry: (f) => new Point(f.getGeometry().getCenter()),
        image: new CircleStyle({ radius: 6, fill: new Fill({ color: "#ff8c42" }), stroke: new Stroke({ color: "#000", width: 1.5 }) }),
      }),
    ]);
  }
  highlight(role) {
    return this.get(`h|${role}`, () => {
      const c = role === "select" ? this.colors.select : this.colors.conflict;
      return [
        new Style({ stroke: new Stroke({ color: "rgba(0,0,0,0.8)", width: 6 }) }),
        new Style({ stroke: new Stroke({ color: c, width: 3 }), fill: new Fill({ color: rgba(c === "#ffffff" ? "#ffffff" : c, 0.12) }) }),
      ];
    });
  }
  preview() {
    return this.get("preview", () => new Style({
      fill: new Fill({ color: rgba(this.colors.preview, 0.18) }),
      stroke: new Stroke({ color: this.colors.preview, width: 2.5, lineDash: [10, 5] }),
    }));
  }
  basemap() {
    return this.get("basemap", () => new Style({
      fill: new Fill({ color: this.colors.land }), stroke: new Stroke({ color: this.colors.border, width: 0.8 }),
    }));
  }
}

// The basemap is fetched and parsed as soon as the page loads this module (while the login and
// the snapshot's REST calls are under way), not when the map is mounted.
const BASEMAP = fetch("/ui/basemap.json")
  .then((r) => (r.ok ? r.json() : null))
  .then((geo) => (geo ? new GeoJSON().readFeatures(geo, { featureProjection: "EPSG:3857" }) : []))
  .then((features) => {
    // Simplified once here (≈ 1 km, finer than 1:50m data shows): every first draw at a new zoom
    // then simplifies far fewer vertices (it cost ≈ 400 ms a zoom level with the full geometry).
    for (const f of features) f.setGeometry(f.getGeometry().simplify(BASEMAP_TOLERANCE_M));
    return features;
  })
  .catch(() => []);

// ---- the module ---------------------------------------------------------------------------------

export function mountMap(root, ctx) {
  const { bus, data, me, t, fmt } = ctx;
  const tx = (key, fallback, params) => { const s = t(key, params); return s === key ? fallback : s; };
  const styles = new Styles();
  const target = el("div", { class: "map-canvas", "data-testid": "map" });
  const popupEl = el("div", { class: "map-popup", "data-testid": "map-popup", hidden: true });
  const panel = el("details", { class: "map-panel", "data-testid": "map-layers", open: true });
  const drawHint = el("div", { class: "map-draw-hint", "data-testid": "map-draw-hint", hidden: true });
  clear(root);
  root.append(target, panel, drawHint, popupEl);

  // State shared by the style functions.
  let filter = null; // {s, e} in ms, or null: every time
  const zoneOn = Object.fromEntries(ZONE_KINDS.map((k) => [k, true]));
  const downParties = new Set();
  const inTime = (p) => !filter || (p.t1 > filter.s && p.t0 < filter.e);
  const isDown = (p) => p.down || downParties.has(p.party);

  const itemStyle = (f, res) => {
    const p = f.get("p");
    if (!inTime(p)) return null;
    const detail = res < DETAIL_RES;
    if (p.type === "zone") return zoneOn[p.kind] ? styles.item(p.kind, isDown(p), false, detail) : null;
    return styles.item(p.own ? "own" : "other", isDown(p), p.draft, detail);
  };
  const conflictStyle = (f, res) => {
    const p = f.get("p");
    if (!inTime(p)) return null;
    if (p.type === "zone" && !zoneOn[p.kind]) return null;
    return styles.conflict(res < DETAIL_RES);
  };
  const labelStyle = (f) => {
    const p = f.get("p");
    if (!inTime(p) || (p.type === "zone" && !zoneOn[p.kind])) return null;
    let s = f.get("style"); // one Style per label feature, made once (the text differs per volume)
    if (!s) {
      s = new Style({
        text: new Text({
          text: `${p.name}\n${altitudeBand(p.v, fmt, t)}`, font: "12px system-ui, sans-serif", overflow: false, textAlign: "center",
          fill: new Fill({ color: "#e6edf3" }), stroke: new Stroke({ color: "rgba(0,0,0,0.85)", width: 3 }),
        }),
      });
      f.set("style", s, true);
    }
    return s;
  };

  const sources = {
    basemap: new VectorSource({ wrapX: false }),
    zones: new VectorSource({ wrapX: false }), other: new VectorSource({ wrapX: false }), own: new VectorSource({ wrapX: false }),
    conflicts: new VectorSource({ wrapX: false }), incidents: new VectorSource({ wrapX: false }), labels: new VectorSource({ wrapX: false }),
    highlight: new VectorSource({ wrapX: false }), preview: new VectorSource({ wrapX: false }), draw: new VectorSource({ wrapX: false }),
  };
  const imageLayer = (source, style, z) => new VectorImageLayer({ source, style, zIndex: z, imageRatio: 1.5 });
  const layers = {
    basemap: imageLayer(sources.basemap, styles.basemap(), 1),
    zones: imageLayer(sources.zones, itemStyle, 10),
    other: imageLayer(sources.other, itemStyle, 11),
    own: imageLayer(sources.own, itemStyle, 12),
    conflicts: imageLayer(sources.conflicts, conflictStyle, 13),
    // an incident is a moment: shown while the time filter's window holds it
    incidents: new VectorLayer({ source: sources.incidents, style: (f) => (inTime(f.get("p")) ? styles.incident() : null), zIndex: 14 }),
    labels: new VectorLayer({ source: sources.labels, style: labelStyle, zIndex: 15, declutter: true, maxResolution: LABEL_MAX_RES, updateWhileInteracting: false, updateWhileAnimating: false }),
    highlight: new VectorLayer({ source: sources.highlight, style: (f) => styles.highlight(f.get("role")), zIndex: 20 }),
    preview: new VectorLayer({ source: sources.preview, style: styles.preview(), zIndex: 21 }),
    draw: new VectorLayer({ source: sources.draw, style: styles.preview(), zIndex: 22 }),
  };
  let tiles = null;

  const popup = new Overlay({ element: popupEl, positioning: "bottom-center", offset: [0, -8], autoPan: { margin: 40 }, stopEvent: true });
  // The map gets its element only once everything of the first picture is in its sources and the
  // page's layout has settled (below): one full draw instead of one per layer added or resize.
  const map = new Map({
    layers: Object.values(layers),
    overlays: [popup],
    controls: defaultControls({ attribution: false, rotate: false }).extend([new ScaleLine()]),
    view: new View({ center: fromLonLat([38, 35]), zoom: 6, maxZoom: 16, minZoom: 2, constrainResolution: false }),
  });
  // Test and benchmark hook (see the comment at the top): the OpenLayers map.
  window.__deconflictMap = map;

  // ---- building features ----------------------------------------------------------------------

  const byItem = new globalThis.Map(); // item id → {doc, layer, features: [...], labels: [...], anchors: [...]}
  const itemLayerName = (doc) => (doc.type === "zone" ? "zones" : doc.party === me.party ? "own" : "other");

  function build(doc) {
    const entry = { doc, layer: itemLayerName(doc), features: [], labels: [] };
    if (!LIVE[doc.type]?.has(doc.state)) return entry;
    const name = doc.callsign || doc.title || doc.id;
    (doc.volumes || []).forEach((v, i) => {
      const g = volumeGeometry(v);
      if (!g) return;
      const p = {
        id: doc.id, vol: i, type: doc.type, kind: doc.kind, party: doc.party, own: doc.party === me.party,
        draft: doc.state === "draft", down: !!doc.party_down, t0: ms(v.time_start), t1: ms(v.time_end),
        name, v, // the label's text is made when its style is (again after a language change)
      };
      const f = new Feature({ geometry: g.geom });
      f.set("p", p, true);
      entry.features.push(f);
      const lf = new Feature({ geometry: new Point(g.anchor) });
      lf.set("p", p, true);
      entry.labels.push(lf);
    });
    return entry;
  }

  function removeEntry(entry) {
    const src = sources[entry.layer];
    for (const f of entry.features) src.removeFeature(f);
    for (const f of entry.labels) sources.labels.removeFeature(f);
  }

  // Bring the item layers in line with data.items: rebuild only the items whose document changed.
  function syncItems() {
    const add = { zones: [], other: [], own: [], labels: [] };
    for (const [id, doc] of data.items) {
      const old = byItem.get(id);
      if (old && old.doc === doc) continue;
      if (old) removeEntry(old);
      const entry = build(doc);
      byItem.set(id, entry);
      add[entry.layer].push(...entry.features);
      add.labels.push(...entry.labels);
    }
    for (const [id, entry] of byItem) {
      if (!data.items.has(id)) { removeEntry(entry); byItem.delete(id); }
    }
    for (const [k, list] of Object.entries(add)) if (list.length) sources[k].addFeatures(list);
  }

  // Conflicts: the volumes of both items of every unresolved conflict, drawn again in red hatch.
  const conflictVolumes = new globalThis.Map(); // conflict id → [features]
  function syncConflicts() {
    sources.conflicts.clear(true);
    conflictVolumes.clear();
    const list = [];
    for (const c of data.conflicts.values()) {
      if (c.state === "resolved") continue;
      const fs = [];
      for (const [side, key] of [["a", "volume"], ["b", "other_volume"]]) {
        const entry = byItem.get(c[side]?.item?.id);
        if (!entry) continue;
        const wanted = new Set((c.volumes || []).map((v) => v[key]));
        for (const f of entry.features) {
          if (!wanted.has(f.get("p").vol)) continue;
          const cf = new Feature({ geometry: f.getGeometry() });
          cf.set("p", { ...f.get("p"), conflict: c.id }, true);
          fs.push(cf);
        }
      }
      conflictVolumes.set(c.id, fs);
      list.push(...fs);
    }
    sources.conflicts.addFeatures(list);
  }

  function syncIncidents() {
    sources.incidents.clear(true);
    const list = [];
    for (const inc of data.incidents.values()) {
      if (!inc.position) continue;
      const lat = inc.position.lat;
      const f = new Feature({ geometry: new CircleGeom(fromLonLat([inc.position.lon, lat]), (inc.radius_m || 0) * scaleAt(lat)) });
      const at = inc.occurred_at ? Date.parse(inc.occurred_at) : NaN;
      const [t0, t1] = Number.isNaN(at) ? [-Infinity, Infinity] : [at - 1, at + 1];
      f.set("p", { id: inc.id, type: "incident", party: inc.party, t0, t1 }, true);
      list.push(f);
    }
    sources.incidents.addFeatures(list);
  }

  function syncLiveness() {
    downParties.clear();
    for (const row of data.liveness.values()) if (row.state === "down") downParties.add(row.party);
  }

  function redrawItems() {
    for (const k of ["zones", "other", "own", "conflicts", "incidents", "labels"]) layers[k].changed();
  }

  // ---- basemap and optional tiles -------------------------------------------------------------

  const basemapLoaded = BASEMAP.then((features) => sources.basemap.addFeatures(features));
  fetch("/ui/config.json").then((r) => (r.ok ? r.json() : null)).then((cfg) => {
    if (!cfg?.tile_url) return;
    tiles = new TileLayer({ source: new XYZ({ url: cfg.tile_url, crossOrigin: null }), zIndex: 0, opacity: 0.9 });
    map.addLayer(tiles);
    layers.basemap.setOpacity(0.35);
    renderPanel();
  }).catch(() => {});

  // ---- first picture --------------------------------------------------------------------------

  syncLiveness();
  syncItems();
  syncConflicts();
  syncIncidents();
  basemapLoaded.then(() => requestAnimationFrame(() => {
    map.setTarget(target);
    map.updateSize();
    const all = createEmpty();
    for (const k of ["zones", "other", "own"]) if (sources[k].getFeatures().length) extend(all, sources[k].getExtent());
    if (!isEmpty(all)) map.getView().fit(all, { padding: [40, 40, 40, 40], maxZoom: 10 });
    map.once("rendercomplete", () => {
      if (document.body.dataset.painted === "1") return;
      performance.mark("picture-painted");
      document.body.dataset.painted = "1";
    });
    map.render();
  }));

  // ---- layer switcher and legend --------------------------------------------------------------

  const visible = { tiles: true, zones: true, other: true, own: true, conflicts: true, incidents: true, labels: true };
  function swatch(color, dashed) {
    return el("span", { class: `swatch${dashed ? " dashed" : ""}`, style: `--c:${color}` });
  }
  function check(name, label, color, on, onChange) {
    const box = el("input", { type: "checkbox", checked: on, "data-testid": name });
    box.addEventListener("change", () => onChange(box.checked));
    return el("label", { class: "map-check" }, [box, color ? swatch(color) : null, el("span", {}, label)]);
  }
  function renderPanel() {
    const open = panel.open;
    clear(panel);
    panel.open = open;
    panel.append(el("summary", {}, t("map.layers")));
    const rows = [];
    if (tiles) rows.push(check("map-layer-tiles", t("map.layer.tiles"), null, visible.tiles, (v) => { visible.tiles = v; tiles.setVisible(v); }));
    const colour = { own: styles.colors.own, other: styles.colors.other, conflicts: styles.colors.conflict, incidents: "#ff8c42" };
    for (const k of ["own", "other", "conflicts", "incidents", "labels"]) {
      rows.push(check(`map-layer-${k}`, t(`map.layer.${k}`), colour[k], visible[k], (v) => { visible[k] = v; layers[k].setVisible(v); }));
    }
    rows.push(check("map-layer-zones", t("map.layer.zones"), null, visible.zones, (v) => { visible.zones = v; layers.zones.setVisible(v); }));
    const zoneRows = ZONE_KINDS.map((k) => check(`map-zone-${k}`, t(`map.zone.${k}`), styles.colors[k], zoneOn[k],
      (v) => { zoneOn[k] = v; redrawItems(); }));
    panel.append(el("div", { class: "map-checks" }, rows), el("div", { class: "map-checks map-zone-kinds" }, zoneRows));
    panel.append(el("div", { class: "map-legend", "data-testid": "map-legend" }, [
      el("div", {}, [swatch(styles.colors.other, true), t("map.legend.down")]),
      el("div", {}, [el("span", { class: "swatch dotted", style: `--c:${styles.colors.own}` }), t("map.legend.draft")]),
      el("div", {}, [el("span", { class: "swatch hatch", style: `--c:${styles.colors.conflict}` }), t("map.legend.conflict")]),
      el("div", {}, [swatch(styles.colors.preview, true), t("map.legend.preview")]),
    ]));
  }
  renderPanel();

  // ---- popup and selection --------------------------------------------------------------------

  const kindName = (k) => tx(`map.kind.${k}`, k);
  const stateName = (s) => tx(`map.state.${s}`, s);
  const partyName = (id) => data.parties.get(id)?.name ?? id;
  const windowText = (a, b) => t("map.popup.window_value", { start: fmt.dateTime(a), end: fmt.dateTime(b) });
  const row = (label, value) => el("div", { class: "row" }, [el("span", { class: "muted" }, label), el("span", {}, value)]);

  function showPopup(sel, coordinate) {
    clear(popupEl);
    const close = el("button", { type: "button", class: "close", "data-testid": "map-popup-close", "aria-label": t("map.popup.close"),
      onclick: () => { popup.setPosition(undefined); popupEl.hidden = true; } }, "×");
    const body = [];
    if (sel.type === "activity" || sel.type === "zone") {
      const doc = data.items.get(sel.id);
      if (!doc) return;
      const v = doc.volumes?.[sel.vol ?? 0] ?? doc.volumes?.[0];
      body.push(el("div", { class: "title", "data-testid": "map-popup-title" }, [bdi(doc.title || doc.id), doc.callsign ? [" · ", bdi(doc.callsign)] : null].flat()));
      body.push(row(t("map.popup.party"), [bdi(partyName(doc.party)), doc.party_down || downParties.has(doc.party) ? el("strong", { class: "down" }, ` ${t("map.popup.down")}`) : ""]));
      body.push(row(t("map.popup.kind"), kindName(doc.kind) + (doc.subtype ? ` (${tx(`map.subtype.${doc.subtype}`, doc.subtype)})` : "")));
      body.push(row(t("map.popup.state"), stateName(doc.state)));
      if (v) body.push(row(t("map.popup.altitude"), altitudeBand(v, fmt, t)));
      const a = v?.time_start?.value ?? doc.time_start, b = v?.time_end?.value ?? doc.time_end;
      if (a && b) body.push(row(t("map.popup.window"), windowText(a, b)));
      if ((doc.volumes?.length ?? 0) > 1) body.push(row(t("map.popup.volume"), t("map.popup.volume_of", { n: fmt.number((sel.vol ?? 0) + 1), total: fmt.number(doc.volumes.length) })));
    } else if (sel.type === "conflict") {
      const c = data.conflicts.get(sel.id);
      if (!c) return;
      const name = (s) => bdi(s?.item?.callsign || s?.item?.title || s?.item?.id || "?");
      body.push(el("div", { class: "title", "data-testid": "map-popup-title" }, t("map.popup.conflict")));
      body.push(row(t("map.popup.between"), [name(c.a), " ↔ ", name(c.b)]));
      body.push(row(t("map.popup.parties"), [bdi(partyName(c.a?.party)), " ↔ ", bdi(partyName(c.b?.party))]));
      body.push(row(t("map.popup.state"), stateName(c.state)));
      const w = c.volumes?.[0];
      if (w?.window_start) body.push(row(t("map.popup.window"), windowText(w.window_start, w.window_end)));
    } else if (sel.type === "incident") {
      const inc = data.incidents.get(sel.id);
      if (!inc) return;
      body.push(el("div", { class: "title", "data-testid": "map-popup-title" }, [t("map.popup.incident"), ": ", bdi(inc.title || inc.id)]));
      body.push(row(t("map.popup.party"), bdi(partyName(inc.party))));
      body.push(row(t("map.popup.kind"), tx(`map.incident.${inc.kind}`, inc.kind)));
      body.push(row(t("map.popup.state"), stateName(inc.state)));
      body.push(row(t("map.popup.occurred"), fmt.dateTime(inc.occurred_at)));
      body.push(row(t("map.popup.radius"), `${fmt.number(inc.radius_m)} m`));
    }
    popupEl.append(close, ...body);
    popupEl.hidden = false;
    popupEl.dataset.type = sel.type;
    popupEl.dataset.id = sel.id;
    popup.setPosition(coordinate);
  }

  function featuresOf(sel) {
    if (sel.type === "activity" || sel.type === "zone") return byItem.get(sel.id)?.features ?? [];
    if (sel.type === "conflict") return conflictVolumes.get(sel.id) ?? [];
    if (sel.type === "incident") return sources.incidents.getFeatures().filter((f) => f.get("p").id === sel.id);
    return [];
  }

  function setHighlight(role, features) {
    for (const f of sources.highlight.getFeatures()) if (f.get("role") === role) sources.highlight.removeFeature(f);
    sources.highlight.addFeatures(features.map((f) => {
      const h = new Feature({ geometry: f.getGeometry() });
      h.set("role", role, true);
      return h;
    }));
  }

  let current = null; // the selection {type, id}
  let fromClick = false;
  bus.on("select", (sel) => {
    if (!sel || !["activity", "zone", "conflict", "incident"].includes(sel.type)) return;
    current = sel;
    const fs = featuresOf(sel);
    setHighlight("select", fs);
    if (fromClick || !fs.length) return;
    const ext = createEmpty();
    for (const f of fs) extend(ext, f.getGeometry().getExtent());
    const view = map.getView();
    view.fit(ext, { padding: [80, 80, 80, 80], maxZoom: Math.max(view.getZoom() ?? 8, 9), duration: 300 });
    showPopup(sel, getCenter(ext));
  });

  let drawing = null;
  map.on("singleclick", (e) => {
    if (drawing) return;
    let hit = null;
    const order = [layers.incidents, layers.conflicts, layers.own, layers.other, layers.zones];
    const found = new globalThis.Map();
    map.forEachFeatureAtPixel(e.pixel, (f, layer) => { if (!found.has(layer)) found.set(layer, f); }, {
      hitTolerance: 4, layerFilter: (l) => order.includes(l),
    });
    for (const l of order) if (found.has(l)) { hit = { f: found.get(l), layer: l }; break; }
    if (!hit) { popup.setPosition(undefined); popupEl.hidden = true; setHighlight("select", []); return; }
    const p = hit.f.get("p");
    const sel = p.conflict ? { type: "conflict", id: p.conflict } : { type: p.type, id: p.id };
    fromClick = true;
    try { bus.emit("select", sel); } finally { fromClick = false; }
    showPopup({ ...sel, vol: p.vol }, e.coordinate);
  });
  map.on("pointermove", (e) => {
    if (e.dragging || drawing) return;
    const hit = map.hasFeatureAtPixel(e.pixel, { hitTolerance: 4, layerFilter: (l) => l === layers.own || l === layers.other || l === layers.zones || l === layers.incidents || l === layers.conflicts });
    target.style.cursor = hit ? "pointer" : "";
  });

  // ---- time filter ----------------------------------------------------------------------------

  bus.on("time-filter", (w) => {
    filter = w ? { s: +w.start, e: +w.end } : null;
    redrawItems();
  });

  // ---- drawing for the filing form ------------------------------------------------------------

  function stopDrawing() {
    if (drawing) map.removeInteraction(drawing.interaction);
    drawing = null;
    drawHint.hidden = true;
  }
  const lonlat = (c) => { const [lon, lat] = toLonLat(c); return [round7(lat), round7(lon)]; };
  const round7 = (x) => Math.round(x * 1e7) / 1e7;
  bus.on("draw-start", ({ shape, halfWidthM } = {}) => {
    stopDrawing();
    sources.draw.clear();
    popup.setPosition(undefined); // the popup would swallow the clicks that land on it
    popupEl.hidden = true;
    const type = { polygon: "Polygon", circle: "Circle", corridor: "LineString" }[shape];
    if (!type) return;
    const interaction = new Draw({ source: sources.draw, type, style: styles.preview() });
    interaction.on("drawend", (e) => {
      const g = e.feature.getGeometry();
      let done;
      if (shape === "polygon") {
        const ring = g.getCoordinates()[0].map(lonlat);
        ring.pop(); // OL closes the ring; the API's polygon is open
        done = { shape, vertices: ring };
      } else if (shape === "circle") {
        const c = g.getCenter();
        const edge = [c[0] + g.getRadius(), c[1]];
        // The drawn radius is in projected metres; its geodesic length is the distance to the edge.
        done = { shape, center: lonlat(c), radiusM: Math.round(getDistance(toLonLat(c), toLonLat(edge)) * 10) / 10 };
      } else {
        done = { shape, path: g.getCoordinates().map(lonlat), halfWidthM: drawing?.halfWidthM ?? halfWidthM };
      }
      // Let OL finish adding the feature, then leave drawing mode.
      setTimeout(() => { stopDrawing(); bus.emit("draw-done", done); }, 0);
    });
    map.addInteraction(interaction);
    drawing = { interaction, shape, halfWidthM };
    clear(drawHint);
    drawHint.append(el("span", {}, t(`map.draw.${shape}`)), el("button", { type: "button", "data-testid": "map-draw-cancel",
      onclick: () => { stopDrawing(); sources.draw.clear(); bus.emit("draw-cancel", {}); } }, t("map.draw.cancel")));
    drawHint.hidden = false;
  });
  bus.on("draw-cancel", () => { if (drawing) { stopDrawing(); sources.draw.clear(); } });
  // Esc cancels a drawing wherever the focus is.  (No tabindex on the map's element: with one,
  // OpenLayers pans and zooms only while the map has the focus.)
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && drawing) { stopDrawing(); sources.draw.clear(); bus.emit("draw-cancel", {}); }
  });

  // ---- the filing form's candidate ------------------------------------------------------------

  bus.on("preview", (pv) => {
    sources.preview.clear(true);
    if (!pv) { setHighlight("preview", []); return; }
    sources.draw.clear();
    const fs = [];
    for (const v of pv.volumes || []) {
      const g = volumeGeometry(v);
      if (g) fs.push(new Feature({ geometry: g.geom }));
    }
    sources.preview.addFeatures(fs);
    const others = new Set((pv.conflicts || []).map((c) => c.other?.id).filter(Boolean));
    setHighlight("preview", [...others].flatMap((id) => byItem.get(id)?.features ?? []));
  });

  // ---- live updates ---------------------------------------------------------------------------

  bus.on("data", ({ kind }) => {
    if (kind === "items") { syncItems(); syncConflicts(); if (current) setHighlight("select", featuresOf(current)); }
    else if (kind === "conflicts") syncConflicts();
    else if (kind === "incidents") syncIncidents();
    else if (kind === "liveness") { syncLiveness(); redrawItems(); }
  });
  bus.on("language", () => { renderPanel(); sources.labels.getFeatures().forEach((f) => f.unset("style", true)); layers.labels.changed(); popup.setPosition(undefined); popupEl.hidden = true; });

  // Hooks (tests/benchmark): the pixel of a thing's first feature, and visible feature counts.
  map.deconflict = {
    pixelOf(id, type = id.startsWith("cfl_") ? "conflict" : id.startsWith("inc") ? "incident" : "activity") {
      const f = featuresOf({ type, id })[0];
      if (!f) return null;
      const g = f.getGeometry();
      return map.getPixelFromCoordinate(g.getType() === "Circle" ? g.getCenter() : g.getInteriorPoint().getCoordinates().slice(0, 2));
    },
    count() {
      const out = {};
      for (const k of ["zones", "other", "own", "conflicts", "incidents"]) {
        out[k] = sources[k].getFeatures().filter((f) => inTime(f.get("p"))).length;
      }
      return out;
    },
  };
  new ResizeObserver(() => map.updateSize()).observe(target);
  return map;
}
