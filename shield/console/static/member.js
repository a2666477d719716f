// A member: subscription (plan and status changes), wallet statement, withdrawals (manual
// complete / fail), devices and the pushes sent to them (tokens masked by the API).
import { ApiError, get } from "./api.js";
import { describe, runAction } from "./action.js";
import { $, definitions, el, fill, say } from "./dom.js";
import { day, money, when, words } from "./format.js";

let member = null;

export function initMember() {
  $("member-form").addEventListener("submit", (e) => {
    e.preventDefault();
    openMember($("member-input").value.trim());
  });
  const change = (form, suffix, body) =>
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!member) return;
      runAction(form.querySelector("button"), `/admin/members/${encodeURIComponent(member)}/subscription/${suffix}`, body(), {
        onDone: async () => { say($("member-message"), "Subscription changed.", "ok"); await loadMember(); },
        onError: async (error) => { say($("member-message"), describe(error), "error"); await loadMember(); },
      });
    });
  change($("plan-form"), "plan", () => ({ planId: $("plan-select").value }));
  change($("status-form"), "status", () => ({ status: $("status-select").value }));
}

export async function openMember(memberId) {
  member = memberId;
  $("member-input").value = memberId;
  say($("member-message"), "");
  await loadMember();
}

function withdrawalRow(w) {
  const action = (label, suffix) =>
    el("button", {
      type: "button",
      onclick: (e) =>
        runAction(e.currentTarget, `/admin/withdrawals/${w.withdrawalId}/${suffix}`, {}, {
          onDone: async () => { say($("member-message"), `Withdrawal ${label.toLowerCase()}d.`, "ok"); await loadMember(); },
          onError: async (error) => { say($("member-message"), describe(error), "error"); await loadMember(); },
        }),
    }, label);
  const open = w.status === "pending" || w.status === "processing";
  return el(
    "tr",
    {},
    el("td", {}, w.withdrawalId),
    el("td", {}, money(w.amount)),
    el("td", {}, w.status),
    el("td", {}, open ? [action("Complete", "complete"), " ", action("Fail", "fail")] : "—"),
  );
}

async function loadMember() {
  const id = encodeURIComponent(member);
  let sub = null;
  try {
    sub = await get(`/admin/members/${id}/subscription`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  fill(
    $("member-subscription"),
    sub
      ? definitions([
          ["Plan", sub.planId],
          ["Status", words(sub.status)],
          ["Billing", sub.billingPeriod],
          ["Next renewal", day(sub.nextRenewalDate)],
          ["Coverage remaining", sub.coverage ? money(sub.coverage.remainingAmount) : null],
        ])
      : definitions([["Subscription", "none"]]),
  );
  if (sub) {
    $("plan-select").value = sub.planId;
    $("status-select").value = sub.status;
  }
  const withdrawals = (await get(`/admin/withdrawals?userId=${id}&limit=200`)).withdrawals;
  fill($("member-withdrawals"), withdrawals.length ? withdrawals.map(withdrawalRow) : el("tr", {}, el("td", { colspan: "4" }, "No withdrawals.")));
  const [wallet, statement, devices] = await Promise.all([
    get(`/admin/members/${id}/wallet`),
    get(`/admin/members/${id}/wallet/transactions?limit=50`),
    get(`/admin/members/${id}/devices`),
  ]);
  $("member-balance").textContent =
    `Balance $${wallet.balance}, pending withdrawals $${wallet.pendingWithdrawalAmount}`;
  fill(
    $("member-transactions"),
    statement.transactions.length
      ? statement.transactions.map((t) =>
          el("tr", {}, el("td", {}, when(t.createdAt)), el("td", {}, words(t.type)), el("td", {}, money(t.amount)), el("td", {}, t.description)),
        )
      : el("tr", {}, el("td", { colspan: "4" }, "No transactions.")),
  );
  fill(
    $("member-devices"),
    devices.devices.length
      ? devices.devices.map((d) =>
          el("li", {}, `${d.platform} device ending …${d.tokenSuffix} (${d.active ? "active" : "inactive"}, last seen ${when(d.lastSeenAt)})`),
        )
      : el("li", {}, "No devices."),
  );
  const deliveries = (await get(`/admin/push/deliveries?userId=${id}&limit=50`)).deliveries;
  fill(
    $("member-deliveries"),
    deliveries.length
      ? deliveries.map((d) => el("li", {}, `${d.event} → ${d.platform} device ${d.token} (${d.deviceActive ? "active" : "inactive"}): ${d.status}`))
      : el("li", {}, "No pushes."),
  );
}
