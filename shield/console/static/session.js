// The admin token: read once from the #token= fragment (then removed from the address bar),
// kept in sessionStorage for this tab only.
const KEY = "shield.adminToken";

export function takeTokenFromFragment() {
  const hash = window.location.hash || "";
  const match = hash.match(/^#token=([^&]+)/);
  if (!match) return null;
  const token = decodeURIComponent(match[1]);
  history.replaceState(null, "", window.location.pathname + window.location.search);
  setToken(token);
  return token;
}

export function getToken() {
  return sessionStorage.getItem(KEY) || "";
}

export function setToken(token) {
  sessionStorage.setItem(KEY, token.trim());
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}

// The subject of the token, for the header line (not verified here: the server does that).
export function tokenSubject(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).sub || "";
  } catch (_) {
    return "";
  }
}
