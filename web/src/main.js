// The common operating picture: log in, load the picture, keep it live.
//
// Layout: a header (party, user, language, connection), a banner row (connection or a party
// DOWN), the map with the time slider and Gantt under it, and a side panel with the work
// queues, the filing form and the hotline.  Each part is a module with `mount(el, ctx)`;
// they share `ctx` and talk over `ctx.bus` (see bus.js for the events).
//
// Test and benchmark hooks: <body data-state="login|loading|ready">, and the map module marks
// `performance.mark("picture-painted")` when the first frame with the picture is drawn.
import "./layout.css";
import { Api } from "./api.js";
import { Bus } from "./bus.js";
import { Data } from "./data.js";
import { Live } from "./live.js";
import { LANGUAGES, TABLES, direction, fmt, language, setLanguage, t } from "./i18n.js";
import { mountMap } from "./map.js";
import { mountTimeline } from "./timeline.js";
import { mountQueues } from "./queues.js";
import { mountFileForm } from "./fileform.js";
import { mountHotline } from "./hotline.js";
import { el, clear } from "./dom.js";

const TOKEN_KEY = "deconflict.token";
const LANG_KEY = "deconflict.language";
const root = document.getElementById("app");

function setBodyState(s) { document.body.dataset.state = s; }

function languagePicker(onChange) {
  const select = el("select", { "data-testid": "language", "aria-label": "language" },
    LANGUAGES.map((l) => el("option", { value: l, selected: l === language() }, TABLES[l]["language.name"] ?? l)));
  select.addEventListener("change", () => onChange(select.value));
  return select;
}

function showLogin(message) {
  setBodyState("login");
  setLanguage(localStorage.getItem(LANG_KEY) || navigator.language?.slice(0, 2) || "en");
  clear(root);
  const user = el("input", { name: "username", autocomplete: "username", required: true, "data-testid": "username" });
  const pass = el("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "data-testid": "password" });
  const error = el("p", { class: "error", role: "alert" }, message || "");
  const form = el("form", { class: "login", "data-testid": "login" }, [
    el("h1", {}, "deconflict"),
    el("label", {}, [t("login.username"), user]),
    el("label", {}, [t("login.password"), pass]),
    el("button", { type: "submit" }, t("login.submit")),
    error,
    languagePicker((l) => { localStorage.setItem(LANG_KEY, l); showLogin(); }),
  ]);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const res = await new Api(null).post("/v1/auth/login", { username: user.value, password: pass.value }, { idempotent: false });
      sessionStorage.setItem(TOKEN_KEY, res.access_token);
      start(res.access_token);
    } catch (err) {
      error.textContent = err.status === 401 ? t("login.failed") : err.message;
    }
  });
  root.append(form);
  user.focus();
}

function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

async function start(token) {
  setBodyState("loading");
  const bus = new Bus();
  const api = new Api(token, { onUnauthorised: () => { sessionStorage.removeItem(TOKEN_KEY); showLogin(t("login.expired")); } });
  let me;
  try {
    me = await api.get("/v1/me");
  } catch {
    return; // onUnauthorised showed the login form
  }
  setLanguage(localStorage.getItem(LANG_KEY) || me.language || "en");
  const data = new Data(api, bus, me);
  const ctx = { api, bus, data, me, t, fmt, language, direction, now: () => new Date(), token };
  clear(root);
  const banner = el("div", { class: "banners", role: "status", "data-testid": "banners" });
  const conn = el("span", { class: "conn", "data-testid": "connection" });
  const header = el("header", {}, [
    el("strong", { class: "brand" }, "deconflict"),
    el("span", { class: "who", "data-testid": "who" }),
    conn,
    languagePicker((l) => { localStorage.setItem(LANG_KEY, l); setLanguage(l); bus.emit("language", l); }),
    el("button", { type: "button", class: "logout", "data-testid": "logout", onclick: logout }, ""),
  ]);
  const mapEl = el("div", { id: "map", class: "map" });
  const timelineEl = el("div", { id: "timeline", class: "timeline" });
  const panes = { queues: el("section", { id: "queues" }), file: el("section", { id: "file" }), hotline: el("section", { id: "hotline" }) };
  const tabs = el("nav", { class: "tabs", role: "tablist" });
  const side = el("aside", { class: "side" }, [tabs, ...Object.values(panes)]);
  root.append(header, banner, el("main", {}, [el("div", { class: "picture" }, [mapEl, timelineEl]), side]));

  function showTab(name) {
    for (const [k, pane] of Object.entries(panes)) pane.hidden = k !== name;
    for (const b of tabs.children) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  }
  function renderChrome() {
    header.querySelector(".who").textContent = t("header.who", { user: me.user, party: data.parties.get(me.party)?.name ?? me.party });
    header.querySelector(".logout").textContent = t("header.logout");
    const selected = [...tabs.children].find((b) => b.getAttribute("aria-selected") === "true")?.dataset.tab ?? "queues";
    clear(tabs);
    for (const name of Object.keys(panes)) {
      tabs.append(el("button", { type: "button", role: "tab", "data-tab": name, "data-testid": `tab-${name}`, onclick: () => showTab(name) }, t(`tab.${name}`)));
    }
    showTab(selected);
    renderBanners();
  }

  let connection = "reconnecting";
  function renderBanners() {
    clear(banner);
    conn.textContent = t(`connection.${connection}`);
    conn.dataset.state = connection;
    if (connection !== "up") banner.append(el("div", { class: "banner danger", "data-testid": "banner-connection" }, t(`banner.connection_${connection}`)));
    for (const row of data.liveness.values()) {
      if (row.state === "down") {
        const name = data.parties.get(row.party)?.name ?? row.party;
        banner.append(el("div", { class: "banner danger", "data-testid": `banner-party-${row.party}` },
          t("banner.party_down", { party: name, since: row.since ? fmt.dateTime(row.since) : "?" })));
      }
    }
  }
  bus.on("connection", ({ state }) => { connection = state; renderBanners(); });
  bus.on("data", ({ kind }) => { if (kind === "liveness") renderBanners(); });
  bus.on("language", renderChrome);
  bus.on("unauthorised", () => showLogin(t("login.expired")));
  bus.on("select", ({ type }) => { if (type === "thread") showTab("hotline"); });

  await data.load();
  renderChrome();
  mountMap(mapEl, ctx);
  mountTimeline(timelineEl, ctx);
  mountQueues(panes.queues, ctx);
  mountFileForm(panes.file, ctx);
  mountHotline(panes.hotline, ctx);
  const policy = await api.get("/v1/policy").catch(() => null);
  const live = new Live({ token, after: data.head, bus, heartbeatS: policy?.liveness?.heartbeat_s ?? 30,
    onEvent: (ev) => { data.apply(ev); bus.emit("server-event", ev); } });
  live.start();
  ctx.live = live;
  bus.on("server-event", async (ev) => {
    if (ev.type !== "policy.changed") return;
    const changed = await api.get("/v1/policy").catch(() => null);
    if (changed?.liveness?.heartbeat_s) live.setHeartbeat(changed.liveness.heartbeat_s);
  });
  await data.loadRest();
  setBodyState("ready");
}

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) start(saved); else showLogin();
