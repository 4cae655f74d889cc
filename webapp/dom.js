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

// Instagram's rule for feed photos: no taller than 4:5, no wider than 1.91:1 (width / height).
export const FEED_RATIO_MIN = 0.8;
export const FEED_RATIO_MAX = 1.91;
// The box of a photo whose size is unknown (photos of old events): a square, until the image
// itself says better.
const DEFAULT_RATIO = 1;
// How the server sizes its whole-photo variants (fit within N x N, never upscaled): used
// to work out the pixel size of photos posted before `variants` carried it.
const FIT_WITHIN = { large: 1080, medium: 640 };

function positive(value) {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/**
 * Every stored variant of a photo as {name: {url, width, height}} (width/height null when
 * unknown). Reads `variants` (the API's pixel sizes) and falls back to `urls` with sizes
 * derived from the photo's own `width`/`height`, so older answers keep working.
 */
export function variantsOf(photo) {
  const urls = photo.urls || {};
  const given = photo.variants || {};
  const full = [positive(photo.width), positive(photo.height)];
  const out = {};
  for (const name of new Set([...Object.keys(given), ...Object.keys(urls)])) {
    const variant = given[name] || {};
    const url = variant.url || urls[name];
    if (!url) continue;
    let width = positive(variant.width);
    let height = positive(variant.height);
    if ((!width || !height) && FIT_WITHIN[name] && full[0] && full[1]) {
      const scale = Math.min(1, FIT_WITHIN[name] / Math.max(full[0], full[1]));
      width = Math.max(1, Math.round(full[0] * scale));
      height = Math.max(1, Math.round(full[1] * scale));
    }
    out[name] = { url, width, height };
  }
  return out;
}

/** The photo's own width / height, or null when nothing tells it. */
export function photoRatio(photo, variants = variantsOf(photo)) {
  const w = positive(photo.width);
  const h = positive(photo.height);
  if (w && h) return w / h;
  for (const name of ["large", "medium"]) {
    const v = variants[name];
    if (v && v.width && v.height) return v.width / v.height;
  }
  return null;
}

export function clampRatio(ratio) {
  return Math.min(FEED_RATIO_MAX, Math.max(FEED_RATIO_MIN, ratio));
}

/** `url Nw` pairs over the named variants whose width is known (the true pixel width:
 *  a made-up one makes the browser stretch a small image). */
function srcsetOf(variants, names, widthOf = (v) => v.width) {
  const seen = new Set(); // two candidates of one width make the whole srcset invalid
  return names.map((name) => variants[name]).filter((v) => v && widthOf(v))
    .map((v) => [v.url, Math.round(widthOf(v))])
    .filter(([, w]) => !seen.has(w) && seen.add(w))
    .map(([url, w]) => `${url} ${w}w`).join(", ");
}

/**
 * A photo in a box of known shape, so the page never jumps while images load; the blurhash
 * `placeholder` is painted behind it until it arrives.
 * - mode "feed": the box keeps the photo's ratio clamped to 4:5..1.91:1 and shows the
 *   `feed`/`feed_small` variants (cropped to that range at upload), else medium/large
 *   centre-cropped to the same box.
 * - mode "page": the whole photo (`large`/`medium`) at its own ratio.
 */
export function photoImage(photo, { mode = "feed", sizes, eager = false, alt } = {}) {
  const variants = variantsOf(photo);
  const feedNames = ["feed_small", "feed"].filter((name) => variants[name]);
  const names = mode === "feed" && feedNames.length ? feedNames : ["medium", "large"];
  const own = photoRatio(photo, variants);
  const feedVariant = feedNames.map((n) => variants[n]).find((v) => v.width && v.height);
  let ratio;
  if (mode === "feed") ratio = feedVariant ? feedVariant.width / feedVariant.height : own && clampRatio(own);
  else ratio = own;
  const known = Boolean(ratio);
  ratio = ratio || DEFAULT_RATIO;

  const srcset = srcsetOf(variants, names);
  const fallback = names.map((n) => variants[n]).find(Boolean) || variants.large || variants.square || {};
  const shown = names.map((n) => variants[n]).find((v) => v && v.width && v.height);
  const img = h("img", {
    class: "photo-img",
    src: fallback.url,
    srcset: srcset || undefined,
    sizes: srcset ? (sizes || (mode === "feed" ? "(max-width: 640px) 100vw, 614px"
      : "(max-width: 720px) 100vw, 560px")) : undefined,
    // The intrinsic size, so the space is reserved even before the CSS box applies.
    width: shown ? shown.width : Math.round(1080 * Math.min(1, ratio)),
    height: shown ? shown.height : Math.round(1080 * Math.min(1, 1 / ratio)),
    loading: eager ? "eager" : "lazy",
    decoding: "async",
    alt: alt ?? photoAlt(photo),
  });
  const box = h("div", { class: `photo-box photo-box-${mode}` });
  setBoxRatio(box, ratio);
  // The blurhash is of the whole photo: drawn at the photo's own shape and cropped by CSS
  // (object-fit: cover) the way the feed variant is.
  const placeholder = placeholderCanvas(photo.placeholder, own || ratio);
  if (placeholder) box.append(placeholder);
  box.append(img);
  img.addEventListener("load", () => {
    if (!known && img.naturalWidth && img.naturalHeight) {
      // Nothing told the size beforehand: take it from the image now.
      const natural = img.naturalWidth / img.naturalHeight;
      setBoxRatio(box, mode === "feed" ? clampRatio(natural) : natural);
    }
    if (placeholder) placeholder.remove();
  }, { once: true });
  watchImage(img);
  return box;
}

function setBoxRatio(box, ratio) {
  box.style.aspectRatio = String(ratio);
  box.style.setProperty("--ratio", String(ratio));
  box.dataset.ratio = ratio.toFixed(4);
}

/** A square thumbnail for grids (a centred square crop, object-fit: cover). The srcset
 *  labels each variant by its shorter side: that side is what fills the square. */
export function squareImage(photo, { sizes = "(max-width: 640px) 33vw, 300px" } = {}) {
  const variants = variantsOf(photo);
  if (variants.square && !variants.square.width) variants.square = { ...variants.square, width: 320, height: 320 };
  const srcset = srcsetOf(variants, ["square", "medium", "large"],
    (v) => v.width && v.height && Math.min(v.width, v.height));
  const first = variants.square || variants.medium || variants.large || {};
  const img = h("img", {
    class: "square-img",
    src: first.url,
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

// --- blurhash placeholders ----------------------------------------------------------

const BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

function decode83(text) {
  let value = 0;
  for (const char of text) {
    const digit = BASE83.indexOf(char);
    if (digit < 0) throw new Error("not base83");
    value = value * 83 + digit;
  }
  return value;
}

function srgbToLinear(value) {
  const v = value / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}

function linearToSrgb(value) {
  const v = Math.max(0, Math.min(1, value));
  return v <= 0.0031308 ? Math.trunc(v * 12.92 * 255 + 0.5)
    : Math.trunc((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5);
}

function signedSquare(value) {
  return Math.sign(value) * value * value;
}

/**
 * Decodes a blurhash (https://blurha.sh) into RGBA pixels of width x height, or null when
 * the string is not a valid blurhash. A few dozen lines, so the app needs no library.
 */
export function decodeBlurhash(hash, width, height) {
  if (typeof hash !== "string" || hash.length < 6) return null;
  try {
    const sizeFlag = decode83(hash[0]);
    const numY = Math.floor(sizeFlag / 9) + 1;
    const numX = (sizeFlag % 9) + 1;
    if (hash.length !== 4 + 2 * numX * numY) return null;
    const maxValue = (decode83(hash[1]) + 1) / 166;
    const colors = [];
    const dc = decode83(hash.slice(2, 6));
    colors.push([srgbToLinear(dc >> 16), srgbToLinear((dc >> 8) & 255), srgbToLinear(dc & 255)]);
    for (let i = 1; i < numX * numY; i += 1) {
      const ac = decode83(hash.slice(4 + i * 2, 6 + i * 2));
      colors.push([Math.floor(ac / 361), Math.floor(ac / 19) % 19, ac % 19]
        .map((q) => signedSquare((q - 9) / 9) * maxValue));
    }
    const pixels = new Uint8ClampedArray(width * height * 4);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let j = 0; j < numY; j += 1) {
          const cy = Math.cos((Math.PI * y * j) / height);
          for (let i = 0; i < numX; i += 1) {
            const basis = Math.cos((Math.PI * x * i) / width) * cy;
            const color = colors[i + j * numX];
            r += color[0] * basis;
            g += color[1] * basis;
            b += color[2] * basis;
          }
        }
        const at = 4 * (x + y * width);
        pixels[at] = linearToSrgb(r);
        pixels[at + 1] = linearToSrgb(g);
        pixels[at + 2] = linearToSrgb(b);
        pixels[at + 3] = 255;
      }
    }
    return pixels;
  } catch {
    return null;
  }
}

const PLACEHOLDER_SIZE = 32; // pixels along the longer side: CSS stretches (and so blurs) it

/** A tiny canvas of the given shape (width / height) painted with the blurhash, or null
 *  when there is none. */
export function placeholderCanvas(hash, ratio = 1) {
  const width = ratio >= 1 ? PLACEHOLDER_SIZE : Math.max(1, Math.round(PLACEHOLDER_SIZE * ratio));
  const height = ratio >= 1 ? Math.max(1, Math.round(PLACEHOLDER_SIZE / ratio)) : PLACEHOLDER_SIZE;
  const pixels = decodeBlurhash(hash, width, height);
  if (!pixels) return null;
  const canvas = h("canvas", { class: "photo-placeholder", width, height, "aria-hidden": "true" });
  const context = canvas.getContext("2d");
  if (!context) return null;
  context.putImageData(new ImageData(pixels, width, height), 0, 0);
  return canvas;
}

function watchImage(img) {
  img.addEventListener("error", () => img.classList.add("broken"), { once: true });
}

export function photoAlt(photo) {
  // The owner's own description comes first: it says what the photo shows.
  const described = (photo.alt_text || "").trim();
  if (described) return described;
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
/** A short message in the live region (errors are announced assertively). It sits at the
 *  bottom, or at the top whenever it would cover a form's error or button. */
export function toast(message, { error = false } = {}) {
  const region = document.getElementById(error ? "alerts" : "status");
  const other = document.getElementById(error ? "status" : "alerts");
  clear(other);
  clear(region).append(h("div", { class: `toast${error ? " toast-error" : ""}` }, message));
  placeToasts();
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { clear(region); }, error ? 8000 : 4000);
}

// What a notice must never hide: the messages and buttons of the form in use.
const KEEP_VISIBLE = "main .form-error, main .field-error, main button[type=submit], main .btn-primary";

function overlaps(a, b) {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

/** Moves the notices to the top of the screen while at the bottom they would cover what
 *  KEEP_VISIBLE names (checked again on scroll and resize while a notice shows). */
export function placeToasts() {
  const regions = [...document.querySelectorAll(".toasts")];
  const shown = regions.filter((r) => r.firstChild);
  if (!shown.length) return;
  const keep = [...document.querySelectorAll(KEEP_VISIBLE)]
    .map((el) => el.getBoundingClientRect()).filter((r) => r.width && r.height);
  const covers = () => shown.some((region) => {
    const box = region.getBoundingClientRect();
    return keep.some((r) => overlaps(box, r));
  });
  regions.forEach((r) => r.classList.remove("toasts-top"));
  if (covers()) {
    regions.forEach((r) => r.classList.add("toasts-top"));
    if (covers()) regions.forEach((r) => r.classList.remove("toasts-top"));
  }
}

let placing = false;
for (const type of ["scroll", "resize"]) {
  window.addEventListener(type, () => {
    if (placing) return;
    placing = true;
    requestAnimationFrame(() => {
      placing = false;
      placeToasts();
    });
  }, { passive: true });
}

// --- icons --------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  home: "M3 10.5 12 3l9 7.5V20a1 1 0 0 1-1 1h-5v-6h-6v6H4a1 1 0 0 1-1-1z",
  search: "M10.5 3a7.5 7.5 0 1 0 4.6 13.4l4.7 4.7 1.4-1.4-4.7-4.7A7.5 7.5 0 0 0 10.5 3zm0 2a5.5 5.5 0 1 1 0 11 5.5 5.5 0 0 1 0-11z",
  upload: "M5 3h14a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm0 2v14h14V5zm6 3h2v3h3v2h-3v3h-2v-3H8v-2h3z",
  heart: "M12 21s-7.5-4.6-9.6-9.3C.9 8.3 3 4.5 6.8 4.5c2.2 0 3.6 1.2 5.2 3 1.6-1.8 3-3 5.2-3 3.8 0 5.9 3.8 4.4 7.2C19.5 16.4 12 21 12 21zm0-2.4c2.3-1.5 6.3-4.5 7.7-7.7 1-2.2-.3-4.4-2.5-4.4-1.5 0-2.5 1-4.2 3.1l-1 1.2-1-1.2C9.3 7.5 8.3 6.5 6.8 6.5c-2.2 0-3.5 2.2-2.5 4.4 1.4 3.2 5.4 6.2 7.7 7.7z",
  lock: "M7 10V7a5 5 0 0 1 10 0v3h1a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1zm2 0h6V7a3 3 0 0 0-6 0zm-2 2v7h10v-7zm4 2h2v3h-2z",
  settings: "M19.4 13a7.7 7.7 0 0 0 0-2l2.1-1.6-2-3.5-2.5 1a7.6 7.6 0 0 0-1.7-1L15 3h-4l-.4 2.7a7.6 7.6 0 0 0-1.7 1l-2.5-1-2 3.5L6.6 11a7.7 7.7 0 0 0 0 2l-2.1 1.6 2 3.5 2.5-1c.5.4 1.1.7 1.7 1L11 21h4l.4-2.7c.6-.3 1.2-.6 1.7-1l2.5 1 2-3.5zM12 15.5a3.5 3.5 0 1 1 0-7 3.5 3.5 0 0 1 0 7z",
};

/** A small inline SVG icon (decorative: the control it sits in carries the name). */
export function svgIcon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "24");
  svg.setAttribute("height", "24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", `icon icon-${name}`);
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name] || "");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("fill-rule", "evenodd"); // inner shapes are holes: outline icons
  svg.append(path);
  return svg;
}

/**
 * A "⋯" button that opens a small menu of actions. `items()` is called on each opening and
 * gives [{label, onSelect}]; the menu closes on a choice, Escape, or a click elsewhere.
 */
export function menuButton(label, items) {
  const wrap = h("div", { class: "menu-wrap" });
  const button = h("button", { type: "button", class: "btn btn-menu", "aria-haspopup": "menu",
    "aria-expanded": "false", "aria-label": label, title: label }, "⋯");
  const menu = h("div", { class: "menu", role: "menu", hidden: true });
  const close = (focus) => {
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    document.removeEventListener("click", outside, true);
    if (focus) button.focus();
  };
  const outside = (event) => {
    if (!wrap.contains(event.target)) close(false);
  };
  button.addEventListener("click", () => {
    if (!menu.hidden) return close(true);
    clear(menu);
    for (const item of items()) {
      const entry = h("button", { type: "button", role: "menuitem", class: item.danger ? "danger" : "" },
        item.label);
      entry.addEventListener("click", () => {
        close(true);
        item.onSelect();
      });
      menu.append(entry);
    }
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    document.addEventListener("click", outside, true);
    menu.querySelector("button").focus();
  });
  menu.addEventListener("keydown", (event) => {
    const entries = [...menu.querySelectorAll("button")];
    const at = entries.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      close(true);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      entries[(at + step + entries.length) % entries.length].focus();
    }
  });
  wrap.append(button, menu);
  return wrap;
}

export function errorBox(message) {
  return h("p", { class: "form-error", role: "alert" }, message);
}
