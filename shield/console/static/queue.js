// The review queue: counts per status, search, claims submitted first and oldest first.
import { get } from "./api.js";
import { $, el, fill } from "./dom.js";

export const STATUS_ORDER = ["submitted", "under_review", "approved", "paid", "denied"];

const state = { status: null, q: "" };
let openClaim = () => {};

export function initQueue(onOpenClaim) {
  openClaim = onOpenClaim;
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = $("search-input").value.trim();
    refreshQueue();
  });
}

function rank(claim) {
  return STATUS_ORDER.indexOf(claim.status) * 1e15 + Date.parse(claim.submittedAt);
}

export function sortQueue(claims) {
  return [...claims].sort((a, b) => rank(a) - rank(b));
}

function countButton(status, count) {
  const label = status === null ? "all" : status;
  return el(
    "button",
    {
      type: "button",
      "aria-pressed": String(state.status === status),
      dataset: { status: label },
      onclick: () => {
        state.status = status;
        refreshQueue();
      },
    },
    `${label.replace("_", " ")}: `,
    el("span", { class: "count" }, count),
  );
}

function row(claim) {
  return el(
    "tr",
    { dataset: { claimId: claim.claimId, status: claim.status } },
    el("td", {}, el("button", { type: "button", class: "link", onclick: () => openClaim(claim.claimId) }, claim.ticketNumber)),
    el("td", {}, claim.userId),
    el("td", {}, "$" + claim.amount),
    el("td", {}, el("span", { class: "status " + claim.status }, claim.status.replace("_", " "))),
    el("td", {}, new Date(claim.submittedAt).toLocaleString()),
  );
}

export async function refreshQueue() {
  const params = new URLSearchParams({ limit: "200" });
  if (state.status) params.set("status", state.status);
  if (state.q) params.set("q", state.q);
  const [counts, list] = await Promise.all([
    get("/admin/claims/counts"),
    get("/admin/claims?" + params.toString()),
  ]);
  fill(
    $("counts"),
    countButton(null, counts.total),
    STATUS_ORDER.map((s) => countButton(s, counts.counts[s] ?? 0)),
  );
  const claims = sortQueue(list.claims);
  fill($("queue-body"), claims.length ? claims.map(row) : el("tr", {}, el("td", { colspan: "5" }, "No claims.")));
  $("queue-caption").textContent =
    `Claims${state.status ? " " + state.status.replace("_", " ") : ""}${state.q ? ` matching “${state.q}”` : ""}: ${claims.length}`;
}
