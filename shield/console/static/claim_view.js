// What the claim view shows: the claim's fields, the member's plan and coverage, and the
// event history with each event's push deliveries.
import { definitions, el } from "./dom.js";
import { day, money, when, words } from "./format.js";

export function fieldsOf(claim, documentUrl) {
  const proof = claim.proofOfPayment;
  return definitions([
    ["Claim id", claim.claimId],
    ["Status", words(claim.status)],
    ["Ticket number", claim.ticketNumber],
    ["Amount", money(claim.amount)],
    ["Violation", words(claim.violationType)],
    ["City", claim.city],
    ["State", claim.state],
    ["Ticket date", day(claim.ticketDate)],
    ["Submitted", when(claim.submittedAt)],
    ["Updated", when(claim.updatedAt)],
    ["Estimated payout", money(claim.estimatedPayout)],
    ["Payout", money(claim.payoutAmount)],
    ["Deductible applied", money(claim.deductibleApplied)],
    ["Member co-pay", money(claim.memberCoPay)],
    ["Approved", when(claim.approvalTimestamp)],
    ["Paid", when(claim.payoutTimestamp)],
    ["Denial", claim.denialCode ? `${claim.denialCode} — ${claim.denialReason}` : null],
    ["Decision notes", claim.decisionNotes],
    ["Appealable", claim.appealable === null ? null : claim.appealable ? "yes, until " + when(claim.appealDeadline) : "no"],
    ["Proof requested", proof ? `${when(proof.requestedAt)} (due ${when(proof.dueBy)})` : null],
    ["Proof uploaded", proof ? when(proof.uploadedAt) : null],
    ["Document", documentUrl ? el("a", { href: documentUrl, rel: "noopener noreferrer", target: "_blank" }, "Open the member's document") : null],
    ["Member", el("button", { type: "button", class: "link", dataset: { member: claim.userId }, id: "claim-member" }, claim.userId)],
  ]);
}

export function planOf(sub) {
  if (!sub) return definitions([["Subscription", "none"]]);
  const c = sub.coverage || {};
  return definitions([
    ["Plan", sub.planId],
    ["Status", words(sub.status)],
    ["Billing", sub.billingPeriod],
    ["Annual cap", money(c.annualCap)],
    ["Coverage used", money(c.usedAmount)],
    ["Coverage remaining", money(c.remainingAmount)],
    ["Tickets", `${c.ticketsUsed} of ${c.maxTickets}`],
    ["Period", `${day(c.periodStart)} – ${day(c.periodEnd)}`],
  ]);
}

function attemptText(a) {
  return `${when(a.attemptedAt)}: ${a.outcome}${a.httpStatus ? " HTTP " + a.httpStatus : ""}${a.errorCode ? " " + a.errorCode : ""}`;
}

export function historyItem(event, deliveries) {
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
    ` #${event.seq} at ${when(event.timestamp)} (push: ${event.pushState})`,
    items.length ? el("ul", {}, items) : null,
  );
}
