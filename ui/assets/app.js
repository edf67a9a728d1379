// The node's page: reads the node's own endpoints (same origin, the
// caller's credentials) every few seconds and fills the tables. Text is
// only ever set with textContent, so nothing a repository name holds is
// run as markup.
"use strict";

const refreshMs = 5000;
const maxRepos = 100;
const maxTags = 20;
const maxFindings = 5;
const dash = "\u2013";

const manifestAccept = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

function $(id) { return document.getElementById(id); }

function setText(id, v) { $(id).textContent = (v === undefined || v === null || v === "") ? dash : String(v); }

function bytes(n) {
  if (typeof n !== "number" || !isFinite(n)) return dash;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

function percent(part, total) {
  return total > 0 ? (100 * part / total).toFixed(1) + "%" : dash;
}

function duration(s) {
  if (!(s >= 0)) return dash;
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d > 0) return d + "d " + h + "h " + m + "m";
  if (h > 0) return h + "h " + m + "m";
  return m + "m " + (s % 60) + "s";
}

// A 401 makes the browser ask its user to log in. Once refused, a path
// is not asked again for a while, so a person who cancels the prompt is
// not asked again at every refresh.
const askAgainMs = 60000;
const refusedAt = new Map();

function httpError(path, status) {
  const e = new Error(path + ": " + status);
  e.status = status;
  return e;
}

async function getJSON(path, headers) {
  if (Date.now() - (refusedAt.get(path) || -Infinity) < askAgainMs) throw httpError(path, 401);
  const r = await fetch(path, { credentials: "same-origin", cache: "no-store", headers: headers || {} });
  if (r.status === 401) refusedAt.set(path, Date.now());
  if (!r.ok) throw httpError(path, r.status);
  return { body: await r.json(), headers: r.headers };
}

// metrics parses Prometheus text into name{labels} -> value.
async function metrics() {
  const r = await fetch("/metrics", { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) throw new Error("/metrics: " + r.status);
  const out = new Map();
  for (const line of (await r.text()).split("\n")) {
    if (line === "" || line[0] === "#") continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

function metric(m, series) { return m.has(series) ? m.get(series) : 0; }

function fillNode(st, m) {
  setText("node-version", st.version);
  setText("node-peer-id", st.peer_id);
  const start = m.get("process_start_time_seconds");
  setText("node-uptime", start ? duration(Date.now() / 1000 - start) : "");
  const c = st.cache || {};
  setText("node-store", bytes(c.bytes) + " of " + (c.max_bytes > 0 ? bytes(c.max_bytes) + " (" + percent(c.bytes, c.max_bytes) + ")" : "no limit"));
  setText("node-blobs", c.blobs);
  setText("node-state", c.state === "degraded" ? "degraded: " + (c.reason || "") : c.state);
  $("node-state").className = c.state === "degraded" ? "error" : "";

  // What clients were served came from the store, from peers or from
  // upstream; what did not come from upstream is upstream traffic saved.
  const served = metric(m, 'shoal_served_bytes_total{to="client"}');
  const peer = metric(m, 'shoal_fetched_bytes_total{source="peer"}');
  const upstream = metric(m, 'shoal_fetched_bytes_total{source="upstream"}');
  const store = Math.max(0, served - peer - upstream);
  const total = store + peer + upstream;
  setText("node-served", bytes(served));
  setText("node-hits", total > 0 ? [store, peer, upstream].map(v => percent(v, total)).join(" / ") : "");
  setText("node-saved", bytes(Math.max(0, served - upstream)));
  setText("node-upstreams", (st.upstreams || []).join(", "));
}

function row(tbody, cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = (c.text === undefined || c.text === null || c.text === "") ? dash : String(c.text);
    if (c.cls) td.className = c.cls;
    tr.appendChild(td);
  }
  tbody.appendChild(tr);
}

// ago says how long before now a time was, for "last seen".
function ago(t) {
  const s = (Date.now() - new Date(t).getTime()) / 1000;
  return s < 5 ? "now" : duration(s) + " ago";
}

// storeText is a store size and blob count as a node tells them.
function storeText(b, blobs) {
  return typeof b === "number" ? bytes(b) + ", " + blobs + " blobs" : "";
}

// fillFleet lists this node and every peer it knows: connected now, or
// seen in the last day, with the store size each told (its own claim).
// The peer list is an admin endpoint; a caller refused it sees this node
// only.
async function fillFleet(st) {
  setText("fleet-peers", st.peers);
  let doc = null, note = "";
  try {
    doc = (await getJSON("/shoal/v1/peers")).body;
  } catch (e) {
    note = (e.status === 401 || e.status === 403)
      ? "The list of peers is for the node's admins (loopback callers while a policy is in force)."
      : "The list of peers could not be read (" + e.message + ").";
  }
  $("fleet-note").textContent = note;
  const tbody = $("fleet-table").tBodies[0];
  tbody.replaceChildren();
  if (st.peer_id) {
    const c = st.cache || {};
    row(tbody, [{ text: st.peer_id + " (this node)", cls: "mono" }, { text: (st.p2p_addrs || []).join(" "), cls: "mono" },
      { text: storeText(c.bytes, c.blobs) }, { text: st.version }, { text: "this node" }, { text: "" }]);
  }
  if (!doc) return;
  // Nodes older than the "known" list give the connected peers only.
  const known = doc.known || (doc.peers || []).map(p => ({ peer_id: p.peer_id, addrs: p.addrs, connected: true,
    connected_since: p.connected_since, last_seen: new Date().toISOString(), version: p.version }));
  for (const p of known) {
    const told = p.told;
    row(tbody, [{ text: p.peer_id, cls: "mono" }, { text: (p.addrs || []).join(" "), cls: "mono" },
      { text: told ? storeText(told.store_bytes, told.blobs) : "" }, { text: p.version },
      { text: p.connected ? "now (connected)" : ago(p.last_seen) + " (not connected)" },
      { text: p.connected && p.connected_since ? new Date(p.connected_since).toISOString() : "" }]);
  }
}

function fillPolicy(st, m) {
  const v = st.policy ? st.policy.version : 0;
  setText("policy-version", v > 0 ? v : "none (open node)");
  const exp = metric(m, "shoal_policy_expiry_timestamp_seconds");
  let text = "";
  if (exp > 0) {
    text = new Date(exp * 1000).toISOString();
    if (metric(m, "shoal_policy_expired") === 1) text += " (expired)";
  }
  setText("policy-expiry", text);
  // The status document names the network and the signers' key IDs
  // (nodes older than those fields leave them out).
  const pol = st.policy || {};
  setText("policy-network", pol.network || "");
  setText("policy-signers", (pol.signers || []).join(", "));
  const mem = pol.membership;
  let members = "";
  if (mem) {
    const parts = [];
    if (mem.any_with_swarm_key) parts.push("every peer holding the swarm key");
    if (mem.allowed_peers > 0) parts.push(mem.allowed_peers + " listed peer IDs");
    members = parts.join(", and ");
  }
  setText("policy-membership", members);
}

// image is what one tag's manifest says: digest, size and worst severity
// of the trusted scan report, where the caller may read them.
async function image(repo, tag) {
  const path = "/v2/" + repo + "/manifests/" + encodeURIComponent(tag);
  // Marked as the page's own read, so that it is not listed among the
  // recent pulls it shows (ui.OwnReadHeader).
  const { body: man, headers } = await getJSON(path, { Accept: manifestAccept, "X-Shoal-Page": "1" });
  const digest = headers.get("Docker-Content-Digest") || "";
  let size = null;
  if (Array.isArray(man.layers)) {
    size = (man.config ? man.config.size : 0) + man.layers.reduce((a, l) => a + (l.size || 0), 0);
  }
  let severity = "", findings = [], signature = "";
  if (digest) {
    try {
      const { body: rep } = await getJSON("/shoal/v1/scans/" + digest);
      findings = rep.findings || [];
      severity = worst(findings);
    } catch (e) { /* no report, or not the caller's to read */ }
    try {
      const { body: sig } = await getJSON("/shoal/v1/signatures/" + digest);
      signature = signatureText(sig.checks || [], repo);
    } catch (e) { /* a node older than the endpoint */ }
  }
  return { digest, size, severity, findings, signature, index: Array.isArray(man.manifests) ? man.manifests.length : 0 };
}

// signatureText is the node's last signature check of an image in repo
// (or in another repository holding it): verified by which rule,
// unsigned, failed or unavailable, and whether the rule refused it.
function signatureText(checks, repo) {
  const c = checks.find(x => x.repository === repo) || checks[0];
  if (!c) return "not checked";
  if (c.state === "verified") return "verified (" + c.rule + ")";
  const how = c.mode === "warn" ? "served: warn" : "refused";
  return c.state + " (" + c.rule + ", " + how + "): " + c.reason;
}

// findingsText names the findings behind a severity, most severe first:
// the advisory, the package, installed and fixed versions.
function findingsText(findings) {
  const sorted = findings.slice().sort((a, b) =>
    (severityRank[String(b.Severity || "UNKNOWN").toUpperCase()] || 0) - (severityRank[String(a.Severity || "UNKNOWN").toUpperCase()] || 0));
  const shown = sorted.slice(0, maxFindings).map(f =>
    f.ID + " " + f.Package + " " + f.Installed + (f.Fixed ? " → " + f.Fixed : " (no fix)"));
  if (sorted.length > maxFindings) shown.push("and " + (sorted.length - maxFindings) + " more");
  return shown.join("; ");
}

const severityRank = { UNKNOWN: 1, LOW: 2, MEDIUM: 3, HIGH: 4, CRITICAL: 5 };

function worst(findings) {
  if (findings.length === 0) return "none";
  let w = "UNKNOWN";
  for (const f of findings) {
    const s = String(f.Severity || "UNKNOWN").toUpperCase();
    if ((severityRank[s] || 0) > severityRank[w]) w = s;
  }
  return w;
}

// sourceOf says where a repository's content comes from, by its name:
// the store names a mirrored repository "<rule>/<path>" after the
// upstream rule it comes through, and a local (pushed or imported) one by
// its path alone, which cannot start with a rule's name.
function sourceOf(repo, rules) {
  const first = repo.split("/")[0];
  return rules.has(first) ? "upstream " + first : "local";
}

async function fillImages(st) {
  const rules = new Set((st.upstreams || []).map(u => u.split("=")[0]));
  const note = $("images-note");
  const tbody = $("images-table").tBodies[0];
  let repos;
  try {
    repos = (await getJSON("/v2/_catalog?n=" + maxRepos)).body.repositories || [];
  } catch (e) {
    tbody.replaceChildren();
    note.textContent = (e.status === 401 || e.status === 403)
      ? "This caller may not list the node's repositories."
      : "The repository list could not be read (" + e.message + ").";
    return;
  }
  const rows = [];
  for (const repo of repos) {
    let tags;
    try {
      tags = ((await getJSON("/v2/" + repo + "/tags/list?n=" + maxTags)).body.tags) || [];
    } catch (e) {
      // Listed because the caller may pull it, but not its tags.
      rows.push([{ text: repo }, { text: sourceOf(repo, rules) }, { text: "" }, { text: "", cls: "digest" }, { text: "" }, { text: "" }, { text: "" }, { text: "" }]);
      continue;
    }
    for (const tag of tags) {
      let img = { digest: "", size: null, severity: "", findings: [], signature: "" };
      try { img = await image(repo, tag); } catch (e) { /* not the caller's to pull */ }
      const size = img.index > 0 ? "index of " + img.index : (img.size === null ? "" : bytes(img.size));
      rows.push([{ text: repo }, { text: sourceOf(repo, rules) }, { text: tag }, { text: img.digest, cls: "digest" }, { text: size },
        { text: img.severity, cls: "sev-" + img.severity }, { text: findingsText(img.findings), cls: "findings" },
        { text: img.signature, cls: "sig-" + (img.signature.split(" ")[0] || "none") }]);
    }
  }
  tbody.replaceChildren();
  for (const r of rows) row(tbody, r);
  note.textContent = rows.length === 0 ? "No images this caller may see." : repos.length + " repositories";
}

// fillTraffic draws the node's traffic history (the status document's
// traffic: bytes per interval, oldest first) as three lines on one scale:
// served to clients, fetched from peers, fetched from upstream.
function fillTraffic(st) {
  const svg = $("traffic-chart");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const tr = st.traffic;
  const samples = (tr && tr.samples) || [];
  if (samples.length < 2) {
    setText("traffic-note", tr ? "Collecting: a point every " + tr.interval_seconds + " s." : "This node does not keep a traffic history.");
    return;
  }
  let peak = 1;
  for (const x of samples) peak = Math.max(peak, x.client_bytes, x.peer_bytes, x.upstream_bytes);
  $("traffic-note").textContent = "Peak " + bytes(peak) + " per " + tr.interval_seconds + " s; " + samples.length + " points.";
  const w = 600, h = 160, pad = 4;
  const ns = "http://www.w3.org/2000/svg";
  for (const [key, cls] of [["client_bytes", "line-client"], ["peer_bytes", "line-peers"], ["upstream_bytes", "line-upstream"]]) {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("class", cls);
    line.setAttribute("points", samples.map((x, i) =>
      (pad + i * (w - 2 * pad) / (samples.length - 1)).toFixed(1) + "," + (h - pad - x[key] * (h - 2 * pad) / peak).toFixed(1)).join(" "));
    svg.appendChild(line);
  }
}

// fillPulls lists the node's recent pulls the caller may see (the node
// filters them by the caller's pull rights).
async function fillPulls() {
  const tbody = $("pulls-table").tBodies[0];
  let pulls = [];
  try {
    pulls = (await getJSON("/shoal/v1/pulls")).body.pulls || [];
  } catch (e) {
    tbody.replaceChildren();
    $("pulls-note").textContent = "This node does not list its pulls (" + e.message + ").";
    return;
  }
  tbody.replaceChildren();
  for (const p of pulls) {
    row(tbody, [{ text: new Date(p.at).toLocaleTimeString() }, { text: p.repository }, { text: p.reference, cls: "mono" }, { text: p.digest, cls: "digest" }]);
  }
  $("pulls-note").textContent = pulls.length === 0 ? "No pulls yet that this caller may see." : "";
}

async function refresh() {
  try {
    const [st, m] = await Promise.all([getJSON("/shoal/v1/status").then(r => r.body), metrics()]);
    fillNode(st, m);
    fillTraffic(st);
    await fillFleet(st);
    fillPolicy(st, m);
    await fillImages(st);
    await fillPulls();
    $("error").hidden = true;
    setText("updated", "updated " + new Date().toLocaleTimeString());
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  } catch (e) {
    $("error").textContent = "refresh failed: " + e.message;
    $("error").hidden = false;
  }
  setTimeout(refresh, refreshMs);
}

refresh();
