// How values read on the page: money, times in the browser's locale, codes as words.
export function money(value) {
  return value === null || value === undefined ? null : "$" + value;
}

// An ISO instant as local date and time ("12/3/2026, 1:10:58 PM"); null stays null.
export function when(iso) {
  if (!iso) return null;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

// An ISO instant or date as a local date only.
export function day(iso) {
  if (!iso) return null;
  const date = new Date(iso.length === 10 ? iso + "T00:00:00" : iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleDateString();
}

// street_cleaning -> "street cleaning", under_review -> "under review".
export function words(code) {
  return code ? String(code).replaceAll("_", " ") : code;
}
