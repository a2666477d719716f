// Alerts: admin_action_required (claim reviews, fraud alerts, overdue proofs), highest
// priority first, each linked to its claim or member; fed live by the event feed.
import { $, el, fill } from "./dom.js";
import { when, words } from "./format.js";

const PRIORITY = { high: 0, medium: 1, low: 2 };
const alerts = [];
let links = { claim: () => {}, member: () => {} };

export function initAlerts(openClaim, openMember) {
  links = { claim: openClaim, member: openMember };
}

export function addAlert(event) {
  alerts.push(event);
  render();
}

export function sortAlerts(list) {
  return [...list].sort(
    (a, b) => (PRIORITY[a.data.priority] ?? 3) - (PRIORITY[b.data.priority] ?? 3) || b.seq - a.seq,
  );
}

function item(event) {
  const d = event.data;
  return el(
    "li",
    { class: "alert " + (d.priority || "low"), dataset: { type: d.type, priority: d.priority } },
    el("strong", {}, `${(d.priority || "?").toUpperCase()} · ${words(d.type)}`),
    ` ${d.message} (${when(event.timestamp)}) `,
    d.claimId ? el("button", { type: "button", class: "link", onclick: () => links.claim(d.claimId) }, "Open claim") : null,
    d.userId ? el("button", { type: "button", class: "link", onclick: () => links.member(d.userId) }, "Open member") : null,
  );
}

function render() {
  $("alert-count").textContent = String(alerts.length);
  fill($("alert-list"), alerts.length ? sortAlerts(alerts).map(item) : el("li", {}, "No alerts."));
}
