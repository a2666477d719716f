// The review queue: counts per status, search, claims submitted first and oldest first.
import { get } from "./api.js";
import { $, el, fill } from "./dom.js";

export const STATUS_ORDER = ["submitted", "under_review", "approved", "paid", "denied"];

const state = { status: null, q: "" };
const arrived = new Set(); // claims that came in while the page was open, until opened
let openClaim = () => {};

export function initQueue(onOpenClaim) {
  openClaim = (claimId) => {
    arrived.delete(claimId);
    return onOpenClaim(claimId);
  };
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = $("search-input").value.trim();
    refreshQueue();
  });
}

// A claim submitted while the page is open: marked new in the list and announced.
export function claimArrived(data) {
  arrived.add(data.claimId);
  $("queue-news").textContent =
    `New claim ${data.ticketNumber} (${"$" + data.amount}) from ${data.userId}, ${new Date().toLocaleTimeString()}.`;
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
    { class: arrived.has(claim.claimId) ? "new" : null, dataset: { claimId: claim.claimId, status: claim.status } },
    el(
      "td",
      {},
      el("button", { type: "button", class: "link", onclick: () => openClaim(claim.claimId) }, claim.ticketNumber),
      arrived.has(claim.claimId) ? el("span", { class: "badge" }, "new") : null,
    ),
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
