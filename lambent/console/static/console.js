// The lambent console: a hash-routed single page over lambent's signed APIs (api.js).
// Everything it renders is set as text (never as HTML), so nothing a function logs or names can
// run in the page.
import { Api, ApiError, lambdaQuery } from "./api.js";
import { cryptoAvailable } from "./sigv4.js";

const KEY = "lambent.console.credentials";
const main = document.getElementById("main");
const who = document.getElementById("who");
const signout = document.getElementById("signout");
let config = { region: "us-east-1", accountId: "" };
let api = null;
let stopCurrent = () => {};

// -- DOM helpers --------------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function show(...nodes) {
  main.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
}

function errorBox(err) {
  const text = err instanceof ApiError ? `${err.code || "Error"} (${err.status}): ${err.message}` : String(err);
  return el("p", { class: "error", role: "alert" }, text);
}

function fmtNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (Math.abs(v) >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
  return v.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

// -- credentials ----------------------------------------------------------------------------------
function loadCreds() {
  try {
    const c = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return c && c.accessKeyId && c.secretAccessKey ? c : null;
  } catch {
    return null;
  }
}

function signOut() {
  sessionStorage.removeItem(KEY);
  api = null;
  who.textContent = "";
  signout.hidden = true;
  location.hash = "#/signin";
}
signout.addEventListener("click", signOut);

function viewSignIn() {
  if (!cryptoAvailable()) {
    show(el("div", { class: "panel signin" }, el("h1", {}, "Sign in"),
      el("p", { class: "error" }, "This page needs the browser's WebCrypto API, which only secure contexts have: open the console over https or on localhost / 127.0.0.1.")));
    return;
  }
  const status = el("div");
  const form = el("form", { class: "panel signin", id: "signin" },
    el("h1", {}, "Sign in"),
    el("p", { class: "muted" }, `Region ${config.region}. Your secret key stays in this tab: requests are signed here.`),
    el("label", { for: "akid" }, "Access key ID"), el("input", { id: "akid", name: "akid", autocomplete: "username", required: true }),
    el("label", { for: "secret" }, "Secret access key"), el("input", { id: "secret", name: "secret", type: "password", autocomplete: "current-password", required: true }),
    el("label", { for: "token" }, "Session token (optional)"), el("input", { id: "token", name: "token" }),
    el("p", {}, el("button", { type: "submit", id: "signin-button" }, "Sign in")),
    status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const creds = {
      accessKeyId: form.akid.value.trim(), secretAccessKey: form.secret.value.trim(),
      sessionToken: form.token.value.trim() || undefined, region: config.region,
    };
    status.replaceChildren(el("p", { class: "muted" }, "Checking…"));
    try {
      const id = await new Api(creds).callerIdentity();
      sessionStorage.setItem(KEY, JSON.stringify({ ...creds, arn: id.arn, account: id.account }));
      location.hash = "#/functions";
      route();
    } catch (err) {
      status.replaceChildren(errorBox(err));
    }
  });
  show(form);
}

// -- charts -------------------------------------------------------------------------------------
const COLORS = ["#4fb3ff", "#f5b942", "#ff6b6b", "#3fcf8e", "#c38fff"];

function lineChart(title, series, startMs, endMs, unit = "") {
  const W = 520, H = 150, L = 44, B = 18, T = 8;
  const all = series.flatMap((s) => s.points.map((p) => p[1]));
  const max = Math.max(1e-9, ...all);
  const x = (t) => L + ((t - startMs) / Math.max(1, endMs - startMs)) * (W - L - 6);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  for (const f of [0, 0.5, 1]) {
    g.append(svg("line", { x1: L, x2: W - 6, y1: y(max * f), y2: y(max * f), stroke: "#263241" }));
    g.append(svg("text", { x: L - 6, y: y(max * f) + 4, "text-anchor": "end", fill: "#8598ab", "font-size": 10 }, fmtNumber(max * f)));
  }
  const time = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  g.append(svg("text", { x: L, y: H - 4, fill: "#8598ab", "font-size": 10 }, time(startMs)));
  g.append(svg("text", { x: W - 6, y: H - 4, fill: "#8598ab", "font-size": 10, "text-anchor": "end" }, time(endMs)));
  series.forEach((s, i) => {
    if (!s.points.length) return;
    const pts = s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    g.append(svg("polyline", { points: pts, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2, "data-series": s.label }));
    for (const [t, v] of s.points.length <= 60 ? s.points : []) {
      g.append(svg("circle", { cx: x(t), cy: y(v), r: 2, fill: COLORS[i % COLORS.length] }));
    }
  });
  const total = series.map((s) => s.points.reduce((a, p) => a + p[1], 0));
  const empty = all.length === 0;
  return el("div", { class: "panel chart", "data-chart": title },
    el("h3", {}, title, unit ? el("span", { class: "muted" }, ` (${unit})`) : null),
    empty ? el("p", { class: "muted" }, "No data in this window.") : g,
    el("div", { class: "legend" }, series.map((s, i) => el("span", {}, el("i", { style: `background:${COLORS[i % COLORS.length]}` }), s.label,
      s.summary === "sum" ? ` · ${fmtNumber(total[i])}` : ""))));
}

function sparkline(values) {
  const W = 120, H = 24, max = Math.max(1e-9, ...values);
  const pts = values.map((v, i) => `${((i / Math.max(1, values.length - 1)) * (W - 2) + 1).toFixed(1)},${(H - 2 - (v / max) * (H - 4)).toFixed(1)}`).join(" ");
  return svg("svg", { class: "spark", viewBox: `0 0 ${W} ${H}` }, svg("polyline", { points: pts, fill: "none", stroke: "#4fb3ff", "stroke-width": 1.5 }));
}

function seriesOf(result) {
  const ts = result?.Timestamps || [];
  const vs = result?.Values || [];
  return ts.map((t, i) => [typeof t === "number" ? t * 1000 : Date.parse(t), vs[i]]).sort((a, b) => a[0] - b[0]);
}

// -- functions list -------------------------------------------------------------------------------
function health(inv, err) {
  if (!inv) return el("span", { class: "badge idle" }, "idle");
  if (!err) return el("span", { class: "badge ok" }, "healthy");
  const rate = (100 * err) / inv;
  return el("span", { class: `badge ${rate >= 5 ? "bad" : "warn"}` }, `${fmtNumber(rate)}% errors`);
}

async function viewFunctions() {
  show(el("h1", {}, "Functions"), el("p", { class: "muted" }, "Loading…"));
  let fns;
  try {
    fns = await api.listFunctions();
  } catch (err) {
    show(el("h1", {}, "Functions"), errorBox(err));
    return;
  }
  fns.sort((a, b) => a.FunctionName.localeCompare(b.FunctionName));
  const end = Math.floor(Date.now() / 1000 / 60) * 60 + 60, start = end - 3600;
  const stats = {};
  const subset = fns.slice(0, 100);
  if (subset.length) {
    const queries = subset.flatMap((f, i) => [
      lambdaQuery(`i${i}`, "Invocations", f.FunctionName, "Sum", 300),
      lambdaQuery(`e${i}`, "Errors", f.FunctionName, "Sum", 300),
    ]);
    try {
      const r = await api.metricData(queries, start, end);
      for (const res of r.MetricDataResults || []) stats[res.Id] = seriesOf(res);
    } catch (err) {
      stats.error = err;
    }
  }
  const rows = fns.map((f, i) => {
    const inv = stats[`i${i}`] || [], errs = stats[`e${i}`] || [];
    const nInv = inv.reduce((a, p) => a + p[1], 0), nErr = errs.reduce((a, p) => a + p[1], 0);
    const buckets = new Array(12).fill(0);
    for (const [t, v] of inv) buckets[Math.min(11, Math.max(0, Math.floor((t / 1000 - start) / 300)))] += v;
    return el("tr", { "data-function": f.FunctionName },
      el("td", {}, el("a", { href: `#/functions/${encodeURIComponent(f.FunctionName)}` }, f.FunctionName)),
      el("td", {}, health(nInv, nErr)),
      el("td", {}, fmtNumber(nInv)), el("td", {}, fmtNumber(nErr)), el("td", {}, sparkline(buckets)),
      el("td", {}, f.Runtime || f.PackageType), el("td", {}, `${f.MemorySize} MB`),
      el("td", { class: "muted" }, (f.LastModified || "").replace("T", " ").slice(0, 19)));
  });
  show(
    el("h1", {}, "Functions", el("span", { class: "muted" }, `${fns.length}`)),
    stats.error ? errorBox(stats.error) : null,
    fns.length === 0 ? el("p", { class: "muted panel" }, "No functions yet. Create one with boto3, the aws CLI or `lambent deploy`.") :
      el("div", { class: "panel" }, el("table", { id: "functions" },
        el("thead", {}, el("tr", {}, ["Name", "Health (1 h)", "Invocations", "Errors", "Last hour", "Runtime", "Memory", "Last modified"].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows))));
}

// -- one function -----------------------------------------------------------------------------------
const TABS = [["overview", "Overview"], ["monitoring", "Monitoring"], ["logs", "Logs"], ["versions", "Versions and aliases"],
  ["traces", "Traces"], ["cost", "Cost"], ["deployments", "Deployments"], ["async", "Async queue"], ["test", "Test"]];
const WINDOWS = [["1h", 3600, 60], ["3h", 10800, 60], ["12h", 43200, 300], ["1d", 86400, 300], ["3d", 259200, 900], ["1w", 604800, 3600]];

async function viewFunction(name, tab, params) {
  let data;
  show(el("h1", {}, name), el("p", { class: "muted" }, "Loading…"));
  try {
    data = await api.getFunction(name);
  } catch (err) {
    show(el("h1", {}, name), errorBox(err));
    return;
  }
  const cfg = data.Configuration || {};
  const state = cfg.State || "Active";
  const head = el("h1", {}, cfg.FunctionName, el("span", { class: `badge ${state === "Active" ? "ok" : state === "Failed" ? "bad" : "warn"}`, id: "state" }, state));
  const tabs = el("nav", { class: "tabs" }, TABS.map(([id, label]) =>
    el("a", { href: `#/functions/${encodeURIComponent(name)}/${id}`, class: id === tab ? "active" : "", "data-tab": id }, label)));
  const body = el("section", { id: "tab" });
  show(head, el("p", { class: "muted" }, cfg.FunctionArn), tabs, body);
  const views = { overview: tabOverview, monitoring: tabMonitoring, logs: tabLogs, versions: tabVersions,
    traces: tabTraces, cost: tabCost, deployments: tabDeployments, async: tabAsync, test: tabTest };
  await (views[tab] || tabOverview)(body, cfg, data, params);
}

function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
}

function tabOverview(body, cfg, data) {
  const env = cfg.Environment?.Variables || {};
  const log = cfg.LoggingConfig || {};
  body.append(
    el("div", { class: "panel" }, kv([
      ["Runtime", cfg.Runtime], ["Handler", cfg.Handler], ["Memory", `${cfg.MemorySize} MB`], ["Timeout", `${cfg.Timeout} s`],
      ["Ephemeral storage", cfg.EphemeralStorage ? `${cfg.EphemeralStorage.Size} MB` : ""], ["Architectures", (cfg.Architectures || []).join(", ")],
      ["Role", cfg.Role], ["Code size", `${fmtNumber(cfg.CodeSize)} bytes`], ["Code SHA-256", cfg.CodeSha256], ["Version", cfg.Version],
      ["Description", cfg.Description], ["Last modified", cfg.LastModified], ["Last update", cfg.LastUpdateStatus],
      ["Tracing", cfg.TracingConfig?.Mode], ["Log format", log.LogFormat], ["Log group", log.LogGroup],
      ["Reserved concurrency", data.Concurrency?.ReservedConcurrentExecutions],
    ])),
    el("h2", {}, "Environment variables"),
    Object.keys(env).length ? el("div", { class: "panel" }, kv(Object.entries(env))) : el("p", { class: "muted" }, "None."));
}

async function tabMonitoring(body, cfg, _data, params) {
  const win = WINDOWS.find((w) => w[0] === params.get("window")) || WINDOWS[0];
  const select = el("select", { id: "window" }, WINDOWS.map(([id]) => el("option", { value: id, selected: id === win[0] }, id)));
  select.addEventListener("change", () => { location.hash = `#/functions/${encodeURIComponent(cfg.FunctionName)}/monitoring?window=${select.value}`; });
  const charts = el("div", { class: "charts" }, el("p", { class: "muted" }, "Loading…"));
  body.append(el("div", { class: "toolbar" }, el("span", { class: "muted" }, "Window"), select), charts);
  const [, span, period] = win;
  const end = Math.ceil(Date.now() / 1000 / period) * period, start = end - span;
  const n = cfg.FunctionName;
  const q = [
    lambdaQuery("inv", "Invocations", n, "Sum", period), lambdaQuery("err", "Errors", n, "Sum", period),
    lambdaQuery("thr", "Throttles", n, "Sum", period), lambdaQuery("p50", "Duration", n, "p50", period),
    lambdaQuery("p90", "Duration", n, "p90", period), lambdaQuery("p99", "Duration", n, "p99", period),
    lambdaQuery("conc", "ConcurrentExecutions", n, "Maximum", period),
  ];
  let res;
  try {
    const r = await api.metricData(q, start, end);
    res = Object.fromEntries((r.MetricDataResults || []).map((m) => [m.Id, seriesOf(m)]));
  } catch (err) {
    charts.replaceChildren(errorBox(err));
    return;
  }
  const coldStarts = await coldStartSeries(cfg, start, end, period);
  const s = start * 1000, e = end * 1000;
  charts.replaceChildren(
    lineChart("Invocations", [{ label: "Invocations", points: res.inv, summary: "sum" }], s, e, "count"),
    lineChart("Errors and throttles", [{ label: "Errors", points: res.err, summary: "sum" }, { label: "Throttles", points: res.thr, summary: "sum" }], s, e, "count"),
    lineChart("Duration", [{ label: "p50", points: res.p50 }, { label: "p90", points: res.p90 }, { label: "p99", points: res.p99 }], s, e, "ms"),
    lineChart("Concurrent executions", [{ label: "Maximum", points: res.conc }], s, e, "count"),
    lineChart("Cold starts", [{ label: "Cold starts", points: coldStarts, summary: "sum" }], s, e, "count"));
}

// Cold starts are the REPORT lines with an Init Duration (Lambda has no metric for them).
async function coldStartSeries(cfg, start, end, period) {
  const group = cfg.LoggingConfig?.LogGroup || `/aws/lambda/${cfg.FunctionName}`;
  const buckets = new Map();
  let token;
  try {
    for (let page = 0; page < 10; page++) {
      const r = await api.filterLogEvents(group, { startTime: start * 1000, pattern: '"Init Duration"', nextToken: token, limit: 1000 });
      for (const ev of r.events || []) {
        if (!/^REPORT|"platform.report"/.test(ev.message)) continue;
        const b = Math.floor(ev.timestamp / 1000 / period) * period * 1000;
        buckets.set(b, (buckets.get(b) || 0) + 1);
      }
      token = r.nextToken;
      if (!token) break;
    }
  } catch (err) {
    if (!(err instanceof ApiError && err.code === "ResourceNotFoundException")) throw err;
  }
  return [...buckets.entries()].filter(([t]) => t <= end * 1000).sort((a, b) => a[0] - b[0]);
}

function tabLogs(body, cfg) {
  const group = cfg.LoggingConfig?.LogGroup || `/aws/lambda/${cfg.FunctionName}`;
  const filter = el("input", { id: "log-filter", class: "grow", placeholder: 'Filter pattern, e.g. ERROR or { $.level = "ERROR" }' });
  const pause = el("button", { class: "ghost", type: "button", id: "log-pause" }, "Pause");
  const status = el("span", { class: "muted", id: "log-status" }, "Live");
  const out = el("pre", { class: "log", id: "log", "aria-live": "polite" });
  body.append(el("div", { class: "toolbar" }, filter, pause, status), out);
  const seen = new Set();
  let since = Date.now() - 15 * 60 * 1000, paused = false, timer = null, alive = true, lines = 0;
  const reset = () => { out.replaceChildren(); seen.clear(); lines = 0; since = Date.now() - 15 * 60 * 1000; };
  filter.addEventListener("change", () => { reset(); poll(); });
  pause.addEventListener("click", () => { paused = !paused; pause.textContent = paused ? "Resume" : "Pause"; status.textContent = paused ? "Paused" : "Live"; });
  async function poll() {
    if (!alive) return;
    clearTimeout(timer);
    if (!paused) {
      try {
        let token, newest = since;
        for (let page = 0; page < 5; page++) {
          const r = await api.filterLogEvents(group, { startTime: since, pattern: filter.value.trim(), nextToken: token });
          for (const ev of r.events || []) {
            if (seen.has(ev.eventId)) continue;
            seen.add(ev.eventId);
            newest = Math.max(newest, ev.timestamp);
            const platform = /^(START|END|REPORT|INIT_START|INIT_REPORT) |^\{"time"/.test(ev.message);
            out.append(el("span", { class: "t" }, new Date(ev.timestamp).toISOString().slice(11, 23) + " "),
              el("span", { class: platform ? "p" : "" }, ev.message.replace(/\r/g, "\n").replace(/\n$/, "")), "\n");
            if (++lines > 2000) { out.firstChild.remove(); out.firstChild.remove(); out.firstChild.remove(); }
          }
          token = r.nextToken;
          if (!token) break;
        }
        since = Math.max(since, newest - 2000);
        out.scrollTop = out.scrollHeight;
        status.textContent = "Live";
      } catch (err) {
        status.textContent = err instanceof ApiError && err.code === "ResourceNotFoundException" ? "No logs yet" : `Error: ${err.message}`;
      }
    }
    if (alive) timer = setTimeout(poll, 2000);
  }
  stopCurrent = () => { alive = false; clearTimeout(timer); };
  poll();
}

async function tabVersions(body, cfg) {
  let versions, aliases;
  try {
    [versions, aliases] = await Promise.all([api.listVersions(cfg.FunctionName), api.listAliases(cfg.FunctionName)]);
  } catch (err) {
    body.append(errorBox(err));
    return;
  }
  const aliasRows = (aliases.Aliases || []).map((a) => {
    const extra = Object.entries(a.RoutingConfig?.AdditionalVersionWeights || {});
    const main = 1 - extra.reduce((s, [, w]) => s + w, 0);
    const route = [[a.FunctionVersion, main], ...extra];
    return el("tr", { "data-alias": a.Name }, el("td", {}, a.Name),
      el("td", {}, route.map(([v, w]) => el("div", {}, el("span", { class: "weight", style: `width:${Math.round(w * 120)}px` }), `version ${v}: ${fmtNumber(w * 100)}%`))),
      el("td", { class: "muted" }, a.Description || ""));
  });
  const versionRows = (versions.Versions || []).map((v) => el("tr", { "data-version": v.Version }, el("td", {}, v.Version),
    el("td", { class: "muted" }, v.Description || ""), el("td", {}, (v.CodeSha256 || "").slice(0, 16) + "…"), el("td", { class: "muted" }, (v.LastModified || "").slice(0, 19))));
  body.append(
    el("h2", {}, "Aliases"),
    aliasRows.length ? el("div", { class: "panel" }, el("table", { id: "aliases" }, el("thead", {}, el("tr", {}, el("th", {}, "Alias"), el("th", {}, "Routing"), el("th", {}, "Description"))), el("tbody", {}, aliasRows))) : el("p", { class: "muted" }, "No aliases."),
    el("h2", {}, "Versions"),
    el("div", { class: "panel" }, el("table", { id: "versions" }, el("thead", {}, el("tr", {}, ["Version", "Description", "Code", "Last modified"].map((h) => el("th", {}, h)))), el("tbody", {}, versionRows))));
}

function when(t) {
  if (t === undefined || t === null) return "";
  const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
  return d.toISOString().replace("T", " ").slice(0, 19);
}

function table(id, heads, rows) {
  return el("div", { class: "panel" }, el("table", { id }, el("thead", {}, el("tr", {}, heads.map((h) => el("th", {}, h)))), el("tbody", {}, rows)));
}

async function tabDeployments(body, cfg) {
  let r;
  try {
    r = await api.listDeployments(cfg.FunctionName);
  } catch (err) {
    body.append(errorBox(err));
    return;
  }
  const ds = r.Deployments || [];
  if (!ds.length) {
    body.append(el("p", { class: "muted" }, "No deployments. Start one with `lambent deploy`."));
    return;
  }
  const badge = (s) => el("span", { class: `badge ${s === "Succeeded" ? "ok" : s === "Failed" || s === "Stopped" ? "bad" : "warn"}` }, s);
  body.append(table("deployments", ["Deployment", "Alias", "Versions", "Status", "Progress", "Started"], ds.map((d) => {
    const w = d.Status === "Succeeded" ? 1 : d.CurrentWeight || 0;
    return el("tr", { "data-deployment": d.DeploymentId }, el("td", {}, d.DeploymentId), el("td", {}, d.Alias),
      el("td", {}, `${d.CurrentVersion} → ${d.TargetVersion}`), el("td", {}, badge(d.Status), " ", el("span", { class: "muted" }, d.LifecycleEvent || "")),
      el("td", {}, el("span", { class: "weight", style: `width:${Math.round(w * 120)}px` }), `${fmtNumber(w * 100)}% on ${d.TargetVersion}`),
      el("td", { class: "muted" }, when(d.CreateTime)));
  })));
}

async function tabAsync(body, cfg, _data, _params, kept) {
  const status = kept || el("div", { id: "async-status" });
  body.append(status);
  let queues, dead;
  try {
    [queues, dead] = await Promise.all([api.asyncQueues(cfg.FunctionName), api.undeliverable(cfg.FunctionName)]);
  } catch (err) {
    body.append(errorBox(err));
    return;
  }
  const qs = queues.Queues || [];
  body.append(el("h2", {}, "Waiting events"), qs.length ? table("queues", ["Qualifier", "Events", "Due now", "Retrying", "Oldest accepted"], qs.map((q) =>
    el("tr", { "data-qualifier": q.Qualifier }, el("td", {}, q.Qualifier), el("td", {}, fmtNumber(q.Events)), el("td", {}, fmtNumber(q.DueEvents)),
      el("td", {}, fmtNumber(q.RetriedEvents)), el("td", { class: "muted" }, when(q.OldestEventTime))))) : el("p", { class: "muted" }, "Nothing waits in the queue."));
  const records = dead.Records || [];
  const redrive = async (ids, button) => {
    button.disabled = true;
    try {
      const r = await api.redrive(ids);
      const failed = r.Failed || [];
      status.replaceChildren(el("p", { class: failed.length ? "error" : "muted", role: failed.length ? "alert" : "status" },
        `Redriven: ${(r.Redriven || []).length}` + (failed.length ? `; not delivered: ${failed.map((f) => `${f.RecordId} (${f.ErrorMessage})`).join(", ")}` : "")));
      body.replaceChildren();
      await tabAsync(body, cfg, null, null, status);
    } catch (err) {
      status.replaceChildren(errorBox(err));
      button.disabled = false;
    }
  };
  const all = el("button", { type: "button", id: "redrive-all", disabled: !records.length }, `Redrive all (${records.length})`);
  all.addEventListener("click", () => redrive(records.map((r) => r.RecordId), all));
  body.append(el("h2", {}, `Undeliverable destination and DLQ records (${dead.Total || 0})`),
    records.length ? el("div", {}, el("p", {}, all), table("undeliverable", ["Failed", "Request", "Kind", "Target", "Error", ""], records.map((r) => {
      const one = el("button", { type: "button", class: "ghost", "data-redrive": r.RecordId }, "Redrive");
      one.addEventListener("click", () => redrive([r.RecordId], one));
      return el("tr", { "data-record": r.RecordId }, el("td", { class: "muted" }, when(r.FailedTime)), el("td", {}, r.RequestId), el("td", {}, r.Kind),
        el("td", {}, r.Target), el("td", { class: "muted" }, r.ErrorMessage), el("td", {}, one));
    }))) : el("p", { class: "muted" }, "None: every record was delivered."));
}

async function tabCost(body, cfg) {
  const periods = [["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];
  for (const [since, label] of periods) {
    let r;
    try {
      r = await api.usage(cfg.FunctionName, since);
    } catch (err) {
      body.append(errorBox(err));
      return;
    }
    const money = (v) => (v === undefined ? "–" : `$${Number(v).toFixed(6)}`);
    const rows = (r.rows || []).map((u) => el("tr", { "data-version": u.version },
      el("td", {}, u.version), el("td", {}, fmtNumber(u.requests)), el("td", {}, fmtNumber(u.billed_duration_ms)),
      el("td", {}, fmtNumber(u.gb_seconds)), el("td", {}, money(u.cost))));
    const t = r.total || {};
    rows.push(el("tr", { class: "total" }, el("td", {}, el("strong", {}, "Total")), el("td", {}, fmtNumber(t.requests || 0)),
      el("td", {}, fmtNumber(t.billed_duration_ms || 0)), el("td", {}, fmtNumber(t.gb_seconds || 0)), el("td", { "data-total-cost": since }, money(t.cost || 0))));
    body.append(el("h2", {}, label), table(`cost-${since}`, ["Version", "Requests", "Billed ms", "GB-seconds", "Cost"], rows));
  }
  body.append(el("p", { class: "muted" }, "Prices from the server's price table (docs/billing.md); the figures are the sums of the REPORT lines."));
}

// One trace as a timeline: every segment and subsegment a bar on a shared time axis.
function timeline(trace) {
  const spans = [];
  const walk = (doc, depth) => {
    if (typeof doc.start_time === "number") {
      spans.push({ name: doc.name || "?", start: doc.start_time, end: typeof doc.end_time === "number" ? doc.end_time : doc.start_time,
        depth, error: !!(doc.error || doc.fault), origin: doc.origin || "" });
    }
    for (const sub of doc.subsegments || []) walk(sub, depth + 1);
  };
  for (const seg of trace.Segments || []) {
    try {
      walk(JSON.parse(seg.Document), 0);
    } catch {
      // a document that is not JSON: nothing to draw
    }
  }
  spans.sort((a, b) => a.start - b.start || a.depth - b.depth);
  const t0 = Math.min(...spans.map((s) => s.start)), t1 = Math.max(...spans.map((s) => s.end));
  const W = 1000, ROW = 20, L = 260;
  const g = svg("svg", { viewBox: `0 0 ${W} ${spans.length * ROW + 24}`, class: "timeline", role: "img", "aria-label": `trace ${trace.Id}` });
  const x = (t) => L + ((t - t0) / Math.max(1e-6, t1 - t0)) * (W - L - 70);
  spans.forEach((s, i) => {
    const y = i * ROW + 4;
    g.append(svg("text", { x: 4 + s.depth * 12, y: y + 13, fill: "#dbe4ee", "font-size": 12 }, s.name));
    g.append(svg("rect", { x: x(s.start), y, width: Math.max(2, x(s.end) - x(s.start)), height: 14, rx: 3,
      fill: s.error ? "#ff6b6b" : s.depth === 0 ? "#4fb3ff" : "#3fcf8e", "data-span": s.name }));
    g.append(svg("text", { x: Math.max(2, x(s.end)) + 6, y: y + 12, fill: "#8598ab", "font-size": 11 }, `${fmtNumber((s.end - s.start) * 1000)} ms`));
  });
  return g;
}

async function tabTraces(body, cfg) {
  const end = Math.floor(Date.now() / 1000) + 1, start = end - 3600;
  let r;
  try {
    r = await api.traceSummaries(cfg.FunctionName, start, end);
  } catch (err) {
    body.append(errorBox(err));
    return;
  }
  const sums = (r.TraceSummaries || []).slice(0, 50);
  const detail = el("div", { id: "trace-detail" });
  if (!sums.length) {
    body.append(el("p", { class: "muted" }, cfg.TracingConfig?.Mode === "Active" ? "No traces in the last hour." :
      "No traces in the last hour. Set TracingConfig Mode=Active to record every invocation (PassThrough records those whose caller sampled them)."));
    return;
  }
  const show = async (id) => {
    detail.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    try {
      const t = await api.traces([id]);
      const trace = (t.Traces || [])[0];
      detail.replaceChildren(el("h2", {}, `Trace ${id}`), trace ? el("div", { class: "panel" }, timeline(trace)) : el("p", { class: "muted" }, "Not found."));
    } catch (err) {
      detail.replaceChildren(errorBox(err));
    }
  };
  body.append(el("h2", {}, "Recent invocations (last hour)"), table("traces", ["Trace", "Started", "Duration", "Result", ""], sums.map((s) => {
    const open = el("button", { type: "button", class: "ghost", "data-trace": s.Id }, "Timeline");
    open.addEventListener("click", () => show(s.Id));
    const started = s.StartTime ?? s.ResponseTime;
    return el("tr", {}, el("td", {}, s.Id), el("td", { class: "muted" }, when(started)), el("td", {}, `${fmtNumber((s.Duration || 0) * 1000)} ms`),
      el("td", {}, s.HasError || s.HasFault ? el("span", { class: "badge bad" }, "error") : el("span", { class: "badge ok" }, "ok")), el("td", {}, open));
  })), detail);
  await show(sums[0].Id);
}

function tabTest(body, cfg) {
  const payload = el("textarea", { id: "payload", rows: 6 }, "{}");
  const run = el("button", { type: "button", id: "invoke" }, "Invoke");
  const result = el("div", { id: "result" });
  run.addEventListener("click", async () => {
    run.disabled = true;
    result.replaceChildren(el("p", { class: "muted" }, "Invoking…"));
    try {
      const r = await api.invoke(cfg.FunctionName, payload.value);
      result.replaceChildren(
        el("p", {}, el("span", { class: `badge ${r.functionError ? "bad" : "ok"}` }, r.functionError ? `Error: ${r.functionError}` : "Succeeded"),
          el("span", { class: "muted" }, ` version ${r.executedVersion || "$LATEST"}`)),
        el("h2", {}, "Response"), el("pre", { class: "log", id: "response", style: "height:auto;max-height:240px" }, r.payload),
        el("h2", {}, "Log tail"), el("pre", { class: "log", id: "tail", style: "height:auto;max-height:320px" }, r.log));
    } catch (err) {
      result.replaceChildren(errorBox(err));
    } finally {
      run.disabled = false;
    }
  });
  body.append(el("div", { class: "panel" }, el("label", { for: "payload", class: "muted" }, "Event (JSON)"), payload, el("p", {}, run)), result);
}

// -- routing ---------------------------------------------------------------------------------------
async function route() {
  stopCurrent();
  stopCurrent = () => {};
  const [path, query] = (location.hash.slice(1) || "/functions").split("?");
  const params = new URLSearchParams(query || "");
  const creds = loadCreds();
  if (!creds) {
    who.textContent = "";
    signout.hidden = true;
    viewSignIn();
    return;
  }
  api = new Api(creds);
  who.textContent = `${creds.arn} · ${creds.region}`;
  signout.hidden = false;
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "functions" && parts[1]) {
    await viewFunction(parts[1], parts[2] || "overview", params);
  } else {
    await viewFunctions();
  }
}

async function boot() {
  try {
    const r = await fetch("config.json", { cache: "no-store", credentials: "omit" });
    if (r.ok) config = await r.json();
  } catch {
    // the defaults
  }
  window.addEventListener("hashchange", route);
  await route();
}

boot();
