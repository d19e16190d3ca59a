// Builds the web UI into ../src/deconflict/api/webui (shipped in the Python package):
//   app.js / app.css  — src/main.js bundled with OpenLayers by esbuild (ES2020, minified);
//   index.html        — src/index.html as is;
//   basemap.json      — Natural Earth countries (npm `world-atlas`, 1:50m) as GeoJSON, cut at the
//                       antimeridian so no polygon draws as a band across a Web Mercator map.
// Run by `make web` (npm ci first).  Nothing here is fetched at run time.
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { feature } from "topojson-client";
import { geoEquirectangular } from "d3-geo";
import { geoProject } from "d3-geo-projection";

const here = dirname(fileURLToPath(import.meta.url));
// `node build.mjs --out DIR` builds elsewhere (served with DECONFLICT_WEBUI=DIR; for development).
const outArg = process.argv.indexOf("--out");
const out = outArg > 0 ? process.argv[outArg + 1] : join(here, "..", "src", "deconflict", "api", "webui");
mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: { app: join(here, "src", "main.js") },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: ["es2020"],
  outdir: out,
  legalComments: "linked",
  loader: { ".json": "json" },
  logLevel: "warning",
});
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));

// The basemap.  d3's equirectangular projection at scale 180/π with no translation is the identity
// in degrees (y reflected back); its antimeridian clipping cuts every polygon that crosses ±180°,
// and precision(0) turns off resampling so no vertex is added.  Latitudes are clamped to the Web
// Mercator limit and coordinates rounded to 1e-3° (~100 m, finer than 1:50m data).
const MERCATOR_LAT = 85.0511;
const topo = JSON.parse(readFileSync(join(here, "node_modules", "world-atlas", "countries-50m.json"), "utf8"));
const countries = feature(topo, topo.objects.countries);
const identity = geoEquirectangular().scale(180 / Math.PI).translate([0, 0]).precision(0).reflectY(true);
const cut = geoProject(countries, identity);
const round = (v) => Math.round(v * 1000) / 1000;
const fix = (c) => {
  if (typeof c[0] === "number") return [round(c[0]), round(Math.max(-MERCATOR_LAT, Math.min(MERCATOR_LAT, c[1])))];
  return c.map(fix);
};
const features = cut.features
  .filter((f) => f.geometry)
  .map((f) => ({ type: "Feature", id: f.id ?? null, properties: { name: f.properties?.name ?? "" },
                 geometry: { type: f.geometry.type, coordinates: fix(f.geometry.coordinates) } }));
writeFileSync(join(out, "basemap.json"), JSON.stringify({ type: "FeatureCollection",
  source: "Natural Earth 1:50m via world-atlas 2 (public domain)", features }));
console.log(`built ${out}: app.js, app.css, index.html, basemap.json (${features.length} countries)`);
