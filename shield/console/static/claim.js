// One claim: its fields, document link, the member's plan and coverage, its event history
// with push deliveries, and the decision buttons.
import { ApiError, get } from "./api.js";
import { describe, runAction } from "./action.js";
import { $, definitions, el, fill, say } from "./dom.js";

let current = null;
let denialCodes = [];
let onChanged = () => {};

export function currentClaimId() {
  return current;
}

export async function initClaim(changed) {
  onChanged = changed;
  denialCodes = (await get("/admin/denial-codes")).denialCodes;
  fill(
    $("deny-code"),
    denialCodes.map((d) => el("option", { value: d.code }, `${d.code} — ${d.reason}`)),
  );
  const help = () => {
    const d = denialCodes.find((c) => c.code === $("deny-code").value);
    $("deny-code-help").textContent = d
      ? `${d.reason}. ${d.appealable ? "Appealable: the member may appeal for 30 days." : "Not appealable."}`
      : "";
  };
  $("deny-code").addEventListener("change", help);
  help();

  const act = (button, suffix, body) =>
    runAction(button, `/admin/claims/${current}/${suffix}`, body(), {
      onDone: async (claim) => {
        say($("action-message"), `Done: claim ${claim.ticketNumber} is now ${claim.status.replace("_", " ")}.`, "ok");
        await loadClaim(current, { keepMessage: true });
        onChanged();
      },
      onError: async (error) => {
        say($("action-message"), describe(error), "error");
        await loadClaim(current, { keepMessage: true });
        onChanged();
      },
    });

  $("act-review").addEventListener("click", (e) => act(e.currentTarget, "review", () => ({})));
  $("act-approve").addEventListener("click", (e) => act(e.currentTarget, "approve", () => ({})));
  $("act-pay").addEventListener("click", (e) => act(e.currentTarget, "pay", () => ({})));
  $("deny-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act($("act-deny"), "deny", () => ({
      denialCode: $("deny-code").value,
      decisionNotes: $("deny-notes").value || null,
    }));
  });
  $("proof-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act($("act-proof"), "proof-request", () => ({ message: $("proof-message").value || null }));
  });
}

function money(value) {
  return value === null || value === undefined ? null : "$" + value;
}

function fieldsOf(claim, documentUrl) {
  const proof = claim.proofOfPayment;
  return definitions([
    ["Claim id", claim.claimId],
    ["Status", claim.status.replace("_", " ")],
    ["Ticket number", claim.ticketNumber],
    ["Amount", money(claim.amount)],
    ["Violation", claim.violationType],
    ["City", claim.city],
    ["State", claim.state],
    ["Ticket date", claim.ticketDate],
    ["Submitted", claim.submittedAt],
    ["Updated", claim.updatedAt],
    ["Estimated payout", money(claim.estimatedPayout)],
    ["Payout", money(claim.payoutAmount)],
    ["Deductible applied", money(claim.deductibleApplied)],
    ["Member co-pay", money(claim.memberCoPay)],
    ["Approved", claim.approvalTimestamp],
    ["Paid", claim.payoutTimestamp],
    ["Denial", claim.denialCode ? `${claim.denialCode} — ${claim.denialReason}` : null],
    ["Decision notes", claim.decisionNotes],
    ["Appealable", claim.appealable === null ? null : claim.appealable ? "yes, until " + claim.appealDeadline : "no"],
    ["Proof requested", proof ? `${proof.requestedAt} (due ${proof.dueBy})` : null],
    ["Proof uploaded", proof ? proof.uploadedAt : null],
    ["Document", documentUrl ? el("a", { href: documentUrl, rel: "noopener noreferrer", target: "_blank" }, "Open the member's document") : null],
    ["Member", el("button", { type: "button", class: "link", dataset: { member: claim.userId }, id: "claim-member" }, claim.userId)],
  ]);
}

function planOf(sub) {
  if (!sub) return definitions([["Subscription", "none"]]);
  const c = sub.coverage || {};
  return definitions([
    ["Plan", sub.planId],
    ["Status", sub.status],
    ["Billing", sub.billingPeriod],
    ["Coverage used", money(c.usedAmount)],
    ["Coverage remaining", money(c.remainingAmount)],
    ["Tickets", `${c.ticketsUsed} of ${c.maxTickets}`],
    ["Period", `${c.periodStart} – ${c.periodEnd}`],
  ]);
}

function attemptText(a) {
  return `${a.attemptedAt}: ${a.outcome}${a.httpStatus ? " HTTP " + a.httpStatus : ""}${a.errorCode ? " " + a.errorCode : ""}`;
}

function historyItem(event, deliveries) {
  const items = (deliveries || []).map((d) =>
    el(
      "li",
      {},
      `push ${d.platform} ${d.token} round ${d.round}: ${d.status}, ${d.attempts} attempt(s)`,
      el("ul", {}, (d.attemptLog || []).map((a) => el("li", {}, attemptText(a)))),
    ),
  );
  return el(
    "li",
    {},
    el("strong", {}, event.event),
    ` #${event.seq} at ${event.timestamp} (push: ${event.pushState})`,
    items.length ? el("ul", {}, items) : null,
  );
}

async function deliveriesOf(event) {
  if (event.pushState === "none") return [];
  try {
    return (await get(`/admin/events/${event.id}/deliveries`)).deliveries;
  } catch (_) {
    return [];
  }
}

export async function loadClaim(claimId, { keepMessage = false } = {}) {
  current = claimId;
  if (!keepMessage) say($("action-message"), "");
  const claim = await get(`/admin/claims/${claimId}`);
  const history = await get(`/admin/claims/${claimId}/history`);
  let sub = null;
  try {
    sub = await get(`/admin/members/${encodeURIComponent(claim.userId)}/subscription`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  $("claim-title").textContent = `Claim ${claim.ticketNumber} (${claim.status.replace("_", " ")})`;
  $("view-claim").dataset.status = claim.status;
  fill($("claim-fields"), fieldsOf(claim, history.documentUrl));
  fill($("claim-plan"), planOf(sub));
  const deliveries = await Promise.all(history.events.map(deliveriesOf));
  fill($("claim-history"), history.events.map((e, i) => historyItem(e, deliveries[i])));
  return claim;
}
