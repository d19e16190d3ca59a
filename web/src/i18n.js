// Interface languages: flat key → string tables in ./i18n/<area>/<lang>.json (one folder per part
// of the page: shell, map, work, hotline), "{name}" placeholders.  A language is a file in each
// folder; a test checks that every language has every key and the same placeholders.
// Times are 24-hour UTC with the reader's local time beside them; digits follow the language
// (Arabic-Indic for Arabic, as the server's catalogue renders them).
import shellEn from "./i18n/shell/en.json";
import shellAr from "./i18n/shell/ar.json";
import shellTr from "./i18n/shell/tr.json";
import shellHe from "./i18n/shell/he.json";
import mapEn from "./i18n/map/en.json";
import mapAr from "./i18n/map/ar.json";
import mapTr from "./i18n/map/tr.json";
import mapHe from "./i18n/map/he.json";
import workEn from "./i18n/work/en.json";
import workAr from "./i18n/work/ar.json";
import workTr from "./i18n/work/tr.json";
import workHe from "./i18n/work/he.json";
import hotlineEn from "./i18n/hotline/en.json";
import hotlineAr from "./i18n/hotline/ar.json";
import hotlineTr from "./i18n/hotline/tr.json";
import hotlineHe from "./i18n/hotline/he.json";

export const TABLES = {
  en: { ...shellEn, ...mapEn, ...workEn, ...hotlineEn },
  ar: { ...shellAr, ...mapAr, ...workAr, ...hotlineAr },
  tr: { ...shellTr, ...mapTr, ...workTr, ...hotlineTr },
  he: { ...shellHe, ...mapHe, ...workHe, ...hotlineHe },
};
export const LANGUAGES = Object.keys(TABLES);
const RTL = new Set(["ar", "he"]);
let current = "en";

export function language() { return current; }
export function direction(lang = current) { return RTL.has(lang) ? "rtl" : "ltr"; }

export function setLanguage(lang) {
  current = TABLES[lang] ? lang : "en";
  document.documentElement.lang = current;
  document.documentElement.dir = direction(current);
  return current;
}

// t("queue.due_in", {time: "…"}): the current language's string, English when missing, the key when neither has it.
export function t(key, params = {}) {
  const s = TABLES[current][key] ?? TABLES.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
}

function locale() { return current === "ar" ? "ar-u-nu-arab" : current; }

const cache = new Map();
function formatter(kind, opts) {
  const k = `${current}|${kind}`;
  if (!cache.has(k)) cache.set(k, new Intl.DateTimeFormat(locale(), opts));
  return cache.get(k);
}

const asDate = (v) => (v instanceof Date ? v : new Date(v));
// "14:05Z" keeps its order inside right-to-left text: a left-to-right isolate (LRI … PDI).
const ltr = (s) => (direction() === "rtl" ? `\u2066${s}\u2069` : s);
const utcOf = (d) => ltr(`${formatter("utc-hm", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC" }).format(d)}Z`);

export const fmt = {
  // "14:05Z (17:05 local)" — the UTC time first, always 24-hour.
  time(v) {
    const d = asDate(v);
    const loc = formatter("loc-hm", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(d);
    return t("time.utc_local", { utc: utcOf(d), local: loc });
  },
  // "25 Nov 14:05Z (17:05 local)"
  dateTime(v) {
    const d = asDate(v);
    const day = formatter("utc-day", { day: "2-digit", month: "short", timeZone: "UTC" }).format(d);
    return `${day} ${fmt.time(d)}`;
  },
  // Only the UTC part, for dense places (Gantt axis, slider): "14:05Z".
  utc(v) {
    const d = asDate(v);
    return t("time.utc", { utc: utcOf(d) });
  },
  number(n, digits = 0) {
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(n);
  },
  // A signed countdown "1 h 05 min" / "−3 min" (negative = overdue).
  duration(seconds) {
    const neg = seconds < 0;
    let s = Math.abs(Math.round(seconds));
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    const sec = s - m * 60;
    const n = (x, pad = 2) => fmt.number(x).padStart(pad, fmt.number(0));
    const body = h > 0 ? t("duration.hm", { h: fmt.number(h), m: n(m) })
      : m > 0 ? t("duration.ms", { m: fmt.number(m), s: n(sec) }) : t("duration.s", { s: fmt.number(sec) });
    return neg ? t("duration.overdue", { d: body }) : body;
  },
};
