// Tiny DOM helpers. Elements are built with createElement and text nodes
// only: no string from the server is ever parsed as markup.

/** Creates <tag> with attributes (className, dataset object, hidden, or plain attributes) and children (nodes or text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'className') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'hidden') el.hidden = true;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Sets textContent only when it changes (keeps screen readers and layout quiet). */
export function setText(el, text) {
  const value = String(text);
  if (el && el.textContent !== value) el.textContent = value;
}

/** Shows or hides an element with the hidden attribute. */
export function show(el, visible) {
  if (el && el.hidden === Boolean(visible)) el.hidden = !visible;
}

/** document.getElementById that fails loudly when the page and script disagree. */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`catqms: element #${id} is missing from the page`);
  return el;
}

/**
 * Puts the words of translator `t` into every element under `root` that
 * names a key: data-i18n="key" sets the text, data-i18n-attr="attr:key …"
 * sets attributes (content, aria-label, alt).
 */
export function translate(root, t) {
  for (const el of root.querySelectorAll('[data-i18n]')) setText(el, t(el.dataset.i18n));
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(' ')) {
      const [attr, key] = pair.split(':');
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}
