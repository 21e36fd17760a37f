// tuneforge dashboard: hand-written, no dependencies, nothing fetched but this server's /api/... JSON.
// Pages are hash routes (#/runs, #/run/ID, #/registry, #/monitor, #/playground) so a plain static page works.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
// Okabe-Ito colours, and for each series also a dash pattern and a marker shape: readable without colour.
const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
const DASHES = ["", "7 4", "2 3", "9 3 2 3", "1 5", "12 5"];
const MARKERS = ["circle", "square", "triangle", "diamond", "cross", "circle-open"];
const main = document.getElementById("main");

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) el.append(k instanceof Node ? k : String(k));
  return el;
}
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const k of kids.flat()) if (k !== null && k !== undefined) el.append(k instanceof Node ? k : String(k));
  return el;
}
const fmt = (v, d = 4) => v === null || v === undefined ? "–" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(d)) : String(v);
const pct = (v) => v === null || v === undefined ? "–" : (100 * v).toFixed(1) + " %";

async function api(path, opts) {
  const r = await fetch(path, opts);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && body.detail) || `${r.status} ${r.statusText}`);
  return body;
}
function problem(err) { return h("p", { class: "alert", role: "alert" }, "Error: " + err.message); }

// ---------------------------------------------------------------------------------------------- charts
function marker(kind, x, y, color) {
  const r = 3.5;
  if (kind === "square") return s("rect", { x: x - r, y: y - r, width: 2 * r, height: 2 * r, fill: color });
  if (kind === "triangle") return s("polygon", { points: `${x},${y - r - 1} ${x - r - 1},${y + r} ${x + r + 1},${y + r}`, fill: color });
  if (kind === "diamond") return s("polygon", { points: `${x},${y - r - 1} ${x + r + 1},${y} ${x},${y + r + 1} ${x - r - 1},${y}`, fill: color });
  if (kind === "cross") return s("path", { d: `M${x - r},${y - r}L${x + r},${y + r}M${x - r},${y + r}L${x + r},${y - r}`, stroke: color, "stroke-width": 2 });
  if (kind === "circle-open") return s("circle", { cx: x, cy: y, r, fill: "#fff", stroke: color, "stroke-width": 2 });
  return s("circle", { cx: x, cy: y, r, fill: color });
}
function ticks(lo, hi, n = 5) {
  if (hi === lo) return [lo];
  const step0 = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= step0) || step0;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}
let chartCount = 0;
// series: [{name, points: [[x, y], ...]}]; refs: [{y, label}] drawn dotted with their label as text.
function lineChart({ title, xLabel, yLabel, series, yMin, yMax, refs = [], xTime = false, width = 600, height = 300 }) {
  const id = "chart" + (++chartCount);
  const pts = series.flatMap((se) => se.points).filter((p) => p[1] !== null && p[1] !== undefined && isFinite(p[1]));
  const fig = h("figure", {});
  if (!pts.length) { fig.append(h("figcaption", {}, title), h("p", { class: "note" }, "No data points to draw.")); return fig; }
  let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
  if (x0 === x1) { const pad = xTime ? 1800 : 1; x0 -= pad; x1 += pad; }  // one window: centre it
  let y0 = yMin ?? Math.min(...pts.map((p) => p[1]), ...refs.map((r) => r.y));
  let y1 = yMax ?? Math.max(...pts.map((p) => p[1]), ...refs.map((r) => r.y));
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const L = 56, R = 200, T = 12, B = 44, W = width - L - R, H = height - T - B;
  const X = (x) => L + (x - x0) / (x1 - x0) * W, Y = (y) => T + H - (y - y0) / (y1 - y0) * H;
  const xt = xTime ? (v) => new Date(v * 1000).toISOString().slice(5, 16).replace("T", " ") : (v) => fmt(v, 2);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": id + "-t" },
    s("title", { id: id + "-t" }, `${title}. ${series.map((se) => se.name).join(", ")}. Data table below.`));
  svg.append(s("line", { x1: L, y1: T + H, x2: L + W, y2: T + H, stroke: "#333" }), s("line", { x1: L, y1: T, x2: L, y2: T + H, stroke: "#333" }));
  for (const t of ticks(y0, y1)) {
    svg.append(s("line", { x1: L, x2: L + W, y1: Y(t), y2: Y(t), stroke: "#e3e3e3" }),
      s("text", { x: L - 6, y: Y(t) + 4, "text-anchor": "end" }, fmt(t, 3)));
  }
  for (const t of ticks(x0, x1, xTime ? 4 : 6)) svg.append(s("text", { x: X(t), y: T + H + 16, "text-anchor": "middle" }, xt(t)));
  svg.append(s("text", { x: L + W / 2, y: height - 6, "text-anchor": "middle" }, xLabel),
    s("text", { x: 12, y: T + H / 2, transform: `rotate(-90 12 ${T + H / 2})`, "text-anchor": "middle" }, yLabel));
  for (const r of refs) {
    svg.append(s("line", { x1: L, x2: L + W, y1: Y(r.y), y2: Y(r.y), stroke: "#333", "stroke-dasharray": "1 3" }),
      s("text", { x: L + W + 4, y: Y(r.y) + 4 }, r.label));
  }
  series.forEach((se, i) => {
    const color = COLORS[i % COLORS.length], good = se.points.filter((p) => p[1] !== null && isFinite(p[1]));
    if (!good.length) return;
    svg.append(s("polyline", { points: good.map((p) => `${X(p[0])},${Y(p[1])}`).join(" "), fill: "none", stroke: color,
      "stroke-width": 2, "stroke-dasharray": DASHES[i % DASHES.length] }));
    for (const p of good) svg.append(marker(MARKERS[i % MARKERS.length], X(p[0]), Y(p[1]), color));
    // legend: line sample + marker + name, so a series is told apart by shape and text as well as colour
    const ly = T + 10 + i * 18;
    svg.append(s("line", { x1: L + W + 8, x2: L + W + 34, y1: ly, y2: ly, stroke: color, "stroke-width": 2, "stroke-dasharray": DASHES[i % DASHES.length] }),
      marker(MARKERS[i % MARKERS.length], L + W + 21, ly, color), s("text", { x: L + W + 38, y: ly + 4 }, se.name.length > 26 ? "…" + se.name.slice(-25) : se.name));
  });
  const rows = [];
  series.forEach((se) => se.points.forEach((p) => rows.push(h("tr", {}, h("td", {}, se.name), h("td", { class: "num" }, xt(p[0])), h("td", { class: "num" }, fmt(p[1]))))));
  fig.append(h("figcaption", {}, title), svg,
    h("details", {}, h("summary", {}, "Data table"), h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "series"),
      h("th", { scope: "col" }, xLabel), h("th", { scope: "col" }, yLabel))), h("tbody", {}, rows))));
  return fig;
}

// ---------------------------------------------------------------------------------------------- runs
const METRIC_ROWS = ["test.accuracy", "test.macro_f1", "test.micro_f1", "test.exact_match", "test.entity_f1", "test.entity_precision", "test.entity_recall",
  "test.n", "validation.accuracy", "validation.macro_f1", "validation.micro_f1", "validation.entity_f1", "baseline_tfidf.test.macro_f1", "baseline_tfidf.test.micro_f1", "baseline_tfidf.validation.macro_f1", "baseline_tfidf.validation.micro_f1", "baseline_majority.accuracy",
  "train.samples_per_second", "train.runtime_s", "train.peak_rss_mb"];
const get = (obj, dotted) => dotted.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), obj);
const runLink = (id) => h("a", { href: "#/run/" + encodeURIComponent(id) }, id);

function compareTable(runs) {
  const head = h("tr", {}, h("th", { scope: "col" }, "key"), runs.map((r) => h("th", { scope: "col" }, runLink(r.id))));
  const body = [];
  const add = (key, vals, cls) => body.push(h("tr", { class: cls }, h("th", { scope: "row" }, key, cls ? " (differs)" : ""),
    vals.map((v) => h("td", { class: typeof v === "number" ? "num" : null }, fmt(v)))));
  add("task", runs.map((r) => r.task)); add("backbone", runs.map((r) => r.backbone));
  for (const k of METRIC_ROWS) {
    const vals = runs.map((r) => get(r.metrics, k));
    if (vals.some((v) => v !== undefined)) add(k, vals);
  }
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.config || {})))].sort();
  const same = [];
  for (const k of keys) {
    const vals = runs.map((r) => (r.config || {})[k]);
    const differs = new Set(vals.map((v) => JSON.stringify(v))).size > 1;
    if (differs) add(k, vals.map((v) => typeof v === "object" && v !== null ? JSON.stringify(v) : v), "differs");
    else same.push([k, vals[0]]);
  }
  return [h("table", {}, h("caption", {}, `Metrics and configuration of ${runs.length} run(s), side by side; config keys that differ come first`),
    h("thead", {}, head), h("tbody", {}, body)),
  h("details", {}, h("summary", {}, `${same.length} config keys the same in every selected run`),
    h("table", {}, h("tbody", {}, same.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, fmt(typeof v === "object" && v !== null ? JSON.stringify(v) : v)))))))];
}

async function pageRuns(root) {
  const { runs } = await api("/api/runs");
  root.append(h("h1", {}, "Runs"));
  if (!runs.length) { root.append(h("p", {}, "No finished runs found (a run directory holds metrics.json and config.yaml).")); return; }
  const ok = runs.filter((r) => !r.error);
  for (const r of runs.filter((r) => r.error)) root.append(h("p", { class: "alert" }, `${r.id}: ${r.error}`));
  const chosen = new Set(ok.slice(0, 6).map((r) => r.id));
  const out = h("div", {});
  const boxes = ok.map((r) => h("label", {}, h("input", { type: "checkbox", value: r.id, checked: chosen.has(r.id),
    onchange: (e) => { e.target.checked ? chosen.add(r.id) : chosen.delete(r.id); draw(); } }), " ", r.id));
  root.append(h("fieldset", {}, h("legend", {}, "Compare runs"), boxes), out);
  async function draw() {
    const sel = ok.filter((r) => chosen.has(r.id));
    out.replaceChildren(...(sel.length ? compareTable(sel) : [h("p", {}, "Select at least one run.")]));
    if (!sel.length) return;
    const details = await Promise.all(sel.map((r) => api("/api/run?id=" + encodeURIComponent(r.id)).catch(() => null)));
    const good = details.filter(Boolean);
    const metric = (d) => "eval_" + d.main_metric;
    out.append(h("h2", {}, "Learning curves"), h("div", { class: "charts" },
      lineChart({ title: "Validation score per epoch (macro-F1, or entity F1 for NER)", xLabel: "epoch", yLabel: "score", yMin: 0, yMax: 1,
        series: good.map((d) => ({ name: d.id, points: d.learning_curve.filter((p) => metric(d) in p).map((p) => [p.epoch, p[metric(d)]]) })) }),
      lineChart({ title: "Training loss per epoch", xLabel: "epoch", yLabel: "loss",
        series: good.map((d) => ({ name: d.id, points: d.learning_curve.filter((p) => "loss" in p).map((p) => [p.epoch, p.loss]) })) })));
  }
  await draw();
}

function confusionTable(err) {
  const rowsum = err.matrix.map((r) => r.reduce((a, b) => a + b, 0));
  return h("div", {}, h("p", {}, `Over ${err.n} ${err.unit}: rows are the true label, columns the predicted; each cell shows the count and its share of the row; the diagonal (correct) is outlined.`),
    h("table", { class: "cm" }, h("caption", {}, "Confusion matrix"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "true ↓ · predicted →"), err.labels.map((l) => h("th", { scope: "col" }, l)))),
    h("tbody", {}, err.matrix.map((row, i) => h("tr", {}, h("th", { scope: "row" }, err.labels[i]),
      row.map((c, j) => {
        const share = rowsum[i] ? c / rowsum[i] : 0;
        // shade by share but always print the numbers: the shade only repeats what the text says
        return h("td", { class: i === j ? "diag" : null, style: `background: rgba(0,114,178,${(0.75 * share).toFixed(3)}); color: ${share > 0.55 ? "#fff" : "#000"}` },
          String(c), h("br", {}), h("small", {}, (100 * share).toFixed(0) + "%"), i === j ? h("span", { class: "visually-hidden" }, " (correct)") : null);
      }))))));
}

function mistakesTable(err, input) {
  if (!err.worst.length) return h("p", {}, "No mistakes on the test split.");
  if (input === "tokens") {
    const ents = (es) => es.length ? es.map((e) => `${e.text} [${e.type}]`).join(", ") : "none";
    return h("table", {}, h("caption", {}, `Test sentences with the most wrongly tagged words (${err.wrong} sentences have mistakes)`),
      h("thead", {}, h("tr", {}, ["sentence", "wrong words", "true entities", "predicted entities"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, err.worst.map((m) => h("tr", {}, h("td", {}, m.input), h("td", { class: "num" }, `${m.wrong_words} of ${m.words}`),
        h("td", {}, ents(m.true_entities)), h("td", {}, ents(m.predicted_entities))))));
  }
  return h("table", {}, h("caption", {}, `Worst mistakes: the most confident wrong test predictions (${err.wrong} of ${err.n} wrong)`),
    h("thead", {}, h("tr", {}, ["input", "true label", "predicted", "confidence"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, err.worst.map((m) => h("tr", {}, h("td", {}, m.input), h("td", {}, m.label), h("td", {}, "✗ " + m.predicted),
      h("td", { class: "num" }, fmt(m.confidence, 3))))));
}

async function pageRun(root, id) {
  const d = await api("/api/run?id=" + encodeURIComponent(id));
  root.append(h("h1", {}, "Run ", d.id), h("p", {}, h("a", { href: "#/runs" }, "← all runs")));
  const m = d.metrics || {};
  root.append(h("dl", {}, h("dt", {}, "task"), h("dd", {}, d.task), h("dt", {}, "backbone"), h("dd", {}, d.backbone),
    h("dt", {}, "test"), h("dd", {}, Object.entries(m.test || {}).map(([k, v]) => `${k} ${fmt(v)}`).join(" · ") || "–"),
    m.baseline_tfidf && m.baseline_tfidf.test ? [h("dt", {}, "TF-IDF baseline"), h("dd", {}, `test ${Object.entries(m.baseline_tfidf.test).map(([k, v]) => `${k} ${fmt(v)}`).join(" · ")} (${m.baseline_tfidf.model}, C ${m.baseline_tfidf.C}, offsets ${m.baseline_tfidf.decision_bias || "none"}, chosen on ${m.baseline_tfidf.chosen_on})`)] : null,
    m.baseline_majority ? [h("dt", {}, "majority baseline"), h("dd", {}, `accuracy ${fmt(m.baseline_majority.accuracy)} (always "${m.baseline_majority.label}")`)] : null));
  if (m.baseline_tfidf && m.baseline_tfidf.beaten_on_validation === false) {
    const key = m.baseline_tfidf.metric || "macro_f1";  // the baseline's selection metric: the task's
    root.append(h("p", { class: "alert" }, `The fine-tuned model does not beat the TF-IDF baseline on validation (${key} ${fmt(m.validation[key])} vs ${fmt(m.baseline_tfidf.validation[key])}).`));
  }
  const lc = d.learning_curve, key = "eval_" + d.main_metric;
  root.append(h("h2", {}, "Learning curve"), h("div", { class: "charts" },
    lineChart({ title: "Loss per epoch", xLabel: "epoch", yLabel: "loss", series: [
      { name: "training loss", points: lc.filter((p) => "loss" in p).map((p) => [p.epoch, p.loss]) },
      { name: "validation loss", points: lc.filter((p) => "eval_loss" in p).map((p) => [p.epoch, p.eval_loss]) }] }),
    lineChart({ title: `Validation ${d.main_metric} per epoch`, xLabel: "epoch", yLabel: d.main_metric, yMin: 0, yMax: 1,
      series: [{ name: "validation " + d.main_metric, points: lc.filter((p) => key in p).map((p) => [p.epoch, p[key]]) }] })));
  if (!d.errors) { root.append(h("p", {}, "This run has no test predictions (test_predictions.jsonl).")); return; }
  root.append(h("h2", {}, "Confusion matrix"), confusionTable(d.errors), h("h2", {}, "Worst mistakes"), mistakesTable(d.errors, d.input));
  if (d.plots.length) root.append(h("h2", {}, "Plots written by training"), h("ul", {}, d.plots.map((p) =>
    h("li", {}, h("a", { href: `/api/run/plot?id=${encodeURIComponent(d.id)}&name=${p}` }, p)))));
}

// ---------------------------------------------------------------------------------------------- registry
function splitBar(model) {
  const parts = model.versions.filter((v) => v.traffic_percent > 0);
  if (!parts.length) return h("p", {}, "Not served: no production version and no traffic split.");
  const text = parts.map((v) => `v${v.version} ${v.traffic_percent} %`).join(" · ");
  return h("div", {}, h("p", {}, `Live split (${model.split_source}): ${text}` + (model.shadow !== null ? ` · shadow: v${model.shadow} (sees every request, never answers)` : "")),
    h("div", { class: "split", role: "img", "aria-label": "Live split: " + text },
      parts.map((v, i) => h("div", { style: `width: ${v.traffic_percent}%; background: repeating-linear-gradient(${45 + 60 * i}deg, ${COLORS[i % COLORS.length]}33 0 6px, #fff 6px 12px)` },
        `v${v.version} ${v.traffic_percent}%`))));
}

async function pageRegistry(root) {
  const reg = await api("/api/registry");
  root.append(h("h1", {}, "Registry"));
  if (!reg.available) { root.append(h("p", {}, reg.reason)); return; }
  root.append(h("p", { class: "note" }, "Registry at ", reg.root));
  if (!reg.models.length) root.append(h("p", {}, "The registry is empty; add a version with `tuneforge registry add NAME RUN_DIR`."));
  for (const m of reg.models) {
    const sec = h("section", { "aria-labelledby": "model-" + m.name }, h("h2", { id: "model-" + m.name }, m.name), splitBar(m));
    sec.append(h("table", {}, h("caption", {}, `Versions of ${m.name}`),
      h("thead", {}, h("tr", {}, ["version", "stage", "traffic", "shadow", "test metrics", "export", "created", "loaded"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, m.versions.map((v) => h("tr", {}, h("td", {}, "v" + v.version), h("td", {}, h("span", { class: "badge " + v.stage }, v.stage)),
        h("td", { class: "num" }, v.traffic_percent + " %"), h("td", {}, v.shadow ? "shadow" : "–"),
        h("td", {}, Object.entries(v.metrics).map(([k, x]) => `${k} ${fmt(x)}`).join(" · ") || "–"), h("td", {}, v.export || "fp32 run"),
        h("td", {}, v.created.slice(0, 19).replace("T", " ")), h("td", {}, v.loaded === null ? "–" : v.loaded ? "yes" : "no"))))));
    const rq = m.requests_24h;
    if (rq && rq.requests) {
      sec.append(h("table", {}, h("caption", {}, `Requests in the last 24 hours: ${rq.requests} logged texts (baseline v${rq.baseline})`),
        h("thead", {}, h("tr", {}, ["version", "role", "texts", "mean confidence", "p50 ms", "p99 ms"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rq.versions.map((x) => h("tr", {}, h("td", {}, "v" + x.version), h("td", {}, x.role), h("td", { class: "num" }, x.n),
          h("td", { class: "num" }, fmt(x.mean_confidence)), h("td", { class: "num" }, fmt(x.p50_ms, 1)), h("td", { class: "num" }, fmt(x.p99_ms, 1)))))));
      for (const a of rq.ab_agreement) sec.append(h("p", {}, `v${a.version} agrees with v${a.baseline} on ${pct(a.agreement)} of ${a.common_inputs} inputs both served.`));
      for (const a of rq.shadow_agreement) sec.append(h("p", {}, `Shadow v${a.shadow} agrees with v${a.primary} on ${pct(a.agreement)} of ${a.n} requests.`));
    } else sec.append(h("p", { class: "note" }, "No requests logged in the last 24 hours."));
    root.append(sec);
  }
}

// ---------------------------------------------------------------------------------------------- monitor
const ts = (iso) => Date.parse(iso) / 1000;

async function pageMonitor(root) {
  const mon = await api("/api/monitor");
  root.append(h("h1", {}, "Monitor"), h("h2", {}, "Sentiment trends and alerts per topic"));
  const t = mon.trends;
  if (!t.available) root.append(h("p", {}, t.reason));
  else {
    const topics = [...new Set(t.windows.map((w) => w.topic))].sort();
    if (!topics.length) root.append(h("p", {}, "The monitor database has no windows yet."));
    root.append(h("div", { class: "charts" }, lineChart({ title: "Negative share per window, by topic", xLabel: "window start (UTC)", yLabel: "negative share",
      yMin: 0, yMax: 1, xTime: true, series: topics.map((tp) => ({ name: tp, points: t.windows.filter((w) => w.topic === tp).map((w) => [ts(w.start), w.negative_share]) })) })));
    for (const tp of topics) {
      const ws = t.windows.filter((w) => w.topic === tp), al = t.alerts.filter((a) => a.topic === tp);
      root.append(h("section", {}, h("h3", {}, `Topic: ${tp}`), h("p", {}, `${ws.length} windows, ${ws.reduce((a, w) => a + w.total, 0)} texts, `,
        al.length ? h("strong", {}, `${al.length} alert(s)`) : "no alerts"),
        al.length ? h("table", {}, h("caption", {}, `Alerts for ${tp}`), h("thead", {}, h("tr", {}, ["at", "negative share", "baseline", "examples"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, al.map((a) => h("tr", {}, h("td", {}, a.at), h("td", { class: "num" }, pct(a.negative_share)), h("td", { class: "num" }, pct(a.baseline)),
            h("td", {}, (a.examples || []).slice(0, 3).map((x) => typeof x === "string" ? x : x.text || JSON.stringify(x)).join(" | ")))))) : null));
    }
  }
  root.append(h("h2", {}, "Served traffic: drift against the training reference"));
  if (mon.drift === null) { root.append(h("p", {}, "No registry given, so no request log to measure drift on.")); return; }
  if (!mon.drift.length) { root.append(h("p", {}, "No requests logged in the last 24 hours.")); return; }
  for (const rep of mon.drift) {
    const sec = h("section", {}, h("h3", {}, `${rep.model}: ${rep.texts} texts since ${rep.since}, windows of ${rep.window}`));
    sec.append(h("div", { class: "charts" }, lineChart({ title: `${rep.model}: PSI of predicted labels per window`, xLabel: "window start (UTC)", yLabel: "PSI label", xTime: true, yMin: 0,
      refs: [{ y: rep.thresholds.warn, label: `warn ${rep.thresholds.warn}` }, { y: rep.thresholds.alert, label: `alert ${rep.thresholds.alert}` }],
      series: rep.versions.map((x) => ({ name: "v" + x.version, points: x.windows.map((w) => [w.start_ts, w.psi_label]) })) })));
    sec.append(h("table", {}, h("caption", {}, `Drift of ${rep.model} per version (status: ok < warn ${rep.thresholds.warn} ≤ warn < alert ${rep.thresholds.alert} ≤ alert)`),
      h("thead", {}, h("tr", {}, ["version", "window", "texts", "PSI label", "PSI length", "mean confidence", "Δ confidence", "status"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rep.versions.flatMap((x) => [...x.windows, { ...x.overall, start: "all" }].map((w) => h("tr", {}, h("td", {}, "v" + x.version), h("td", {}, w.start),
        h("td", { class: "num" }, w.n), h("td", { class: "num" }, fmt(w.psi_label)), h("td", { class: "num" }, fmt(w.psi_length)), h("td", { class: "num" }, fmt(w.mean_confidence)),
        h("td", { class: "num" }, fmt(w.confidence_delta)), h("td", { class: "status-" + w.status }, w.status)))))));
    root.append(sec);
  }
}

// ---------------------------------------------------------------------------------------------- playground
function showPrediction(out, p) {
  out.replaceChildren();
  if (p.entities) {  // a tagger's answer: entities with character spans
    const text = p.text, parts = [];
    let at = 0;
    for (const e of [...p.entities].sort((a, b) => a.start - b.start)) {
      if (e.start < at) continue;
      parts.push(text.slice(at, e.start), h("mark", { title: `${e.type}, confidence ${fmt(e.confidence, 2)}` }, text.slice(e.start, e.end), h("span", { class: "tag" }, e.type)));
      at = e.end;
    }
    parts.push(text.slice(at));
    out.append(h("h2", {}, "Entities"), h("p", { class: "ner" }, parts));
    out.append(p.entities.length ? h("table", {}, h("caption", {}, `${p.entities.length} entities found`),
      h("thead", {}, h("tr", {}, ["text", "type", "characters", "confidence"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, p.entities.map((e) => h("tr", {}, h("td", {}, e.text), h("td", {}, e.type), h("td", {}, `${e.start}–${e.end}`), h("td", { class: "num" }, fmt(e.confidence, 3))))))
      : h("p", {}, "No entities found."));
    return;
  }
  const probs = Object.entries(p.probabilities || {}).sort((a, b) => b[1] - a[1]);
  out.append(h("h2", {}, "Prediction"), h("p", { class: "answer" }, "Label: ", h("strong", {}, p.label)),
    h("div", { role: "list", "aria-label": "Probability of each label" }, probs.map(([l, v]) => h("div", { class: "prob", role: "listitem" },
      h("span", {}, l), h("span", {}, h("div", { class: "bar", style: `width: ${(100 * v).toFixed(1)}%` })), h("span", { class: "num" }, pct(v))))));
}

async function pagePlayground(root) {
  const { targets } = await api("/api/playground");
  root.append(h("h1", {}, "Playground"));
  if (!targets.length) { root.append(h("p", {}, "Nothing to send to: no served model and no finished run.")); return; }
  const sel = h("select", { id: "pg-target" }, targets.map((t, i) => h("option", { value: i }, `${t.label} – ${t.task || "unknown task"}`)));
  const text = h("textarea", { id: "pg-text", rows: 4, placeholder: "Type a text to classify" });
  const file = h("input", { id: "pg-image", type: "file", accept: "image/*" });
  const textBox = h("p", {}, h("label", { for: "pg-text" }, "Text"), h("br", {}), text);
  const fileBox = h("p", { hidden: true }, h("label", { for: "pg-image" }, "Image"), " ", file);
  const out = h("section", { "aria-live": "polite", id: "pg-result" });
  const target = () => targets[+sel.value];
  const sync = () => { const img = target().input === "images"; textBox.hidden = img; fileBox.hidden = !img; };
  sel.addEventListener("change", sync);
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    const t = target();
    out.replaceChildren(h("p", {}, "Predicting… (a run's model loads on its first use)"));
    try {
      let body;
      if (t.input === "images") {
        if (!file.files.length) throw new Error("choose an image file first");
        const data = await new Promise((ok, bad) => { const r = new FileReader(); r.onload = () => ok(r.result); r.onerror = bad; r.readAsDataURL(file.files[0]); });
        body = { images: [data] };
      } else body = { texts: [text.value] };
      const res = await api(t.url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      showPrediction(out, res.predictions[0]);
    } catch (err) { out.replaceChildren(problem(err)); }
  } }, h("p", {}, h("label", { for: "pg-target" }, "Model"), " ", sel), textBox, fileBox, h("button", { type: "submit" }, "Predict"));
  root.append(form, out);
  sync();
}

// ---------------------------------------------------------------------------------------------- router
const PAGES = { runs: pageRuns, registry: pageRegistry, monitor: pageMonitor, playground: pagePlayground };
let routeSeq = 0;
async function route() {
  const seq = ++routeSeq;  // a newer navigation wins: a slow page must not overwrite the one asked for later
  const hash = location.hash.replace(/^#\/?/, "") || "runs";
  const [page, ...rest] = hash.split("/");
  for (const a of document.querySelectorAll("nav a")) {
    const current = a.getAttribute("href") === "#/" + (page === "run" ? "runs" : page);
    current ? a.setAttribute("aria-current", "page") : a.removeAttribute("aria-current");
  }
  main.replaceChildren(h("p", { class: "note" }, "Loading…"));
  main.setAttribute("aria-busy", "true");
  const root = h("div", { id: "page-" + page });
  try {
    if (page === "run") await pageRun(root, decodeURIComponent(rest.join("/")));
    else if (PAGES[page]) await PAGES[page](root);
    else root.append(h("h1", {}, "Not found"), h("p", {}, "No page ", page, "; choose one above."));
  } catch (err) { root.append(problem(err)); }
  if (seq !== routeSeq) return;
  main.replaceChildren(root);
  main.removeAttribute("aria-busy");
  document.title = `${(root.querySelector("h1") || {}).textContent || "tuneforge"} – tuneforge dashboard`;
}
window.addEventListener("hashchange", route);
route();
