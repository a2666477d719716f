// Small DOM helpers: elements are built with text, never with HTML strings.
export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "onclick") node.addEventListener("click", value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

export function definitions(pairs) {
  return pairs.flatMap(([term, value]) => [
    el("dt", {}, term),
    el("dd", {}, value === null || value === undefined || value === "" ? "—" : value),
  ]);
}

export function say(node, text, kind = "info") {
  node.textContent = text;
  node.dataset.kind = kind;
}
