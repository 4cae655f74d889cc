// Small DOM helpers and the shared pieces of UI (images, captions, avatars, photo cards).
// Everything is built with DOM calls, never innerHTML, so user text can't become markup.

import { enc } from "./api.js";

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

export function append(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export function plural(count, one, many = `${one}s`) {
  const n = Number(count) || 0;
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

export function timeAgo(iso) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const seconds = Math.max(0, (Date.now() - then) / 1000);
  if (seconds < 60) return "just now";
  const units = [["y", 31536000], ["w", 604800], ["d", 86400], ["h", 3600], ["m", 60]];
  for (const [unit, size] of units) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${unit}`;
  }
  return "";
}

export function timeEl(iso) {
  const date = new Date(iso);
  return h("time", { datetime: iso, title: Number.isNaN(date.getTime()) ? "" : date.toLocaleString() },
    timeAgo(iso));
}

// --- images -------------------------------------------------------------------------

/** A photo at its own aspect ratio: srcset over medium (640w) and large (1080w). */
export function photoImage(photo, { sizes = "(max-width: 640px) 100vw, 614px", eager = false, alt } = {}) {
  const urls = photo.urls || {};
  const width = Number(photo.width) || 1080;
  const height = Number(photo.height) || 1080;
  const srcset = [["medium", 640], ["large", 1080]]
    .filter(([name]) => urls[name]).map(([name, w]) => `${urls[name]} ${w}w`).join(", ");
  const img = h("img", {
    class: "photo-img",
    src: urls.medium || urls.large || urls.square,
    srcset: srcset || undefined,
    sizes: srcset ? sizes : undefined,
    width, height,
    loading: eager ? "eager" : "lazy",
    decoding: "async",
    alt: alt ?? photoAlt(photo),
  });
  img.style.aspectRatio = `${width} / ${height}`;
  watchImage(img);
  return img;
}

/** A square thumbnail for grids: srcset over square (320w), medium (640w), large (1080w),
 *  all shown as a centred square crop (object-fit: cover). */
export function squareImage(photo, { sizes = "(max-width: 640px) 33vw, 300px" } = {}) {
  const urls = photo.urls || {};
  const srcset = [["square", 320], ["medium", 640], ["large", 1080]]
    .filter(([name]) => urls[name]).map(([name, w]) => `${urls[name]} ${w}w`).join(", ");
  const img = h("img", {
    class: "square-img",
    src: urls.square || urls.medium || urls.large,
    srcset: srcset || undefined,
    sizes: srcset ? sizes : undefined,
    width: 320, height: 320,
    loading: "lazy",
    decoding: "async",
    alt: photoAlt(photo),
  });
  watchImage(img);
  return img;
}

function watchImage(img) {
  img.addEventListener("error", () => img.classList.add("broken"), { once: true });
}

export function photoAlt(photo) {
  const who = (photo.owner && (photo.owner.display_name || photo.owner.username)) || "someone";
  const caption = (photo.caption || "").trim();
  return caption ? `Photo by ${who}: ${caption.slice(0, 120)}` : `Photo by ${who}`;
}

export function avatar(user, size = 32) {
  const name = (user && (user.display_name || user.username)) || "?";
  if (user && user.avatar_url) {
    return h("img", { class: "avatar", src: user.avatar_url, width: size, height: size,
      alt: "", loading: "lazy", decoding: "async" });
  }
  const initials = name.trim().split(/\s+/).slice(0, 2).map((w) => w[0]).join("").toUpperCase();
  const node = h("span", { class: "avatar avatar-initials", "aria-hidden": "true" }, initials || "?");
  node.style.width = node.style.height = `${size}px`;
  node.style.fontSize = `${Math.round(size * 0.4)}px`;
  return node;
}

export function userLink(user, { withAvatar = true, size = 32 } = {}) {
  if (!user || !user.username) return h("span", { class: "user-link" }, "someone");
  return h("a", { class: "user-link", href: `#/u/${enc(user.username)}` },
    withAvatar ? avatar(user, size) : null,
    h("span", { class: "username" }, user.username));
}

// --- captions -----------------------------------------------------------------------

const TOKEN = /(#[\p{L}\p{N}_]+)|(@[A-Za-z0-9_.]*[A-Za-z0-9_])/gu;

/** Caption text with #hashtags linking to photo search and @names linking to profiles. */
export function captionNodes(text) {
  const nodes = [];
  let last = 0;
  for (const match of (text || "").matchAll(TOKEN)) {
    if (match.index > last) nodes.push(text.slice(last, match.index));
    const token = match[0];
    if (match[1]) {
      nodes.push(h("a", { class: "hashtag", href: `#/search?q=${enc(token)}` }, token));
    } else {
      nodes.push(h("a", { class: "mention", href: `#/u/${enc(token.slice(1))}` }, token));
    }
    last = match.index + token.length;
  }
  if (last < (text || "").length) nodes.push(text.slice(last));
  return nodes;
}

// --- messages -----------------------------------------------------------------------

let toastTimer;
/** A short message in the live region at the bottom (errors are announced assertively). */
export function toast(message, { error = false } = {}) {
  const region = document.getElementById(error ? "alerts" : "status");
  const other = document.getElementById(error ? "status" : "alerts");
  clear(other);
  clear(region).append(h("div", { class: `toast${error ? " toast-error" : ""}` }, message));
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { clear(region); }, error ? 8000 : 4000);
}

export function errorBox(message) {
  return h("p", { class: "form-error", role: "alert" }, message);
}
