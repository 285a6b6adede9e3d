// The dashboard: a hash-routed page calling the JSON API at the same origin (docs/dashboard.md).
// Every value from the API reaches the page as text nodes (h() below), never as HTML.
import { h, fmtTime, fmtShort, fmtRel, fmtDur, fmtPct, toYaml, badge, isFinal, json } from "./util.js";
import { barsChart, linesChart } from "./charts.js";

const KEY = "wfa.apiKey";
const ACCESS = "wfa.access"; // "rw" | "ro": what the key in KEY may do, probed once per key
const main = document.getElementById("main");

// --- the API: a key asked for once per session on 401, write buttons hidden for a read-only key ---------------

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

let asking = null;
function askForKey(message) {
  if (asking) return asking;
  const dialog = document.getElementById("key-dialog");
  const error = document.getElementById("key-error");
  const input = document.getElementById("key-input");
  error.textContent = message;
  error.hidden = !message;
  input.value = "";
  asking = new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        asking = null;
        const key = input.value.trim();
        if (key) {
          sessionStorage.setItem(KEY, key);
          sessionStorage.removeItem(ACCESS);
        }
        resolve(Boolean(key));
      },
      { once: true },
    );
  });
  dialog.showModal();
  input.focus();
  return asking;
}

// aria-busy on <main> while calls are in flight: assistive technology (and the browser tests) know when a page is
// complete.
let inFlight = 0;
function busy(delta) {
  inFlight += delta;
  main.setAttribute("aria-busy", String(inFlight > 0));
}

async function api(path, options = {}) {
  busy(+1);
  try {
    return await call(path, options);
  } finally {
    busy(-1);
  }
}

async function call(path, { method = "GET", body } = {}) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const key = sessionStorage.getItem(KEY);
    const headers = { Accept: "application/json" };
    if (key) headers.Authorization = `Bearer ${key}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401) {
      if (key) sessionStorage.removeItem(KEY);
      await askForKey(key ? "That key was not accepted." : "");
      await probeAccess();
      continue;
    }
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (response.status === 403 && method !== "GET") setAccess("ro");
    if (!response.ok) throw new ApiError(response.status, data);
    return { data, response };
  }
  throw new ApiError(401, { detail: "no API key was accepted" });
}
const get = async (path) => (await api(path)).data;
const post = async (path, body) => (await api(path, { method: "POST", body })).data;

function setAccess(access) {
  if (sessionStorage.getItem(KEY)) sessionStorage.setItem(ACCESS, access);
  document.body.classList.toggle("read-only", access === "ro");
  const label = document.getElementById("access");
  const key = sessionStorage.getItem(KEY);
  label.hidden = !key;
  label.textContent = access === "ro" ? "read-only key" : "read-write key";
  document.getElementById("forget-key").hidden = !key;
}

// With a key in use, one harmless write tells whether it may write: an empty POST /workflows is refused by the
// key check first (403 read-only) and otherwise by validation (422), so nothing is ever created.
let probing = null;
function probeAccess() {
  const key = sessionStorage.getItem(KEY);
  if (!key || sessionStorage.getItem(ACCESS)) return Promise.resolve();
  probing ??= fetch("/workflows", {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: "{}",
  })
    .then((response) => {
      if (response.status !== 401) setAccess(response.status === 403 ? "ro" : "rw");
    })
    .finally(() => (probing = null));
  return probing;
}

// --- page lifecycle: one view at a time; leaving it stops its polling and charts --------------------------------

let view = { alive: false, cleanups: [] };
function newView() {
  view.alive = false;
  for (const cleanup of view.cleanups) cleanup();
  view = { alive: true, cleanups: [] };
  return view;
}

function toast(text) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 3500);
}

function writeButton(label, onClick, cls = "") {
  const button = h("button", { type: "button", class: `write ${cls}` }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await onClick();
    } catch (error) {
      toast(error.status === 403 ? "This API key is read-only." : `${label}: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function failed(where, error) {
  return h("div", { class: "card error", role: "alert" }, `Could not load ${where}: ${error.message}`);
}

function table(headers, rows, { collapse = true } = {}) {
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { class: collapse ? "collapse" : "" },
      h("thead", {}, h("tr", {}, headers.map(([label, cls]) => h("th", { class: cls || "", scope: "col" }, label)))),
      h(
        "tbody",
        {},
        rows.map((cells) =>
          h("tr", {}, cells.map((cell, i) => h("td", { class: headers[i][1] || "", "data-label": headers[i][0] }, cell))),
        ),
      ),
    ),
  );
}

const link = (href, text) => h("a", { href }, text);
const wfLink = (id) => link(`#/workflows/${encodeURIComponent(id)}`, id);
const exLink = (id) => link(`#/executions/${encodeURIComponent(id)}`, h("span", { class: "mono" }, id));

function windowStart(window) {
  const units = { m: 60e3, h: 3600e3, d: 86400e3 };
  const match = /^(\d+)([mhd])$/.exec(window || "");
  return match ? new Date(Date.now() - Number(match[1]) * units[match[2]]) : null;
}

// --- trigger with input -------------------------------------------------------------------------------------------

function openTrigger(workflowId) {
  const dialog = document.getElementById("trigger-dialog");
  const input = document.getElementById("trigger-input");
  const error = document.getElementById("trigger-error");
  document.getElementById("trigger-title").textContent = `Trigger ${workflowId}`;
  error.hidden = true;
  const form = document.getElementById("trigger-form");
  form.onsubmit = async (event) => {
    event.preventDefault();
    let payload;
    try {
      payload = JSON.parse(input.value.trim() || "{}");
      if (payload === null || typeof payload !== "object" || Array.isArray(payload)) throw new Error("not an object");
    } catch {
      error.textContent = "The input must be a JSON object.";
      error.hidden = false;
      return;
    }
    try {
      const accepted = await post(`/workflows/${encodeURIComponent(workflowId)}/trigger`, { input: payload });
      dialog.close();
      location.hash = `#/executions/${encodeURIComponent(accepted.executionId)}`;
    } catch (e) {
      error.textContent = e.status === 403 ? "This API key is read-only." : e.message;
      error.hidden = false;
    }
  };
  document.getElementById("trigger-cancel").onclick = () => dialog.close();
  dialog.showModal();
  input.focus();
}

// --- executions across workflows ----------------------------------------------------------------------------------

const STATUSES = ["queued", "running", "pending", "succeeded", "failed", "cancelled"];
const REASONS = ["manual", "schedule", "retry", "webhook", "backfill"];
const WINDOWS = [["", "any time"], ["1h", "last hour"], ["24h", "last 24 h"], ["7d", "last 7 days"], ["30d", "last 30 days"]];

function select(name, label, options, value) {
  return h(
    "label",
    {},
    label,
    h("select", { name }, options.map(([v, text]) => h("option", { value: v, selected: v === (value || "") }, text))),
  );
}

function executionRows(items, withWorkflow = true) {
  return items.map((e) => [
    exLink(e.executionId),
    ...(withWorkflow ? [wfLink(e.workflowId)] : []),
    badge(e.status),
    e.reason,
    fmtShort(e.createdAt),
    fmtDur(e.durationMs),
    `${e.attempt}/${e.maxAttempts}`,
  ]);
}
const EXECUTION_HEADERS = [["Execution"], ["Workflow"], ["Status"], ["Reason"], ["Created"], ["Duration", "num"], ["Attempt", "num"]];

async function executionsPage(v, _id, query) {
  const form = h(
    "form",
    { class: "filters", role: "search" },
    select("status", "Status", [["", "any"], ...STATUSES.map((s) => [s, s])], query.get("status")),
    select("reason", "Reason", [["", "any"], ...REASONS.map((s) => [s, s])], query.get("reason")),
    h("label", {}, "Workflow", h("input", { name: "workflowId", value: query.get("workflowId") || "", placeholder: "workflowId" })),
    select("window", "Created", WINDOWS, query.get("window")),
    h("button", { type: "submit", class: "primary" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [k, value] of new FormData(form)) if (value) params.set(k, value);
    location.hash = `#/executions?${params}`;
  });
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(h("h1", {}, "Executions"), form, h("div", { class: "card" }, body));

  const params = new URLSearchParams({ limit: "50" });
  for (const k of ["status", "reason", "workflowId"]) if (query.get(k)) params.set(k, query.get(k));
  const since = windowStart(query.get("window"));
  if (since) params.set("since", since.toISOString());
  const rows = [];
  const more = h("button", { type: "button", hidden: true }, "Load more");
  async function load(cursor) {
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await get(`/executions?${params}`);
      if (!v.alive) return;
      rows.push(...page.items);
      body.replaceChildren(
        rows.length ? table(EXECUTION_HEADERS, executionRows(rows)) : h("p", { class: "muted" }, "No executions match."),
        more,
      );
      more.hidden = !page.nextCursor;
      more.onclick = () => load(page.nextCursor);
    } catch (error) {
      body.replaceChildren(failed("executions", error));
    }
  }
  await load(null);
}

// --- one execution: live until final --------------------------------------------------------------------------------

// Every run of an action, oldest first: its earlier attempts (`previous`) and the last one. An interrupted attempt
// has no recorded end: its bar ends where the next attempt began.
function attemptsOf(run) {
  const earlier = (run.previous || []).map((p) => ({ ...p, status: p.outcome }));
  const all = run.startedAt ? [...earlier, { ...run, attempt: run.attempts, status: run.status }] : earlier;
  return all.map((a, i) => ({ ...a, end: a.finishedAt ? Date.parse(a.finishedAt) : all[i + 1] ? Date.parse(all[i + 1].startedAt) : null }));
}

// The run an execution waiting for a retry waits on: the failed run that ended last.
function waitingRun(execution) {
  if (execution.status !== "pending" || !execution.nextRetryAt) return null;
  const failed = [execution.actions, execution.compensations, execution.onFailure]
    .flatMap((list) => list || [])
    .filter((r) => r.status === "failed" && r.finishedAt);
  return failed.sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt))[0] || null;
}

function gantt(execution) {
  const sections = [["Actions", execution.actions], ["Compensations", execution.compensations], ["On failure", execution.onFailure]];
  const runs = sections.flatMap(([, list]) => list || []);
  const times = runs
    .flatMap((r) => [r.startedAt, r.finishedAt, ...(r.previous || []).flatMap((p) => [p.startedAt, p.finishedAt])])
    .filter(Boolean)
    .map(Date.parse);
  const t0 = Math.min(Date.parse(execution.startedAt || execution.createdAt), ...times);
  const running = !isFinal(execution.status);
  const waiting = waitingRun(execution);
  const retryAt = waiting ? Date.parse(execution.nextRetryAt) : 0;
  const t1 = Math.max(t0 + 1, ...times, execution.finishedAt ? Date.parse(execution.finishedAt) : 0, running ? Date.now() : 0, retryAt);
  const span = t1 - t0;
  const place = (el, start, end, min = 0.4) => {
    el.style.left = `${((start - t0) / span) * 100}%`;
    el.style.width = `${Math.max(min, ((end - start) / span) * 100)}%`;
    return el;
  };
  // A wait is labelled with its length inside the gap, when the gap is wide enough to hold the label.
  const wait = (start, end, text, cls = "") => {
    const el = place(h("div", { class: `wait ${cls}`, title: text }), start, end, 0);
    if (((end - start) / span) * 100 >= 7) el.append(h("span", {}, text));
    return el;
  };
  const rows = [];
  for (const [title, list] of sections) {
    if (!list || !list.length) continue;
    if (title !== "Actions") rows.push(h("div", { class: "section" }, title));
    for (const run of list) {
      const attempts = attemptsOf(run);
      const lane = h("div", { class: "lane" });
      const said = [`${run.name}: ${run.status}`];
      attempts.forEach((a, i) => {
        const start = Date.parse(a.startedAt);
        const end = a.end ?? Date.now();
        const took = a.durationMs ?? end - start;
        const error = a.error ? ` · ${a.error.type}: ${a.error.message}` : a.status === "interrupted" ? " · interrupted, no end recorded" : "";
        lane.append(place(h("div", { class: `bar ${a.status}`, "data-attempt": a.attempt, title: `${run.name} · attempt ${a.attempt} · ${a.status} · ${fmtDur(took)}${error}` }), start, end));
        said.push(`attempt ${a.attempt} ${a.status} ${fmtDur(took)}`);
        const next = attempts[i + 1];
        if (next && a.finishedAt) {
          const gap = Date.parse(next.startedAt) - a.end;
          if (gap > 0) {
            lane.append(wait(a.end, Date.parse(next.startedAt), `wait ${fmtDur(gap)}`));
            said.push(`waited ${fmtDur(gap)}`);
          }
        }
      });
      if (run === waiting) {
        const from = Date.parse(run.finishedAt);
        const text = `retry in ${fmtDur(Math.max(0, retryAt - Date.now()))}`;
        lane.append(wait(from, retryAt, `wait ${fmtDur(retryAt - from)}`, "next"));
        said.push(`waiting, ${text}`);
      }
      lane.setAttribute("role", "img");
      lane.setAttribute("aria-label", said.join(", "));
      rows.push(h("div", { class: "name", title: run.name }, run.name, attempts.length > 1 ? h("span", { class: "muted" }, ` ×${attempts.length}`) : ""), lane);
    }
  }
  rows.push(h("div", {}), h("div", { class: "axis" }, h("span", {}, "0"), h("span", {}, fmtDur(span))));
  return h("div", { class: "gantt" }, rows);
}

function runTable(list) {
  return table(
    [["Action"], ["Type"], ["Status"], ["Attempts", "num"], ["Started"], ["Finished"], ["Duration", "num"], ["Output / error"]],
    list.map((run) => [
      run.name,
      run.type,
      badge(run.status),
      String(run.attempts),
      fmtShort(run.startedAt),
      fmtShort(run.finishedAt),
      fmtDur(run.durationMs),
      h(
        "div",
        {},
        run.previous && run.previous.length
          ? h(
              "details",
              {},
              h("summary", {}, `${run.previous.length} earlier attempt(s)`),
              h("ol", { class: "attempts" }, run.previous.map((p) => h("li", { value: p.attempt }, `${p.outcome}${p.durationMs !== null && p.durationMs !== undefined ? ` after ${fmtDur(p.durationMs)}` : ""}${p.error ? `: ${p.error.type}: ${p.error.message}` : ""}`))),
            )
          : null,
        run.error ? h("details", { open: true }, h("summary", { class: "error" }, `error: ${run.error.type}`), h("pre", {}, json(run.error))) : null,
        run.output ? h("details", {}, h("summary", {}, "output"), h("pre", {}, json(run.output))) : null,
      ),
    ]),
  );
}

// The trace id with a button that copies it (to paste into Jaeger's search); where the clipboard is refused, the
// id is selected so that Ctrl+C copies it.
function traceId(id) {
  const text = h("span", { class: "mono", id: "trace-id" }, id);
  const copy = h("button", { type: "button", class: "small", "aria-label": "Copy the trace id" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(id);
      toast("Trace id copied");
    } catch {
      getSelection().selectAllChildren(text);
      toast("Trace id selected: press Ctrl+C to copy it");
    }
  });
  return h("span", { class: "trace" }, text, " ", copy);
}

async function executionPage(v, id) {
  const path = `/executions/${encodeURIComponent(id)}`;
  const status = h("span", {});
  const live = h("span", { class: "live", "aria-live": "polite" });
  const cancel = writeButton("Cancel", async () => render(await post(`${path}/cancel`)), "danger");
  const retry = writeButton("Retry", async () => {
    const accepted = await post(`${path}/retry`);
    location.hash = `#/executions/${encodeURIComponent(accepted.executionId)}`;
  });
  const facts = h("dl", { class: "facts" });
  const timeline = h("div", {});
  const runs = h("div", {});
  const input = h("pre", {});
  const error = h("div", {});
  main.replaceChildren(
    h("div", { class: "head" }, h("h1", {}, "Execution ", h("span", { class: "mono" }, id), " ", status, " ", live), h("div", { class: "buttons" }, cancel, retry)),
    error,
    h("div", { class: "grid" }, h("div", { class: "card" }, h("h2", {}, "Details"), facts), h("div", { class: "card" }, h("h2", {}, "Input"), input)),
    h("div", { class: "card" }, h("h2", {}, "Timeline"), timeline),
    runs,
  );

  function render(e) {
    // A queued execution may still wait for a slot of its workflow (whenBusy: queue): its request is not sent yet.
    status.replaceChildren(badge(e.status), ...(e.waiting ? [" ", h("span", { class: "muted" }, "waiting for a slot")] : []));
    cancel.hidden = isFinal(e.status);
    retry.hidden = !["failed", "cancelled"].includes(e.status);
    const fact = (k, value) => (value === null || value === undefined || value === "" ? [] : [h("dt", {}, k), h("dd", {}, value)]);
    facts.replaceChildren(
      ...fact("Workflow", h("span", {}, wfLink(e.workflowId), ` v${e.workflowVersion}`)),
      ...fact("Reason", e.reason),
      ...fact("Retry of", e.retryOf ? exLink(e.retryOf) : null),
      ...fact("Scheduled for", e.scheduledFor ? fmtTime(e.scheduledFor) : null),
      ...fact("Attempt", `${e.attempt} of ${e.maxAttempts}`),
      ...fact("Next retry", e.nextRetryAt ? `${fmtTime(e.nextRetryAt)} (${fmtRel(e.nextRetryAt)})` : null),
      ...fact("Trace id", e.traceId ? traceId(e.traceId) : null),
      ...fact("Created", fmtTime(e.createdAt)),
      ...fact("Started", fmtTime(e.startedAt)),
      ...fact("Finished", fmtTime(e.finishedAt)),
      ...fact("Duration", fmtDur(e.durationMs)),
    );
    input.textContent = json(e.input);
    error.replaceChildren(
      e.error ? h("div", { class: "card", role: "alert" }, h("h2", { class: "error" }, `Failed: ${e.error.type}`), h("pre", {}, json(e.error))) : "",
    );
    timeline.replaceChildren(gantt(e));
    const sections = [["Actions", e.actions], ["Compensations", e.compensations], ["On failure", e.onFailure]];
    runs.replaceChildren(
      ...sections.filter(([, list]) => list && list.length).map(([title, list]) => h("div", { class: "card" }, h("h2", {}, title), runTable(list))),
    );
  }

  // Polls at most once a second while the execution can still change.
  async function poll() {
    try {
      const e = await get(path);
      if (!v.alive) return;
      render(e);
      if (isFinal(e.status)) {
        live.textContent = "";
        return;
      }
      live.textContent = "● live";
    } catch (e) {
      if (!v.alive) return;
      if (e.status === 404) return main.replaceChildren(failed("the execution", e));
      live.textContent = `retrying: ${e.message}`;
    }
    const timer = setTimeout(poll, 1000);
    v.cleanups.push(() => clearTimeout(timer));
  }
  await poll();
}

// --- workflows ------------------------------------------------------------------------------------------------------

function triggerText(t) {
  if (t.type === "periodic") return `every ${t.interval}`;
  if (t.type === "cron") return `cron ${t.cron}${t.timezone && t.timezone !== "UTC" ? ` (${t.timezone})` : ""}`;
  return t.type;
}

function stateBadges(w) {
  const waiting = w.trigger.queued ? [" ", h("span", { class: "muted" }, `${w.trigger.queued} waiting`)] : "";
  return h("span", {}, w.enabled ? badge(w.trigger.status) : badge("paused"), waiting);
}

// The lock as a sentence: its first slot's state and holder, then the other slots and the queue when there are.
function lockFacts(w) {
  const t = w.trigger;
  const limit = (w.concurrency && w.concurrency.limit) || 1;
  return [
    t.status,
    t.executionId ? [" by ", exLink(t.executionId)] : "",
    limit > 1 ? ` · ${t.running} of ${limit} running` : "",
    t.queued ? ` · ${t.queued} waiting (next: ` : "",
    t.queued ? [exLink(t.waiting[0]), ")"] : "",
  ];
}

function pauseResume(w, after) {
  return w.enabled
    ? writeButton("Pause", async () => after(await post(`/workflows/${encodeURIComponent(w.workflowId)}/pause`)))
    : writeButton("Resume", async () => after(await post(`/workflows/${encodeURIComponent(w.workflowId)}/resume`)));
}

async function workflowsPage(v, _id, query) {
  const search = h("input", { name: "q", type: "search", value: query.get("q") || "", placeholder: "part of the id", "aria-label": "Search by id" });
  const form = h(
    "form",
    { class: "filters", role: "search" },
    h("label", {}, "Search", search),
    h("label", {}, "Label", h("input", { name: "label", value: query.get("label") || "", placeholder: "key=value" })),
    h("button", { type: "submit", class: "primary" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [k, value] of new FormData(form)) if (value) params.set(k, value);
    location.hash = `#/workflows?${params}`;
  });
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(h("h1", {}, "Workflows"), form, h("div", { class: "card" }, body));

  const params = new URLSearchParams({ limit: "200" });
  if (query.get("label")) params.set("label", query.get("label"));
  const needle = (query.get("q") || "").toLowerCase();
  const items = [];
  const more = h("button", { type: "button", hidden: true }, "Load more");
  // The last run and the success rate come from one page of the latest executions (newest first), not one call per
  // workflow: a workflow whose last run is older than those shows none.
  const recent = { last: new Map(), finished: new Map(), succeeded: new Map() };
  const since = windowStart("24h").getTime();
  get("/executions?limit=500")
    .then((page) => {
      for (const e of page.items) {
        if (!recent.last.has(e.workflowId)) recent.last.set(e.workflowId, e);
        if (isFinal(e.status) && Date.parse(e.createdAt) >= since) {
          recent.finished.set(e.workflowId, (recent.finished.get(e.workflowId) || 0) + 1);
          if (e.status === "succeeded") recent.succeeded.set(e.workflowId, (recent.succeeded.get(e.workflowId) || 0) + 1);
        }
      }
      if (v.alive && items.length) draw();
    })
    .catch(() => {}); // the list stands without these two columns
  function successRate(id) {
    const finished = recent.finished.get(id);
    return finished ? fmtPct((recent.succeeded.get(id) || 0) / finished) : "—";
  }
  function draw() {
    const shown = items.filter((w) => w.workflowId.toLowerCase().includes(needle) || (w.name || "").toLowerCase().includes(needle));
    const rows = shown.map((w, i) => [
      h("span", {}, wfLink(w.workflowId), w.name ? h("div", { class: "muted" }, w.name) : null),
      h("span", {}, Object.entries(w.labels || {}).map(([k, val]) => h("span", { class: "label" }, `${k}=${val}`))),
      triggerText(w.trigger),
      stateBadges(w),
      w.trigger.executionId ? exLink(w.trigger.executionId) : "—",
      recent.last.has(w.workflowId)
        ? link(`#/executions/${encodeURIComponent(recent.last.get(w.workflowId).executionId)}`, badge(recent.last.get(w.workflowId).status))
        : "—",
      successRate(w.workflowId),
      w.trigger.nextRunAt ? h("span", { title: fmtTime(w.trigger.nextRunAt) }, fmtRel(w.trigger.nextRunAt)) : "—",
      h(
        "div",
        { class: "buttons" },
        pauseResume(w, (updated) => {
          items[items.indexOf(shown[i])] = updated;
          draw();
        }),
        writeButton("Trigger", async () => openTrigger(w.workflowId), "primary"),
      ),
    ]);
    body.replaceChildren(
      rows.length
        ? table([["Workflow"], ["Labels"], ["Trigger"], ["State"], ["Lock held by"], ["Last run"], ["Success 24 h", "num"], ["Next fire"], ["Actions"]], rows)
        : h("p", { class: "muted" }, "No workflows match."),
      more,
    );
  }
  async function load(cursor) {
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await get(`/workflows?${params}`);
      if (!v.alive) return;
      items.push(...page.items);
      more.hidden = !page.nextCursor;
      more.onclick = () => load(page.nextCursor);
      draw();
    } catch (error) {
      body.replaceChildren(failed("workflows", error));
    }
  }
  await load(null);
}

function unifiedDiff(text) {
  const pre = h("pre", { class: "diff unified", "aria-label": "Unified diff" });
  for (const line of text.split("\n")) {
    const cls = line.startsWith("+++") || line.startsWith("---") ? "meta" : line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "";
    pre.append(h("span", { class: cls }, line || " "));
  }
  return pre;
}

// The rows of a side-by-side view of a unified diff: per hunk, its header, then its lines aligned: a context line on
// both sides, a run of removed lines beside the run of added lines that follows it (the shorter one padded).
function sideBySideRows(text) {
  const rows = [];
  let oldNo = 0;
  let newNo = 0;
  let dels = [];
  let adds = [];
  const flush = () => {
    for (let i = 0; i < Math.max(dels.length, adds.length); i++) rows.push({ kind: "change", old: dels[i] || null, new: adds[i] || null });
    dels = [];
    adds = [];
  };
  for (const line of text.split("\n")) {
    const hunk = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (hunk) {
      flush();
      oldNo = Number(hunk[1]);
      newNo = Number(hunk[2]);
      rows.push({ kind: "hunk", text: line });
    } else if (line.startsWith("---") || line.startsWith("+++") || line.startsWith("\\")) {
      continue;
    } else if (line.startsWith("-")) {
      dels.push({ no: oldNo++, text: line.slice(1) });
    } else if (line.startsWith("+")) {
      adds.push({ no: newNo++, text: line.slice(1) });
    } else if (line.startsWith(" ")) {
      flush();
      rows.push({ kind: "same", old: { no: oldNo++, text: line.slice(1) }, new: { no: newNo++, text: line.slice(1) } });
    }
  }
  flush();
  return rows;
}

function sideBySideDiff(text, from, to) {
  const cells = (side, cls) =>
    side ? [h("td", { class: `no ${cls}` }, String(side.no)), h("td", { class: `code ${cls}` }, side.text || " ")] : [h("td", { class: "no blank" }), h("td", { class: "code blank" })];
  const body = sideBySideRows(text).map((row) =>
    row.kind === "hunk"
      ? h("tr", { class: "hunk" }, h("td", { colspan: 4 }, row.text))
      : h("tr", {}, cells(row.old, row.kind === "change" ? "del" : ""), cells(row.new, row.kind === "change" ? "add" : "")),
  );
  return h(
    "div",
    { class: "scroll sbs-wrap" },
    h(
      "table",
      { class: "sbs", "aria-label": "Side-by-side diff" },
      h("colgroup", {}, h("col", { class: "no" }), h("col", {}), h("col", { class: "no" }), h("col", {})),
      h("thead", {}, h("tr", {}, h("th", { colspan: 2, class: "old" }, `v${from} (before)`), h("th", { colspan: 2, class: "new" }, `v${to} (after)`))),
      h("tbody", {}, body),
    ),
  );
}

// Both views are built; the toggle (kept for the tab's session) picks one, and a phone-width screen always shows the
// unified one (app.css), two columns of YAML being unreadable there.
const DIFF_VIEW = "wfa.diffView";

function renderDiff(d) {
  const view = h("div", { class: "diffview" });
  const buttons = [
    ["sbs", "Side by side"],
    ["unified", "Unified"],
  ].map(([mode, label]) => {
    const button = h("button", { type: "button", "data-mode": mode }, label);
    button.addEventListener("click", () => show(mode));
    return button;
  });
  function show(mode) {
    sessionStorage.setItem(DIFF_VIEW, mode);
    view.dataset.mode = mode;
    for (const button of buttons) button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
  }
  view.append(
    h("div", { class: "head" }, h("h3", {}, `v${d.from} → v${d.to}`), h("div", { class: "toggle", role: "group", "aria-label": "Diff view" }, buttons)),
    sideBySideDiff(d.text, d.from, d.to),
    unifiedDiff(d.text),
  );
  show(sessionStorage.getItem(DIFF_VIEW) === "unified" ? "unified" : "sbs");
  return view;
}

const BUCKETS = { "1h": 300e3, "24h": 3600e3, "7d": 6 * 3600e3, "30d": 86400e3 };

function bucketed(executions, window) {
  const since = windowStart(window).getTime();
  const size = BUCKETS[window];
  const n = Math.ceil((Date.now() - since) / size);
  const xs = Array.from({ length: n }, (_, i) => (since + i * size) / 1000);
  const counts = Object.fromEntries(["succeeded", "failed", "cancelled", "running"].map((s) => [s, new Array(n).fill(0)]));
  const durations = Array.from({ length: n }, () => []);
  for (const e of executions) {
    const i = Math.floor((Date.parse(e.createdAt) - since) / size);
    if (i < 0 || i >= n) continue;
    const key = ["queued", "pending"].includes(e.status) ? "running" : e.status;
    counts[key][i] += 1;
    if (e.durationMs != null && isFinal(e.status)) durations[i].push(e.durationMs);
  }
  const pct = (values, p) => {
    if (!values.length) return null;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
  };
  return { xs, counts, p50: durations.map((d) => pct(d, 0.5)), p95: durations.map((d) => pct(d, 0.95)) };
}

function tiles(stats) {
  const tile = (k, value) => h("div", { class: "tile" }, h("div", { class: "v" }, value), h("div", { class: "k" }, k));
  return h(
    "div",
    { class: "tiles" },
    tile("executions", String(stats.executions)),
    tile("succeeded", String(stats.byStatus.succeeded)),
    tile("failed", String(stats.byStatus.failed)),
    tile("failure rate", fmtPct(stats.errorRate)),
    tile("p50 duration", fmtDur(stats.durationMs.p50)),
    tile("p95 duration", fmtDur(stats.durationMs.p95)),
  );
}

function actionTable(actions, withWorkflow) {
  return table(
    [...(withWorkflow ? [["Workflow"]] : []), ["Action"], ["Type"], ["Runs", "num"], ["Error rate"], ["p50", "num"], ["p95", "num"]],
    actions.map((a) => [
      ...(withWorkflow ? [wfLink(a.workflowId)] : []),
      a.name,
      a.type,
      String(a.runs),
      h("span", {}, h("span", { class: "rate", style: `width:${Math.round((a.errorRate || 0) * 60)}px` }), fmtPct(a.errorRate)),
      fmtDur(a.durationMs.p50),
      fmtDur(a.durationMs.p95),
    ]),
  );
}

async function workflowPage(v, id, query) {
  const wid = encodeURIComponent(id);
  const window = BUCKETS[query.get("window")] ? query.get("window") : "24h";
  const head = h("div", { class: "head" }, h("h1", {}, id));
  const sections = {
    facts: h("div", { class: "card" }, h("p", { class: "muted" }, "Loading…")),
    stats: h("div", { class: "card" }),
    schedule: h("div", { class: "card" }),
    versions: h("div", { class: "card" }),
    definition: h("div", { class: "card" }),
    executions: h("div", { class: "card" }),
  };
  main.replaceChildren(
    head,
    h("div", { class: "grid" }, sections.facts, sections.schedule),
    sections.stats,
    sections.executions,
    sections.versions,
    sections.definition,
  );

  function drawHead(w) {
    head.replaceChildren(
      h("h1", {}, id, " ", stateBadges(w)),
      h("div", { class: "buttons" }, pauseResume(w, drawAll), writeButton("Trigger", async () => openTrigger(id), "primary")),
    );
    sections.facts.replaceChildren(
      h("h2", {}, "Workflow"),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Name"), h("dd", {}, w.name || "—"),
        h("dt", {}, "Trigger"), h("dd", {}, triggerText(w.trigger)),
        h("dt", {}, "Lock"), h("dd", {}, lockFacts(w)),
        h("dt", {}, "Next fire"), h("dd", {}, w.trigger.nextRunAt ? `${fmtTime(w.trigger.nextRunAt)} (${fmtRel(w.trigger.nextRunAt)})` : "—"),
        h("dt", {}, "Version"), h("dd", {}, String(w.version)),
        h("dt", {}, "Labels"), h("dd", {}, Object.entries(w.labels || {}).map(([k, val]) => h("span", { class: "label" }, `${k}=${val}`))),
        h("dt", {}, "Updated"), h("dd", {}, fmtTime(w.updatedAt)),
      ),
    );
    sections.definition.replaceChildren(h("h2", {}, "Definition"), h("pre", { "aria-label": "Definition as YAML" }, toYaml(w)));
  }
  function drawAll(w) {
    drawHead(w);
  }

  let workflow;
  try {
    workflow = await get(`/workflows/${wid}`);
  } catch (error) {
    main.replaceChildren(failed(`workflow ${id}`, error));
    return;
  }
  if (!v.alive) return;
  drawHead(workflow);

  const loaders = [
    (async () => {
      const s = await get(`/workflows/${wid}/schedule?count=5`);
      sections.schedule.replaceChildren(
        h("h2", {}, "Schedule"),
        s.next.length
          ? h("ol", { class: "mono" }, s.next.map((t) => h("li", {}, `${fmtTime(t)} (${fmtRel(t)})`)))
          : h("p", { class: "muted" }, "No upcoming fires (manual or paused)."),
        h("p", { class: "muted" }, `fired ${s.counters.fired} · skipped ${s.counters.skipped} · missed ${s.counters.missed}${s.timezone ? ` · ${s.timezone}` : ""}`),
        s.recent.length
          ? table([["Slot"], ["Outcome"], ["Execution"]], s.recent.slice(0, 10).map((r) => [fmtShort(r.slot), badge(r.outcome), r.executionId ? exLink(r.executionId) : "—"]))
          : "",
      );
    })().catch((e) => sections.schedule.replaceChildren(failed("the schedule", e))),
    (async () => {
      const page = await get(`/workflows/${wid}/versions?limit=50`);
      const diff = h("div", {});
      async function showDiff(version) {
        const d = await get(`/workflows/${wid}/versions/${version}/diff`);
        diff.replaceChildren(renderDiff(d));
      }
      sections.versions.replaceChildren(
        h("h2", {}, "Versions"),
        table(
          [["Version", "num"], ["Updated"], ["By"], ["Changes"], ["Diff"]],
          page.items.map((ver) => [
            `v${ver.version}`,
            fmtShort(ver.updatedAt),
            ver.changedBy || "—",
            (ver.changes || []).join(", ") || "—",
            ver.version > 1 ? h("button", { type: "button", onclick: () => showDiff(ver.version).catch((e) => toast(e.message)) }, `Diff v${ver.version - 1}→v${ver.version}`) : "created",
          ]),
        ),
        diff,
      );
      const latest = page.items[0];
      if (latest && latest.version > 1) await showDiff(latest.version);
    })().catch((e) => sections.versions.replaceChildren(failed("the versions", e))),
    (async () => {
      const [stats, page] = await Promise.all([get(`/workflows/${wid}/stats?window=${window}`), get(`/workflows/${wid}/executions?limit=500`)]);
      if (!v.alive) return;
      const windowSelect = h("select", { "aria-label": "Statistics window" }, Object.keys(BUCKETS).map((k) => h("option", { value: k, selected: k === window }, `last ${k}`)));
      windowSelect.addEventListener("change", () => (location.hash = `#/workflows/${wid}?window=${windowSelect.value}`));
      const series = bucketed(page.items, window);
      const byStatus = h("div", { class: "chart", "aria-label": "Executions by status over time" });
      const durations = h("div", { class: "chart", "aria-label": "p50 and p95 durations over time" });
      sections.stats.replaceChildren(
        h("div", { class: "head" }, h("h2", {}, "Statistics"), windowSelect),
        tiles(stats),
        h("div", { class: "grid" }, h("div", {}, h("h3", {}, "Executions by status"), byStatus), h("div", {}, h("h3", {}, "Duration p50 / p95"), durations)),
        h("h3", {}, "Actions"),
        stats.actions.length ? actionTable(stats.actions, false) : h("p", { class: "muted" }, "No action ran in this window."),
      );
      v.cleanups.push(barsChart(byStatus, series.xs, series.counts), linesChart(durations, series.xs, { p50: series.p50, p95: series.p95 }));
      sections.executions.replaceChildren(
        h("div", { class: "head" }, h("h2", {}, "Recent executions"), link(`#/executions?workflowId=${wid}`, "All executions →")),
        page.items.length
          ? table(EXECUTION_HEADERS.filter(([k]) => k !== "Workflow"), executionRows(page.items.slice(0, 10), false))
          : h("p", { class: "muted" }, "No executions yet."),
      );
    })().catch((e) => sections.stats.replaceChildren(failed("the statistics", e))),
  ];
  await Promise.all(loaders);
}

// --- overview -------------------------------------------------------------------------------------------------------

async function overview(v) {
  main.replaceChildren(h("h1", {}, "Overview"), h("p", { class: "muted" }, "Loading…"));
  let stats, executions, workflows;
  try {
    const since = windowStart("24h").toISOString();
    [stats, executions, workflows] = await Promise.all([
      get("/stats?window=24h"),
      get(`/executions?since=${encodeURIComponent(since)}&limit=500`),
      get("/workflows?limit=500"),
    ]);
  } catch (error) {
    main.replaceChildren(h("h1", {}, "Overview"), failed("the overview", error));
    return;
  }
  if (!v.alive) return;
  const byWorkflow = new Map();
  for (const e of executions.items) {
    if (e.durationMs == null || !isFinal(e.status)) continue;
    if (!byWorkflow.has(e.workflowId)) byWorkflow.set(e.workflowId, []);
    byWorkflow.get(e.workflowId).push(e.durationMs);
  }
  const slowest = [...byWorkflow]
    .map(([id, d]) => {
      d.sort((a, b) => a - b);
      return { id, runs: d.length, p50: d[Math.ceil(0.5 * d.length) - 1], p95: d[Math.ceil(0.95 * d.length) - 1] };
    })
    .sort((a, b) => b.p95 - a.p95)
    .slice(0, 8);
  const now = Date.now();
  const late = workflows.items.filter((w) => w.enabled && w.trigger.nextRunAt && Date.parse(w.trigger.nextRunAt) < now - 60e3);
  const held = workflows.items.filter((w) => w.trigger.status !== "idle");
  const series = bucketed(executions.items, "24h");
  const chart = h("div", { class: "chart", "aria-label": "Executions per hour by status" });
  main.replaceChildren(
    h("h1", {}, "Overview ", h("span", { class: "muted" }, "· last 24 h")),
    tiles(stats),
    h("div", { class: "card" }, h("h2", {}, "Executions per hour"), chart),
    h(
      "div",
      { class: "grid" },
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Slowest workflows"),
        slowest.length
          ? table([["Workflow"], ["Runs", "num"], ["p50", "num"], ["p95", "num"]], slowest.map((s) => [wfLink(s.id), String(s.runs), fmtDur(s.p50), fmtDur(s.p95)]))
          : h("p", { class: "muted" }, "No finished executions in the last 24 h."),
      ),
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Attention"),
        h("p", {}, link("#/executions?status=failed&window=24h", `${stats.byStatus.failed} failed`), " · ", link("#/executions?status=pending", `${stats.byStatus.pending} waiting to retry`), ` · ${workflows.items.filter((w) => !w.enabled).length} paused`),
        h("h3", {}, "Late fires"),
        late.length
          ? h("ul", {}, late.map((w) => h("li", {}, wfLink(w.workflowId), ` due ${fmtRel(w.trigger.nextRunAt)}`)))
          : h("p", { class: "muted" }, "None: every enabled schedule is on time."),
        h("h3", {}, "Locks held"),
        held.length
          ? h("ul", {}, held.map((w) => h("li", {}, wfLink(w.workflowId), ` ${w.trigger.status}`, w.trigger.executionId ? [" by ", exLink(w.trigger.executionId)] : "")))
          : h("p", { class: "muted" }, "None."),
      ),
    ),
    h("div", { class: "card" }, h("h2", {}, "Slowest actions"), stats.slowestActions.length ? actionTable(stats.slowestActions, true) : h("p", { class: "muted" }, "None.")),
  );
  v.cleanups.push(barsChart(chart, series.xs, series.counts));
}

// --- routing --------------------------------------------------------------------------------------------------------

const ROUTES = [
  [/^\/?$/, overview, "overview"],
  [/^\/workflows$/, workflowsPage, "workflows"],
  [/^\/workflows\/([^/]+)$/, workflowPage, "workflows"],
  [/^\/executions$/, executionsPage, "executions"],
  [/^\/executions\/([^/]+)$/, executionPage, "executions"],
];

async function route() {
  const [path, search = ""] = location.hash.replace(/^#/, "").split("?");
  const v = newView();
  for (const [pattern, page, nav] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const id = match[1] ? decodeURIComponent(match[1]) : undefined;
    document.title = `${id || nav} · wfa`;
    await page(v, id, new URLSearchParams(search));
    return;
  }
  main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, link("#/", "Back to the overview")));
}

document.getElementById("forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(ACCESS);
  location.reload();
});
window.addEventListener("hashchange", () => {
  route();
  main.focus({ preventScroll: true });
});
if (sessionStorage.getItem(ACCESS)) setAccess(sessionStorage.getItem(ACCESS));
probeAccess().then(route);
