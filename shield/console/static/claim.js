// One claim: loading it, and the decision buttons. Only the actions the claim's status
// allows are enabled, with the next steps in words; a refusal (another admin was first) is
// shown in words and the claim reloaded.
import { ApiError, get } from "./api.js";
import { describe, runAction } from "./action.js";
import { fieldsOf, historyItem, planOf } from "./claim_view.js";
import { $, el, fill, say } from "./dom.js";
import { words } from "./format.js";

// What each status allows (models/claim.py TRANSITIONS; proof is asked after payment).
const NEXT = {
  submitted: ["act-review", "act-approve", "act-deny"],
  under_review: ["act-approve", "act-deny"],
  approved: ["act-pay"],
  paid: ["act-proof"],
  denied: [],
};
const HINT = {
  submitted: "Next: Start review, or decide now with Approve or Deny.",
  under_review: "Next: Approve or Deny.",
  approved: "Next: Pay (credits the payout to the member's wallet).",
  paid: "Paid. You may request proof of payment from the member.",
  denied: "Denied: nothing more to do here.",
};
const BUTTONS = ["act-review", "act-approve", "act-pay", "act-deny", "act-proof"];

let current = null;
let shownStatus = null;
let denialCodes = [];
let onChanged = () => {};

export function currentClaimId() {
  return current;
}

function applyStatus(status) {
  shownStatus = status;
  const allowed = NEXT[status] || [];
  for (const id of BUTTONS) $(id).disabled = !allowed.includes(id);
  $("claim-next").textContent = HINT[status] || "";
}

function firstAction() {
  const id = BUTTONS.find((b) => !$(b).disabled);
  if (id === "act-deny") return $("deny-code");
  if (id === "act-proof") return $("proof-message");
  return id ? $(id) : $("claim-title");
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

  const act = async (button, suffix, body) => {
    const focused = document.activeElement === button || button.contains(document.activeElement);
    await runAction(button, `/admin/claims/${current}/${suffix}`, body(), {
      onDone: async (claim) => {
        say($("action-message"), `Done: claim ${claim.ticketNumber} is now ${words(claim.status)}.`, "ok");
        await loadClaim(current, { keepMessage: true });
        onChanged();
      },
      onError: async (error) => {
        say($("action-message"), describe(error), "error");
        await loadClaim(current, { keepMessage: true });
        onChanged();
      },
    });
    applyStatus(shownStatus); // runAction re-enabled the button it used
    // A keyboard user whose button is now disabled goes on from the next allowed action.
    const lost = document.activeElement === button || document.activeElement === document.body;
    if (focused && button.disabled && lost) firstAction().focus();
  };

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

async function deliveriesOf(event) {
  if (event.pushState === "none") return [];
  try {
    return (await get(`/admin/events/${event.id}/deliveries`)).deliveries;
  } catch (_) {
    return [];
  }
}

export async function loadClaim(claimId, { keepMessage = false } = {}) {
  if (claimId !== current) shownStatus = null;
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
  $("claim-title").textContent = `Claim ${claim.ticketNumber} (${words(claim.status)})`;
  $("view-claim").dataset.status = claim.status;
  applyStatus(claim.status);
  fill($("claim-fields"), fieldsOf(claim, history.documentUrl));
  fill($("claim-plan"), planOf(sub));
  const deliveries = await Promise.all(history.events.map(deliveriesOf));
  fill($("claim-history"), history.events.map((e, i) => historyItem(e, deliveries[i])));
  return claim;
}
