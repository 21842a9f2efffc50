// Warren's console: one page, rendered from the admin API. Everything a tenant or a guest
// controls (names, state, error messages, guest output) is put in the page as text, never
// as HTML.
"use strict";

const page = document.getElementById("page");
const tenantSelect = document.getElementById("tenant");
let refresh = null;

// --- helpers ---------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function tenant() {
  return tenantSelect.value || "default";
}

function scoped(path) {
  return path + (path.includes("?") ? "&" : "?") + "tenant=" + encodeURIComponent(tenant());
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options));
  const text = await response.text();
  let body = text;
  try { body = JSON.parse(text); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const message = body && body.error ? body.error : body && body.message ? body.message : text;
    throw new Error(`${response.status}: ${message}`);
  }
  return body;
}

function table(headings, rows, id) {
  return el("table", id ? { id } : {},
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
}

function json(value) {
  return el("pre", {}, JSON.stringify(value, null, 2));
}

function show(...children) {
  page.replaceChildren(...children);
}

function failure(e) {
  return el("p", { class: "error" }, String(e.message || e));
}

function formatMs(ms) {
  return ms === null || ms === undefined ? "–" : ms < 1 ? `${ms} ms` : `${Math.round(ms)} ms`;
}

function formatMiB(bytes) {
  return bytes === null || bytes === undefined ? "–" : `${(bytes / 1048576).toFixed(1)} MiB`;
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : new Date(ms).toLocaleString();
}

// --- overview --------------------------------------------------------------------------

function chart(title, points, format) {
  const canvas = el("canvas", { width: 600, height: 160 });
  const max = Math.max(1, ...points);
  const latest = points.length ? points[points.length - 1] : 0;
  const box = el("div", { class: "chart" },
    el("div", {}, el("strong", {}, title), " ", el("span", { class: "muted" }, `now ${format(latest)}, max ${format(max)}`)),
    canvas);
  const g = canvas.getContext("2d");
  g.strokeStyle = "#2f5bd3";
  g.lineWidth = 2;
  g.beginPath();
  points.forEach((v, i) => {
    const x = points.length < 2 ? 0 : (i / (points.length - 1)) * canvas.width;
    const y = canvas.height - 4 - (v / max) * (canvas.height - 8);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  return box;
}

function figure(name, value, id) {
  return el("div", { class: "figure", id }, el("div", { class: "value" }, value), el("div", { class: "name" }, name));
}

function failuresTable(failures) {
  if (!failures.length) return el("p", { class: "muted", id: "failures" }, "No failed turns since the host started.");
  return table(["when", "actor", "action", "outcome", "message and guest output"],
    failures.map((f) => [
      ago(f.at_ms),
      `${f.tenant}/${f.actor_type}/${f.actor_id}`,
      f.action,
      el("span", { class: "bad" }, f.outcome),
      [el("div", {}, f.message), f.output.length ? el("pre", { class: "output" }, f.output.join("\n")) : null],
    ]), "failures");
}

async function overview() {
  const status = await api("/admin/v1/status");
  const history = status.history;
  show(
    el("h2", {}, "Host"),
    el("div", { class: "figures", id: "figures" },
      figure("turns/s (10 s)", status.turns_per_second.toFixed(1), "turns-per-second"),
      figure("p99 (1 min)", formatMs(status.p99_ms), "p99"),
      figure("failed turns/s", status.failed_per_second.toFixed(1), "failed-per-second"),
      figure("turns since start", status.turns_total, "turns-total"),
      figure("failed since start", status.failed_total, "failed-total"),
      figure("active actors", status.active_actors, "active-actors"),
      figure("kept instances", status.kept_instances, "kept-instances"),
      figure("kept memory / budget",
        `${formatMiB(status.kept_memory_bytes)} / ${formatMiB(status.kept_memory_budget_bytes)}`,
        "kept-memory"),
      figure("tenants", status.tenants, "tenants"),
      figure("components", status.components, "components"),
      figure("actor types", status.actor_types, "actor-types"),
      figure("compiled / cache hits", `${status.components_compiled} / ${status.artifact_cache_hits}`),
      figure("up", `${Math.round(status.uptime_seconds / 60)} min (v${status.version})`)),
    el("div", { class: "charts" },
      chart("turns/s", history.map((s) => s.turns), (v) => v.toFixed(0)),
      chart("p99 latency", history.map((s) => s.p99_ms || 0), formatMs),
      chart("failed turns/s", history.map((s) => s.failed), (v) => v.toFixed(0))),
    el("h2", {}, "Last failed turns"),
    failuresTable(status.failures));
}

// --- tenants ---------------------------------------------------------------------------

async function tenants() {
  const list = await api("/admin/v1/tenants");
  show(el("h2", {}, "Tenants"),
    table(["name", "active actors", "running turns", "state bytes", "tokens", "outbound hosts", "limits"],
      list.map((t) => [t.name, t.active_actors, t.running_turns, t.state_bytes, t.tokens.length,
        t.limits.allowed_outbound_hosts.join(" ") || "none", json(t.overrides)]),
      "tenant-list"));
}

// --- components ------------------------------------------------------------------------

function upload(form, status) {
  const file = form.querySelector("#upload-file").files[0];
  const name = form.querySelector("#upload-name").value.trim();
  if (!file) return;
  const bar = el("progress", { max: 100, value: 0 });
  const line = el("span", {}, "Uploading…");
  status.replaceChildren(bar, " ", line);
  const xhr = new XMLHttpRequest();
  let compiling = null;
  let sent = null;
  const url = scoped("/admin/v1/components" + (name ? `?name=${encodeURIComponent(name)}` : ""));
  xhr.open("POST", url);
  xhr.setRequestHeader("content-type", "application/wasm");
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
  };
  // Once the bytes are up the host compiles them: show that, with the time it takes.
  xhr.upload.onload = () => {
    bar.value = 100;
    sent = Date.now();
    compiling = setInterval(() => {
      line.textContent = `Compiling… ${((Date.now() - sent) / 1000).toFixed(1)} s`;
    }, 100);
    line.textContent = "Compiling…";
  };
  xhr.onloadend = () => {
    clearInterval(compiling);
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
    if (xhr.status === 201) {
      status.replaceChildren(el("span", { id: "upload-done" },
        `Deployed ${body.name} (${body.actor_types.join(", ")}) from ${file.name}.`));
      components(false);
    } else {
      const message = body && body.error ? body.error : xhr.responseText || "the upload failed";
      status.replaceChildren(el("span", { class: "error", id: "upload-error" }, `${xhr.status || "error"}: ${message}`));
    }
  };
  xhr.send(file);
}

async function components(clearStatus = true) {
  const list = await api(scoped("/admin/v1/components"));
  const existing = document.getElementById("upload-status");
  const status = !clearStatus && existing ? existing : el("div", { id: "upload-status" });
  const form = el("form", { class: "inline", id: "upload", onsubmit: (e) => { e.preventDefault(); upload(form, status); } },
    el("label", {}, "Component (.wasm) ", el("input", { type: "file", id: "upload-file", accept: ".wasm", required: "" })),
    el("label", {}, "Name (optional) ", el("input", { type: "text", id: "upload-name" })),
    el("button", { type: "submit", id: "upload-button" }, "Deploy"));
  const remove = (name) => async () => {
    if (!confirm(`Remove ${name} and its actor types?`)) return;
    try { await api(scoped(`/admin/v1/components/${encodeURIComponent(name)}`), { method: "DELETE" }); }
    catch (e) { status.replaceChildren(failure(e)); }
    components(false);
  };
  show(el("h2", {}, `Components of ${tenant()}`),
    list.length
      ? table(["name", "actor types", "size", "sha256", "deployed", ""],
        list.map((c) => [c.name, c.actor_types.join(", "), `${Math.round(c.size / 1024)} KiB`,
          el("code", {}, c.sha256.slice(0, 16)), c.deployed_at ? ago(c.deployed_at * 1000) : "–",
          c.size ? el("button", { class: "secondary", "data-remove": c.name, onclick: remove(c.name) }, "Remove") : ""]),
        "component-list")
      : el("p", { class: "muted", id: "component-list" }, "No components."),
    el("h2", {}, "Deploy a component"), form, status);
}

// --- actor types -----------------------------------------------------------------------

async function types() {
  const list = await api(scoped("/admin/v1/actor-types"));
  show(el("h2", {}, `Actor types of ${tenant()}`),
    table(["type", "component", "kind", "actions", "timers", "settings"],
      list.map((t) => [
        el("strong", {}, t.name), t.component, t.kind,
        t.actions.map((a) => el("div", {}, a.name, a.description ? el("span", { class: "muted" }, ` – ${a.description}`) : null)),
        t.timer_actions.map((x) => el("div", {}, `${x.action} every ${x.period_ms} ms`)),
        json(Object.fromEntries(Object.entries(t).filter(([k]) => !["name", "component", "kind", "actions", "timer_actions"].includes(k)))),
      ]), "type-list"));
}

// --- actors ----------------------------------------------------------------------------

function actorLink(type, id) {
  return el("a", { href: `#/actor/${encodeURIComponent(type)}/${encodeURIComponent(id)}` }, `${type}/${id}`);
}

async function actors() {
  const list = await api(scoped("/admin/v1/actors"));
  const body = el("div", {});
  const render = (filter) => {
    const shown = list.filter((a) => `${a.type}/${a.id}`.includes(filter)).slice(0, 500);
    body.replaceChildren(
      el("p", { class: "muted" }, `${shown.length} of ${list.length} active actors`),
      table(["actor"], shown.map((a) => [actorLink(a.type, a.id)]), "actor-list"));
  };
  const search = el("input", { type: "search", id: "actor-search", placeholder: "type/id contains…", oninput: () => render(search.value) });
  const type = el("input", { id: "open-type", placeholder: "type" });
  const id = el("input", { id: "open-id", placeholder: "id" });
  const open = el("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); location.hash = `#/actor/${encodeURIComponent(type.value)}/${encodeURIComponent(id.value)}`; } },
    "Any actor, active or not: ", type, id, el("button", { type: "submit" }, "Open"));
  show(el("h2", {}, `Active actors of ${tenant()}`), search, open, body);
  render("");
}

function stateValue(entry) {
  if ("json" in entry) return json(entry.json);
  if ("text" in entry) return el("pre", {}, entry.text);
  return el("pre", { class: "muted" }, `base64 ${entry.base64}`);
}

async function actor(type, id) {
  const path = `/admin/v1/actors/${encodeURIComponent(type)}/${encodeURIComponent(id)}`;
  const [view, typeList] = await Promise.all([api(scoped(path)), api(scoped("/admin/v1/actor-types"))]);
  const spec = typeList.find((t) => t.name === type);
  const actions = spec ? spec.actions.map((a) => a.name) : [];
  const action = el("select", { id: "invoke-action" }, actions.map((a) => el("option", { value: a }, a)));
  const payload = el("textarea", { id: "invoke-payload", placeholder: "payload (JSON)" });
  const result = el("div", { id: "invoke-result" });
  const form = el("form", {
    id: "invoke",
    onsubmit: async (e) => {
      e.preventDefault();
      result.replaceChildren(el("span", { class: "muted" }, "Invoking…"));
      try {
        const reply = await api(scoped(`${path}/method/${encodeURIComponent(action.value)}`), { method: "POST", body: payload.value });
        result.replaceChildren(el("strong", {}, "Reply: "), typeof reply === "string" ? el("pre", {}, reply) : json(reply));
        const fresh = await api(scoped(path));
        document.getElementById("state").replaceWith(stateTable(fresh));
        document.getElementById("actor-summary").replaceWith(summary(fresh));
      } catch (err) {
        result.replaceChildren(el("span", { class: "error" }, String(err.message)));
      }
    },
  }, el("label", {}, "Action ", action), payload, el("button", { type: "submit", id: "invoke-button" }, "Invoke"));
  const jobs = (list) => list.length
    ? table(["name", "due", "period", "data"], list.map((j) => [j.name, j.dueTime || j.due_time || "", j.period || "", json(j.data)]))
    : el("p", { class: "muted" }, "None.");
  show(el("h2", {}, `${type}/${id} `, summary(view)),
    el("h2", {}, "State"), stateTable(view),
    el("h2", {}, "Reminders"), jobs(view.reminders),
    el("h2", {}, "Timers"), jobs(view.timers),
    el("h2", {}, "Invoke"), form, result);
}

function summary(view) {
  return el("span", { class: "muted", id: "actor-summary" },
    `in ${view.tenant}, ${view.active ? "active" : "not active"}, version ${view.version}`);
}

function stateTable(view) {
  if (!view.state.length) return el("p", { class: "muted", id: "state" }, "No state.");
  return table(["key", "value", "bytes"], view.state.map((s) => [el("code", {}, s.key), stateValue(s), s.bytes]), "state");
}

// --- routing ---------------------------------------------------------------------------

async function route() {
  clearInterval(refresh);
  refresh = null;
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("current", a.getAttribute("href") === `#/${parts[0] === "actor" ? "actors" : parts[0]}`);
  }
  try {
    switch (parts[0]) {
      case "tenants": return await tenants();
      case "components": return await components();
      case "types": return await types();
      case "actors": return await actors();
      case "actor": return await actor(parts[1], parts.slice(2).join("/"));
      default:
        await overview();
        refresh = setInterval(() => overview().catch((e) => show(failure(e))), 1000);
    }
  } catch (e) {
    show(failure(e));
  }
}

async function loadTenants() {
  const saved = localStorage.getItem("warren-tenant") || "default";
  try {
    const list = await api("/admin/v1/tenants");
    tenantSelect.replaceChildren(...list.map((t) => el("option", { value: t.name }, t.name)));
  } catch (_) {
    tenantSelect.replaceChildren(el("option", { value: "default" }, "default"));
  }
  if ([...tenantSelect.options].some((o) => o.value === saved)) tenantSelect.value = saved;
}

tenantSelect.addEventListener("change", () => {
  localStorage.setItem("warren-tenant", tenantSelect.value);
  route();
});
window.addEventListener("hashchange", route);
loadTenants().then(route);
