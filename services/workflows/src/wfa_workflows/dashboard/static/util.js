// Small helpers of the dashboard: DOM building (text only, never HTML), formatting, a YAML printer.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "style") el.setAttribute("style", value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  const add = (child) => {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(add);
    else el.append(child instanceof Node ? child : String(child));
  };
  children.forEach(add);
  return el;
}

const pad = (n) => String(n).padStart(2, "0");

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// In tables: the time alone when it is today, the full date and time (as a tooltip) otherwise.
export function fmtShort(iso) {
  if (!iso) return "—";
  const full = fmtTime(iso);
  const today = fmtTime(new Date().toISOString()).slice(0, 10);
  return h("time", { datetime: iso, title: full }, full.startsWith(today) ? full.slice(11) : full.slice(5, 16));
}

export function fmtDur(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60e3) return `${(ms / 1000).toFixed(ms < 10e3 ? 2 : 1)} s`;
  const seconds = Math.round(ms / 1000); // rounded once, so that no part reads 60
  if (seconds < 3600) return `${Math.floor(seconds / 60)} m ${seconds % 60} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 1440) return `${Math.floor(minutes / 60)} h ${minutes % 60} m`;
  return `${Math.floor(minutes / 1440)} d ${Math.floor((minutes % 1440) / 60)} h`;
}

export function fmtRel(iso) {
  const delta = Date.parse(iso) - Date.now();
  const text = fmtDur(Math.abs(delta)).replace(/ ms$/, " ms");
  return Math.abs(delta) < 1000 ? "now" : delta > 0 ? `in ${text}` : `${text} ago`;
}

export const fmtPct = (rate) => (rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(rate < 0.1 && rate > 0 ? 1 : 0)} %`);

export const json = (value) => JSON.stringify(value, null, 2);

export const isFinal = (status) => ["succeeded", "failed", "cancelled"].includes(status);

export const badge = (status) => h("span", { class: `badge s-${status}` }, status.replace("_", " "));

// A YAML rendering of JSON data, for reading (null fields, unset in a definition, are left out): strings that
// could read as another type or hold YAML syntax are quoted as JSON, which YAML reads as it is.
const PLAIN = /^[\w/.][\w ./@()+:*,=-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~|[-+]?(\d[\d_]*)?\.?\d*(e[-+]?\d+)?|\.inf|\.nan)$/i;

function scalar(value) {
  if (typeof value !== "string") return value === null ? "null" : String(value);
  const plain = PLAIN.test(value) && !RESERVED.test(value) && !/: |:$| #|^- | $/.test(value);
  return plain ? value : JSON.stringify(value);
}

function node(value, indent) {
  if (Array.isArray(value)) {
    if (!value.length) return " []";
    return value.map((item) => `\n${indent}- ${node(item, `${indent}  `).replace(/^\s+/, "")}`).join("");
  }
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).filter((k) => value[k] !== null);
    if (!keys.length) return " {}";
    return keys.map((k) => `\n${indent}${scalar(k)}:${node(value[k], `${indent}  `)}`).join("");
  }
  return ` ${scalar(value)}`;
}

export const toYaml = (value) => node(value, "").replace(/^\n/, "") + "\n";
