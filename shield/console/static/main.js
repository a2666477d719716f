// Start-up: sign in (fragment, sessionStorage or the form), then the queue, the live feed,
// alerts and the member view.
import { ApiError, get } from "./api.js";
import { addAlert, initAlerts } from "./alerts.js";
import { currentClaimId, initClaim, loadClaim } from "./claim.js";
import { $, say } from "./dom.js";
import { initMember, openMember } from "./member.js";
import { startLive } from "./live.js";
import { claimArrived, initQueue, refreshQueue } from "./queue.js";
import { clearToken, getToken, setToken, takeTokenFromFragment, tokenSubject } from "./session.js";

let stopLive = null;

function showView(name) {
  for (const view of ["queue", "claim", "alerts", "member"]) {
    $("view-" + view).hidden = view !== name;
  }
  for (const button of document.querySelectorAll("nav [data-view]")) {
    button.setAttribute("aria-pressed", String(button.dataset.view === name));
  }
}

async function openClaim(claimId) {
  showView("claim");
  await loadClaim(claimId);
  $("claim-title").focus();
}

async function showMember(memberId) {
  showView("member");
  await openMember(memberId);
}

function signedOut(message) {
  if (stopLive) stopLive();
  stopLive = null;
  clearToken();
  $("app").hidden = true;
  $("login").hidden = false;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  say($("login-message"), message, message ? "error" : "info");
}

function onEvents(events, { catchingUp } = {}) {
  let queueChanged = false;
  for (const event of events) {
    if (event.event === "admin_action_required") addAlert(event);
    if (event.event === "admin_claim_submitted" && !catchingUp) claimArrived(event.data);
    const claimId = event.data && event.data.claimId;
    if (claimId && claimId === currentClaimId() && !$("view-claim").hidden) loadClaim(claimId, { keepMessage: true });
    if (event.event === "admin_claim_submitted" || claimId) queueChanged = true;
  }
  if (queueChanged) refreshQueue().catch(() => {});
}

// The events since the last seq are gone (retention, a reset): what is shown is refetched.
function onReset() {
  refreshQueue().catch(() => {});
  const claimId = currentClaimId();
  if (claimId && !$("view-claim").hidden) loadClaim(claimId, { keepMessage: true }).catch(() => {});
}

function liveStatus(text, kind, transport) {
  say($("live-status"), text, kind);
  $("live-status").dataset.transport = transport;
}

async function signIn() {
  try {
    await get("/admin/claims/counts");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      return signedOut("That token is expired or not valid. Paste a fresh admin token.");
    }
    if (error instanceof ApiError && error.status === 403) {
      return signedOut("That is a member token. The console needs an admin token.");
    }
    return signedOut("The server could not be reached: " + error.message);
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = "Signed in as " + (tokenSubject(getToken()) || "admin");
  say($("login-message"), "");
  await initClaim(() => refreshQueue().catch(() => {}));
  await refreshQueue();
  showView("queue");
  stopLive = startLive({
    token: getToken(),
    onEvents,
    onReset,
    onStatus: liveStatus,
    onAuthLost: () => signedOut("Your token expired or was refused: paste a fresh admin token."),
  });
}

function wire() {
  initQueue(openClaim);
  initAlerts(openClaim, showMember);
  initMember();
  for (const button of document.querySelectorAll("nav [data-view]")) {
    button.addEventListener("click", () => showView(button.dataset.view));
  }
  $("back-to-queue").addEventListener("click", () => showView("queue"));
  $("claim-fields").addEventListener("click", (e) => {
    const target = e.target.closest("[data-member]");
    if (target) showMember(target.dataset.member);
  });
  $("sign-out").addEventListener("click", () => signedOut(""));
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setToken($("token-input").value);
    $("token-input").value = "";
    signIn();
  });
  $("claim-title").setAttribute("tabindex", "-1");
}

wire();
takeTokenFromFragment();
if (getToken()) signIn();
