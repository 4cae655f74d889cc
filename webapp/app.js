// photoshare web app: hash routes, views, live updates. Plain ES modules, no build step.

import { api, ApiError, controls, download, enc, session } from "./api.js";
import {
  append, avatar, captionNodes, clear, errorBox, h, menuButton, photoAlt, photoImage, placeToasts,
  plural, squareImage, svgIcon, timeEl, toast, userLink, variantsOf,
} from "./dom.js";

const main = document.getElementById("main");
const state = {
  me: null,            // the caller's profile
  pinned: [],          // your own new posts, shown at the top of the feed this session
  newPosts: new Map(), // photo_id -> position, announced live, not yet shown
  notifications: [],
  unread: 0,
  moreUnread: false,
  live: null,
  liveRetry: null,
  routeSeq: 0,
  feedReload: null,
  highlighted: new Set(), // notifications that were unread when the panel opened
  marking: null,          // the POST /v1/notifications/read in flight
  thumbnails: new Map(),  // photo_id -> Promise of a square thumbnail URL (or null)
  requestsPage: null,     // the Follow requests page on screen: adds a request that arrives live
};

// --- routing ------------------------------------------------------------------------

function parseRoute() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const seq = ++state.routeSeq;
  const current = () => seq === state.routeSeq;
  const { parts, params } = parseRoute();
  const [first, second] = parts;
  closeNotifications(false);
  closeSuggestions();
  showRoute(first);
  state.feedReload = null;
  clear(main);
  window.scrollTo(0, 0);
  main.setAttribute("aria-busy", "true");
  const open = ["login", "signup", "u", "p", "search", "goodbye"];
  try {
    if (!session.loggedIn && !open.includes(first)) {
      go("#/login");
      return;
    }
    if (session.loggedIn && (first === "login" || first === "signup")) {
      go("#/");
      return;
    }
    if (!first) await feedView(current);
    else if (first === "login") loginView();
    else if (first === "signup") signupView();
    else if (first === "upload") uploadView(current);
    else if (first === "u" && second) await profileView(second, current);
    else if (first === "p" && second) await photoView(second, current);
    else if (first === "search") await searchView(params.get("q") || "", current);
    else if (first === "goodbye") goodbyeView();
    else if (first === "requests") followRequestsView(current);
    else notFound();
  } catch (error) {
    if (current()) showError(error);
  } finally {
    if (current()) {
      main.removeAttribute("aria-busy");
      const heading = main.querySelector("h1");
      if (heading && document.activeElement && !document.activeElement.closest("#main")
          && document.activeElement.id !== "search-input") {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: true });
      }
    }
  }
}

/** Marks the page in <body> (for CSS) and the tab bar, and empties the search box anywhere
 *  but on search results (an old query must not linger on other pages). */
function showRoute(first) {
  document.body.dataset.route = first || "home";
  if (first !== "search" && document.activeElement !== searchInput) searchInput.value = "";
  const me = state.me && state.me.username;
  const current = !first ? "nav-home" : first === "search" ? "nav-search"
    : first === "upload" ? "nav-upload"
      : first === "u" && me && parseRoute().parts[1] === me ? "nav-profile" : "";
  document.querySelectorAll("#nav .nav-link").forEach((link) => {
    if (current && link.classList.contains(current)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
}

function notFound() {
  append(main, h("section", { class: "page narrow" },
    h("h1", {}, "Page not found"),
    h("p", {}, "There is nothing here. ", h("a", { href: "#/" }, "Go home"), ".")));
}

function showError(error) {
  clear(main);
  const message = error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
  append(main, h("section", { class: "page narrow" },
    h("h1", {}, "Sorry"),
    errorBox(message),
    h("button", { type: "button", class: "btn", onclick: () => route() }, "Try again")));
}

// --- header -------------------------------------------------------------------------

function renderHeader() {
  const nav = clear(document.getElementById("nav"));
  document.body.classList.toggle("logged-in", session.loggedIn);
  if (!session.loggedIn) {
    append(nav,
      h("a", { class: "nav-link", href: "#/login" }, "Log in"),
      h("a", { class: "nav-link btn btn-primary", href: "#/signup" }, "Sign up"));
    return;
  }
  const me = state.me;
  // One menu: across the top on wide screens, a bottom tab bar on phones (style.css), where
  // Search is a tab of its own and Log out lives in the profile's settings.
  append(nav,
    h("a", { class: "nav-link nav-home", href: "#/", "aria-label": "Home" }, svgIcon("home"),
      h("span", { class: "nav-text" }, "Home")),
    h("a", { class: "nav-link nav-search", href: "#/search", "aria-label": "Search" }, svgIcon("search"),
      h("span", { class: "nav-text" }, "Search")),
    h("a", { class: "nav-link nav-upload", href: "#/upload", "aria-label": "Upload" }, svgIcon("upload"),
      h("span", { class: "nav-text" }, "Upload")),
    h("button", {
      type: "button", id: "notif-button", class: "nav-link nav-notifications", "aria-expanded": "false",
      "aria-controls": "notif-panel", onclick: toggleNotifications,
    }, svgIcon("heart"), h("span", { class: "nav-text" }, "Notifications"),
    h("span", { id: "notif-count", class: "badge", hidden: true, "aria-hidden": "true" }),
    h("span", { id: "notif-count-sr", class: "sr-only" })),
    me ? h("a", { class: "nav-link nav-profile", href: `#/u/${enc(me.username)}`, "aria-label": "Profile" },
      avatar(me, 24), h("span", { class: "nav-text" }, "Profile")) : null,
    h("button", { type: "button", class: "nav-link nav-logout", onclick: logOut }, "Log out"));
  updateBadge();
  showRoute(parseRoute().parts[0]);
}

function logOut() {
  forgetSession();
  go("#/login");
  toast("You are logged out.");
}

/** Everything this tab knows of the signed-in person, gone (log out, account deleted). */
function forgetSession() {
  stopLive();
  session.clear();
  state.me = null;
  state.pinned = [];
  state.newPosts.clear();
  state.notifications = [];
  state.unread = 0;
  state.highlighted.clear();
  state.thumbnails.clear();
  delete document.body.dataset.notifications;
  renderHeader();
}

session.onExpired = () => {
  stopLive();
  session.clear();
  state.me = null;
  delete document.body.dataset.notifications;
  renderHeader();
  toast("Your session has ended. Please log in again.", { error: true });
  go("#/login");
};

// --- sign up / log in ---------------------------------------------------------------

function field(id, label, attrs = {}, hint) {
  const input = attrs.tag === "textarea"
    ? h("textarea", { id, name: id, ...attrs, tag: undefined })
    : h("input", { id, name: id, ...attrs });
  if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    input,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null);
}

const MAX_ALT_TEXT = 1500;

/**
 * The alt text textarea with a live "n / 1,500" counter under it (the server's limit;
 * the textarea stops at it too). Returns the field's node and the textarea.
 */
function altTextField(id, value = "") {
  const input = h("textarea", { id, name: id, rows: 3, maxlength: MAX_ALT_TEXT,
    "aria-describedby": `${id}-hint ${id}-count` });
  input.value = value;
  const count = h("p", { class: "hint counter", id: `${id}-count`, "aria-live": "polite" });
  const update = () => {
    count.textContent = `${input.value.length.toLocaleString("en")} / ${MAX_ALT_TEXT.toLocaleString("en")}`;
  };
  input.addEventListener("input", update);
  update();
  const node = h("div", { class: "field" },
    h("label", { for: id }, "Alt text"), input,
    h("p", { class: "hint", id: `${id}-hint` },
      "Describe the photo for people who can't see it."), count);
  return { node, input };
}

/**
 * Shows `message` right under the field's input (or clears it with null): the input gets
 * aria-invalid and its aria-describedby names the message (and the hint, if any).
 */
function setFieldError(input, message) {
  const id = `${input.id}-error`;
  let node = document.getElementById(id);
  if (!message) {
    if (node) node.remove();
    input.removeAttribute("aria-invalid");
  } else {
    if (!node) {
      node = h("p", { class: "field-error", id });
      input.after(node);
    }
    node.textContent = message;
    input.setAttribute("aria-invalid", "true");
  }
  const hint = document.getElementById(`${input.id}-hint`);
  const described = [message ? id : null, hint ? hint.id : null].filter(Boolean).join(" ");
  if (described) input.setAttribute("aria-describedby", described);
  else input.removeAttribute("aria-describedby");
}

/** Sets each field's error from {inputId: message|null}; focuses the first one in error.
 *  Returns true when there was any. */
function showFieldErrors(form, problems) {
  let first = null;
  for (const [id, message] of Object.entries(problems)) {
    const input = form.querySelector(`#${id}`);
    if (!input) continue;
    setFieldError(input, message);
    if (message && !first) first = input;
  }
  if (first) first.focus();
  return Boolean(first);
}

/** A field's error goes away as soon as the person edits it. */
function clearErrorOnInput(form) {
  form.addEventListener("input", (event) => {
    if (event.target.getAttribute("aria-invalid") === "true") setFieldError(event.target, null);
  });
}

function busy(button, on, text) {
  button.disabled = on;
  if (on) {
    button.dataset.label = button.textContent;
    button.setAttribute("aria-busy", "true");
  } else {
    button.removeAttribute("aria-busy");
  }
  if (text) button.textContent = on ? text : button.dataset.label;
}

function formErrorSlot() {
  return h("div", { class: "form-error-slot", "aria-live": "assertive" });
}

async function startSession(login, password) {
  const { data } = await api.post("/v1/sessions", { login, password }, { noExpire: true });
  session.save(data.access_token, data.user_id);
  await loadMe();
  renderHeader();
  startLive();
  loadNotifications();
}

function loginView() {
  const errors = formErrorSlot();
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Log in");
  const form = h("form", { class: "card form", novalidate: true },
    field("login-username", "Username or email", { autocomplete: "username", required: true,
      autocapitalize: "none", spellcheck: "false" }),
    field("login-password", "Password", { type: "password", autocomplete: "current-password", required: true }),
    errors, submit);
  clearErrorOnInput(form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(errors);
    const login = form.elements["login-username"].value.trim();
    const password = form.elements["login-password"].value;
    if (showFieldErrors(form, {
      "login-username": login ? null : "Enter your username or email address.",
      "login-password": password ? null : "Enter your password.",
    })) return;
    busy(submit, true);
    try {
      await startSession(login, password);
      go("#/");
    } catch (error) {
      errors.append(errorBox(error.status === 401
        ? "That username, email or password is not right." : error.message));
      busy(submit, false);
    }
  });
  append(main, h("section", { class: "page narrow auth" },
    h("h1", {}, "Log in to photoshare"), form,
    h("p", { class: "switch" }, "New here? ", h("a", { href: "#/signup" }, "Sign up"))));
}

// Where the server's answers about a sign-up belong: its error codes and its
// validation_error details' field names -> the input they are about.
const SIGNUP_FIELDS = {
  username: "signup-username", username_taken: "signup-username", invalid_username: "signup-username",
  email: "signup-email", email_taken: "signup-email",
  password: "signup-password",
  display_name: "signup-display-name",
};

function signupProblems(body) {
  return {
    "signup-username": /^[A-Za-z0-9_.]{3,30}$/.test(body.username) ? null
      : "Choose a username of 3–30 letters, digits, _ or .",
    "signup-email": /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(body.email) ? null : "Enter a valid email address.",
    "signup-password": body.password.length >= 8 ? null : "Choose a password of at least 8 characters.",
    "signup-display-name": body.display_name ? null : "Enter a display name.",
  };
}

/** A failed POST /v1/users as {inputId: message}, or null when it is about no one field. */
function signupServerProblems(error) {
  if (error.code === "username_taken") return { "signup-username": "That username is taken. Try another." };
  if (error.code === "email_taken") {
    return { "signup-email": "An account with this email already exists. Log in instead, or use another email." };
  }
  if (SIGNUP_FIELDS[error.code]) return { [SIGNUP_FIELDS[error.code]]: error.message };
  const problems = {};
  for (const detail of error.details || []) {
    const id = SIGNUP_FIELDS[String(detail.field || "").split(".").pop()];
    if (id && !problems[id]) {
      const text = String(detail.message || "is not valid");
      problems[id] = text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
    }
  }
  return Object.keys(problems).length ? problems : null;
}

function signupView() {
  const errors = formErrorSlot();
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Sign up");
  const form = h("form", { class: "card form", novalidate: true },
    field("signup-username", "Username", { autocomplete: "username", required: true,
      autocapitalize: "none", spellcheck: "false", maxlength: 30 },
    "3–30 letters, digits, _ or ."),
    field("signup-email", "Email", { type: "email", autocomplete: "email", required: true }),
    field("signup-password", "Password", { type: "password", autocomplete: "new-password",
      required: true, minlength: 8 }, "At least 8 characters."),
    field("signup-display-name", "Display name", { autocomplete: "name", required: true }),
    errors, submit);
  clearErrorOnInput(form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(errors);
    const body = {
      username: form.elements["signup-username"].value.trim(),
      email: form.elements["signup-email"].value.trim(),
      password: form.elements["signup-password"].value,
      display_name: form.elements["signup-display-name"].value.trim(),
    };
    if (showFieldErrors(form, signupProblems(body))) return;
    busy(submit, true);
    try {
      await api.post("/v1/users", body);
    } catch (error) {
      busy(submit, false);
      const problems = signupServerProblems(error);
      if (!problems || !showFieldErrors(form, problems)) errors.append(errorBox(error.message));
      return;
    }
    try {
      await startSession(body.username, body.password);
      go("#/");
      toast(`Welcome, ${body.display_name}!`);
    } catch (error) {
      errors.append(errorBox(`Your account is made, but logging in failed: ${error.message}`));
      busy(submit, false);
    }
  });
  append(main, h("section", { class: "page narrow auth" },
    h("h1", {}, "Create your account"), form,
    h("p", { class: "switch" }, "Have an account? ", h("a", { href: "#/login" }, "Log in"))));
}

async function loadMe() {
  state.me = await api.get("/v1/users/me");
  return state.me;
}

// --- infinite lists -----------------------------------------------------------------

/**
 * Pages through `path` (which answers {items, next_cursor}) into `list`, loading the next
 * page when the sentinel scrolls into view. Failures show a "Try again" button.
 */
function pager({ list, path, render, empty, end, current, minPosition = 0, limit = 12, host }) {
  let cursor = null;
  let done = false;
  let loading = false;
  let count = 0;
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  const status = h("div", { class: "pager-status" });
  (host || list.parentNode).append(status, sentinel);
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) load();
  }, { rootMargin: "600px 0px" });

  async function load() {
    if (loading || done || !current()) return;
    loading = true;
    clear(status).append(h("p", { class: "muted loading", role: "status" }, "Loading…"));
    const sep = path.includes("?") ? "&" : "?";
    let failed = false;
    try {
      const page = await api.get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${enc(cursor)}` : ""}`,
        { minPosition });
      if (!current()) return;
      clear(status);
      for (const item of page.items || []) {
        const node = render(item);
        if (node) {
          list.append(node);
          count += 1;
        }
      }
      cursor = page.next_cursor;
      done = !cursor;
      if (done) {
        observer.disconnect();
        const last = !count ? empty && empty() : end && end();
        if (last) status.append(last);
      }
    } catch (error) {
      failed = true;
      if (!current() || error.code === "session_expired") return;
      clear(status).append(h("div", { class: "pager-error" },
        errorBox(error.message),
        h("button", { type: "button", class: "btn", onclick: () => load() }, "Try again")));
    } finally {
      loading = false;
    }
    // A short page that leaves the sentinel on screen: keep going (never after a failure:
    // then the reader decides, with "Try again").
    if (!done && !failed && current()) {
      const rect = sentinel.getBoundingClientRect();
      if (rect.top < window.innerHeight + 600) setTimeout(load, 0);
    }
  }
  observer.observe(sentinel);
  load();
  return { stop: () => observer.disconnect(), get count() { return count; } };
}

// --- photo cards --------------------------------------------------------------------

function likeBlock(photo) {
  const count = h("span", { class: "count likes-count" }, plural(photo.likes, "like"));
  const heart = h("span", { class: "heart", "aria-hidden": "true" }, photo.liked_by_me ? "♥" : "♡");
  const button = h("button", {
    type: "button", class: "like", "aria-pressed": photo.liked_by_me ? "true" : "false",
  }, heart, "Like");
  const show = () => {
    button.setAttribute("aria-pressed", photo.liked_by_me ? "true" : "false");
    heart.textContent = photo.liked_by_me ? "♥" : "♡";
    count.textContent = plural(photo.likes, "like");
  };
  let inFlight = false;
  button.addEventListener("click", async () => {
    if (!session.loggedIn) {
      go("#/login");
      return;
    }
    if (inFlight) return;
    inFlight = true;
    const liked = !photo.liked_by_me;
    photo.liked_by_me = liked;
    photo.likes = Math.max(0, (Number(photo.likes) || 0) + (liked ? 1 : -1));
    show();
    try {
      const path = `/v1/photos/${enc(photo.photo_id)}/likes/me`;
      if (liked) await api.put(path);
      else await api.del(path);
    } catch (error) {
      photo.liked_by_me = !liked;
      photo.likes = Math.max(0, photo.likes + (liked ? -1 : 1));
      show();
      toast(`Could not ${liked ? "like" : "unlike"} the photo. ${error.message}`, { error: true });
    } finally {
      inFlight = false;
    }
  });
  return { button, count };
}

function taggedLine(photo) {
  const tagged = (photo.tagged || []).filter((u) => u && u.username);
  if (!tagged.length) return null;
  const links = [];
  tagged.forEach((user, i) => {
    if (i) links.push(", ");
    links.push(h("a", { class: "mention", href: `#/u/${enc(user.username)}` }, `@${user.username}`));
  });
  return h("p", { class: "tagged" }, "with ", links);
}

function photoCard(photo, { badge } = {}) {
  const { button, count } = likeBlock(photo);
  const link = `#/p/${enc(photo.photo_id)}`;
  return h("article", { class: "card photo-card", dataset: { photoId: photo.photo_id } },
    h("header", { class: "card-head" },
      userLink(photo.owner),
      photo.location ? h("span", { class: "location" }, photo.location) : null,
      badge ? h("span", { class: "pill" }, badge) : null),
    h("a", { class: "photo-link", href: link }, photoImage(photo, { mode: "feed" })),
    h("div", { class: "card-body" },
      h("div", { class: "actions" }, button, count,
        h("a", { class: "count comments-link", href: link }, plural(photo.comments, "comment"))),
      photo.caption ? h("p", { class: "caption" },
        h("a", { class: "caption-owner", href: `#/u/${enc(photo.owner && photo.owner.username || "")}` },
          photo.owner && photo.owner.username), " ", captionNodes(photo.caption)) : null,
      taggedLine(photo),
      h("a", { class: "muted small", href: link }, timeEl(photo.created_at))));
}

// --- home feed ----------------------------------------------------------------------

async function feedView(current, { minPosition = 0 } = {}) {
  const banner = h("button", { type: "button", id: "new-posts", class: "new-posts", hidden: true },
    "");
  const list = h("div", { class: "feed", id: "feed" });
  const section = h("section", { class: "page feed-page" },
    h("h1", { class: "sr-only" }, "Home"), banner, list);
  append(main, section);
  banner.addEventListener("click", () => {
    const highest = Math.max(0, ...state.newPosts.values());
    state.newPosts.clear();
    updateNewPosts();
    window.scrollTo({ top: 0 });
    clear(main);
    const seq = ++state.routeSeq;
    feedView(() => seq === state.routeSeq, { minPosition: highest }).then(() => {
      const first = main.querySelector(".photo-card a.photo-link");
      if (first) first.focus({ preventScroll: true });
    });
  });
  state.newPosts.clear();
  updateNewPosts();
  const shown = new Set();
  for (const photo of state.pinned) {
    shown.add(photo.photo_id);
    const card = photoCard(photo, { badge: "Your new post" });
    list.append(card);
    // Refresh its counts (likes and comments may have come in since).
    api.get(`/v1/photos/${enc(photo.photo_id)}`).then((fresh) => {
      if (!current() || !card.isConnected) return;
      const same = fresh.likes === photo.likes && fresh.comments === photo.comments
        && fresh.liked_by_me === photo.liked_by_me;
      Object.assign(photo, fresh);
      if (same) return;
      card.replaceWith(photoCard(photo, { badge: "Your new post" }));
    }).catch((error) => {
      if (error.status === 404) {
        state.pinned = state.pinned.filter((p) => p.photo_id !== photo.photo_id);
        card.remove();
      }
    });
  }
  const caughtUp = () => h("div", { class: "caught-up" },
    h("span", { class: "caught-up-mark", "aria-hidden": "true" }, "✓"),
    h("p", { class: "caught-up-title" }, "You're all caught up"),
    h("p", { class: "muted small" }, "You've seen all the posts of the people you follow."));
  pager({
    list, host: section, path: "/v1/timeline", current, minPosition, limit: 10,
    render: (photo) => {
      // The timeline holds your own posts too: one that was pinned after its upload is
      // shown once, and from now on in its place in the timeline rather than pinned.
      state.pinned = state.pinned.filter((p) => p.photo_id !== photo.photo_id);
      if (shown.has(photo.photo_id)) return null;
      shown.add(photo.photo_id);
      return photoCard(photo);
    },
    end: caughtUp,
    empty: () => shown.size ? caughtUp() : h("div", { class: "card empty" },
      h("h2", {}, "Your feed is empty"),
      h("p", {}, "Follow people to see their photos here. Use the search box to find them, or ",
        h("a", { href: "#/upload" }, "upload your first photo"), ".")),
  });
  state.feedShown = shown;
}

function announce(text) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

function updateNewPosts() {
  const banner = document.getElementById("new-posts");
  if (!banner) return;
  const n = state.newPosts.size;
  if (n && banner.hidden !== false) announce(n === 1 ? "1 new post in your feed" : `${n} new posts in your feed`);
  banner.hidden = n === 0;
  banner.textContent = n === 1 ? "1 new post" : `${n} new posts`;
}

// --- upload -------------------------------------------------------------------------

const MAX_UPLOAD = 20 * 1024 * 1024;
const UPLOAD_TYPES = ["image/jpeg", "image/png", "image/webp", "image/avif"];
const NOT_A_PHOTO = "That file is not a photo we can use. Please choose a JPEG, PNG or WebP image.";

function uploadView(current) {
  const errors = formErrorSlot();
  const preview = h("div", { class: "preview", "aria-live": "polite" });
  const fileInput = h("input", { id: "upload-file", name: "file", type: "file", required: true,
    accept: UPLOAD_TYPES.join(","), "aria-describedby": "upload-file-hint" });
  let previewUrl = null;
  let fileProblem = null; // why the chosen file can't be posted, or null
  const showPreview = (node) => clear(preview).append(node);
  const noPhoto = () => h("p", { class: "muted" }, "No photo chosen yet.");
  const reject = (message) => {
    fileProblem = message;
    setFieldError(fileInput, message);
    // A message, never a broken image.
    showPreview(h("p", { class: "muted" }, "No preview: choose another file."));
  };
  showPreview(noPhoto());
  fileInput.addEventListener("change", () => {
    // A new choice starts afresh: whatever went wrong before is no longer true.
    clear(errors);
    setFieldError(fileInput, null);
    fileProblem = null;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    const file = fileInput.files[0];
    if (!file) {
      showPreview(noPhoto());
      return;
    }
    if (file.type && !UPLOAD_TYPES.includes(file.type)) { // no type: let decoding tell
      reject(NOT_A_PHOTO);
      return;
    }
    if (file.size > MAX_UPLOAD) {
      reject("That photo is larger than 20 MB. Please choose a smaller one.");
      return;
    }
    const chosen = file;
    const url = URL.createObjectURL(file);
    previewUrl = url;
    const img = h("img", { alt: "Preview of the chosen photo", class: "preview-img" });
    showPreview(h("p", { class: "muted" }, "Reading the photo…"));
    img.addEventListener("load", () => {
      if (fileInput.files[0] === chosen) showPreview(img);
    }, { once: true });
    img.addEventListener("error", () => {
      // Named like an image but not one (e.g. a renamed text file).
      if (fileInput.files[0] === chosen) reject(NOT_A_PHOTO);
    }, { once: true });
    img.src = url;
  });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Upload");
  const altText = altTextField("upload-alt-text");
  const form = h("form", { class: "card form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "upload-file" }, "Photo"), fileInput,
      h("p", { class: "hint", id: "upload-file-hint" }, "JPEG, PNG or WebP, up to 20 MB.")),
    preview,
    field("upload-caption", "Caption", { tag: "textarea", rows: 3, maxlength: 4000 },
      "Add #hashtags and @mentions."),
    altText.node,
    field("upload-location", "Location", { maxlength: 400 }),
    field("upload-tagged", "Tag people", { autocapitalize: "none", spellcheck: "false" },
      "Comma-separated usernames, e.g. alice, bob"),
    errors, submit);
  form.addEventListener("input", (event) => {
    if (event.target.id === "upload-tagged") setFieldError(event.target, null);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(errors);
    const file = fileInput.files[0];
    if (!file || fileProblem) {
      setFieldError(fileInput, fileProblem || "Please choose a photo to upload.");
      fileInput.focus();
      return;
    }
    const data = new FormData();
    data.append("file", file);
    data.append("caption", form.elements["upload-caption"].value);
    if (altText.input.value.trim()) data.append("alt_text", altText.input.value);
    data.append("location", form.elements["upload-location"].value.trim());
    data.append("tagged", form.elements["upload-tagged"].value.split(",")
      .map((s) => s.trim().replace(/^@/, "")).filter(Boolean).join(","));
    busy(submit, true, "Uploading…");
    try {
      const { data: created } = await api.upload("POST", "/v1/photos", data);
      let photo;
      try {
        photo = await api.get(`/v1/photos/${enc(created.photo_id)}`); // sends X-Min-Position
      } catch {
        photo = {
          photo_id: created.photo_id, owner: state.me, caption: data.get("caption"),
          location: data.get("location"), tagged: [], urls: created.urls,
          variants: created.variants, placeholder: created.placeholder,
          alt_text: created.alt_text, created_at: new Date().toISOString(), likes: 0, comments: 0, liked_by_me: false,
        };
      }
      // Shown at the top of Home at once, whatever the timeline view has caught up with;
      // the feed drops the pin as soon as the timeline holds the post.
      state.pinned = [photo, ...state.pinned.filter((p) => p.photo_id !== photo.photo_id)];
      if (state.me) state.me.photos = (Number(state.me.photos) || 0) + 1;
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      toast("Your photo is posted.");
      if (current()) go("#/");
    } catch (error) {
      busy(submit, false, "Uploading…");
      if (error.status === 413 || error.status === 415) {
        fileProblem = error.message;
        setFieldError(fileInput, error.message);
        fileInput.focus();
      } else if (error.code === "alt_text_too_long") {
        setFieldError(altText.input, error.message);
        altText.input.focus();
      } else if (error.code === "unknown_tagged_user") {
        const tagged = form.elements["upload-tagged"];
        setFieldError(tagged, error.message);
        tagged.focus();
      } else {
        errors.append(errorBox(error.message));
      }
      placeToasts();
    }
  });
  append(main, h("section", { class: "page narrow" }, h("h1", {}, "New post"), form));
}

// --- profile ------------------------------------------------------------------------

async function followingIds(userId) {
  // No "do I follow X?" endpoint: page through who I follow (people follow few accounts).
  const ids = new Set();
  let cursor = null;
  for (let i = 0; i < 20; i += 1) {
    const page = await api.get(`/v1/users/${enc(userId)}/following?limit=100${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    for (const u of page.items || []) ids.add(u.user_id);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return ids;
}

async function profileView(username, current) {
  let user;
  try {
    user = await api.get(`/v1/users/by-username/${enc(username)}`);
  } catch (error) {
    if (error.status === 404) {
      append(main, h("section", { class: "page narrow" }, h("h1", {}, "No such person"),
        h("p", {}, `There is no one called @${username}. `, h("a", { href: "#/" }, "Go home"), ".")));
      return;
    }
    throw error;
  }
  if (!current()) return;
  const mine = session.userId && user.user_id === session.userId;
  const counts = h("ul", { class: "counts" });
  const renderCounts = () => {
    clear(counts);
    append(counts,
      h("li", {}, h("strong", {}, Number(user.photos || 0).toLocaleString()), user.photos === 1 ? " post" : " posts"),
      h("li", {}, h("strong", {}, Number(user.followers || 0).toLocaleString()), user.followers === 1 ? " follower" : " followers"),
      h("li", {}, h("strong", {}, Number(user.following || 0).toLocaleString()), " following"));
  };
  renderCounts();
  const actions = h("div", { class: "profile-actions" });
  const about = h("div", { class: "about" });
  const renderAbout = () => {
    clear(about);
    append(about,
      h("p", { class: "display-name" }, user.display_name || user.username),
      user.location ? h("p", { class: "muted" }, user.location) : null,
      user.bio ? h("p", { class: "bio" }, captionNodes(user.bio)) : null);
  };
  renderAbout();
  const avatarSlot = h("div", { class: "profile-avatar" }, avatar(user, 120));
  const editSlot = h("div", {});
  const settingsSlot = h("div", {});
  const head = h("header", { class: "profile-head" }, avatarSlot,
    h("div", { class: "profile-info" },
      h("div", { class: "profile-title" }, h("h1", {}, user.username), actions),
      counts, about));
  const grid = h("div", { class: "grid", id: "profile-grid" });
  const section = h("section", { class: "page profile-page" }, head, settingsSlot, editSlot,
    h("h2", { class: "sr-only" }, "Posts"), grid);
  append(main, section);

  if (mine) {
    const edit = h("button", { type: "button", class: "btn", "aria-expanded": "false" }, "Edit profile");
    edit.addEventListener("click", () => {
      const opening = edit.getAttribute("aria-expanded") !== "true";
      edit.setAttribute("aria-expanded", String(opening));
      clear(editSlot);
      if (opening) {
        editSlot.append(profileEditor(user, () => {
          renderAbout();
          clear(avatarSlot).append(avatar(user, 120));
          renderHeader();
        }, () => {
          edit.setAttribute("aria-expanded", "false");
          clear(editSlot);
          edit.focus();
        }));
        editSlot.querySelector("input, textarea").focus();
      }
    });
    actions.append(edit, settingsButton(settingsSlot));
  } else if (session.loggedIn) {
    const relationship = user.relationship || {};
    if (relationship.blocking) {
      // Nothing of theirs is served to you while you block them: say so, offer the way back.
      actions.append(profileMenu(user, relationship));
      section.append(h("div", { class: "card blocked-note", role: "status" },
        h("p", {}, `You blocked @${user.username}. They can't find your profile or see your posts, `
          + "and you don't see theirs."),
        h("button", { type: "button", class: "btn", onclick: () => unblockFromProfile(user) }, "Unblock")));
      return;
    }
    const follow = h("button", { type: "button", class: "btn btn-primary", disabled: true }, "Follow");
    actions.append(follow, profileMenu(user, relationship));
    // "follow", "requested" (waiting for a private account's approval) or "none".
    let relation = "none";
    const show = () => {
      follow.textContent = relation === "follow" ? "Unfollow" : relation === "requested" ? "Requested" : "Follow";
      follow.className = relation === "none" ? "btn btn-primary" : "btn";
      follow.setAttribute("aria-pressed", String(relation !== "none"));
      follow.title = relation === "requested" ? "Waiting for approval. Click to cancel the request." : "";
    };
    const known = user.relationship
      ? Promise.resolve(user.relationship)
      : followingIds(session.userId).then((ids) => ({ following: ids.has(user.user_id), requested: false }));
    known.then((rel) => {
      relation = rel.following ? "follow" : rel.requested ? "requested" : "none";
      show();
      follow.disabled = false;
    }).catch(() => {
      follow.disabled = false; // assume not following; the write is idempotent anyway
    });
    follow.addEventListener("click", async () => {
      const was = relation;
      follow.disabled = true;
      try {
        const path = `/v1/users/me/following/${enc(user.user_id)}`;
        if (was === "none") {
          const { status } = await api.put(path);
          relation = status === 202 ? "requested" : "follow";
        } else {
          await api.del(path);
          relation = "none";
        }
        if (was === "follow" || relation === "follow") {
          user.followers = Math.max(0, (Number(user.followers) || 0) + (relation === "follow" ? 1 : -1));
        }
        show();
        renderCounts();
        toast(relation === "follow" ? `You follow @${user.username} now.`
          : relation === "requested" ? `Follow request sent to @${user.username}.`
            : was === "requested" ? "Your follow request is cancelled." : `You unfollowed @${user.username}.`);
      } catch (error) {
        toast(error.message, { error: true });
      } finally {
        follow.disabled = false;
        follow.focus();
      }
    });
  }

  if (user.private) {
    actions.append(h("span", { class: "private-badge", title: "Private account" }, svgIcon("lock"),
      h("span", {}, "Private")));
  }
  const sees = mine || !user.private || (user.relationship && user.relationship.following);
  if (!sees) {
    grid.replaceWith(privatePanel(session.loggedIn
      ? "Follow this account to see their photos. They approve who follows them."
      : "Log in and follow this account to see their photos."));
    return;
  }
  pager({
    list: grid, host: section, path: `/v1/users/${enc(user.user_id)}/photos`, current, limit: 18,
    render: (photo) => h("a", { class: "grid-item", href: `#/p/${enc(photo.photo_id)}` },
      squareImage(photo),
      h("span", { class: "grid-meta", "aria-hidden": "true" }, `♥ ${photo.likes}  💬 ${photo.comments}`)),
    empty: () => h("p", { class: "muted empty" }, mine ? "You have not posted yet. " : "No posts yet.",
      mine ? h("a", { href: "#/upload" }, "Upload a photo") : null),
  });
}

/** The profile's settings (on phones the only place with Log out: the tab bar has none). */
function settingsButton(slot) {
  const button = h("button", { type: "button", class: "btn btn-icon", "aria-expanded": "false",
    "aria-controls": "settings-panel" }, svgIcon("settings"), h("span", {}, "Settings"));
  button.addEventListener("click", () => {
    const opening = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(opening));
    clear(slot);
    if (!opening) return;
    const out = h("button", { type: "button", class: "btn", onclick: logOut }, "Log out");
    slot.append(h("div", { class: "card settings", id: "settings-panel" },
      h("h2", {}, "Settings"),
      h("p", { class: "muted small" }, `Logged in as @${(state.me && state.me.username) || ""}.`),
      out,
      privacySwitch(),
      h("a", { href: "#/requests", class: "settings-link" }, "Follow requests"),
      controlList("blocks", "Blocked accounts", "Unblock", "You have not blocked anyone."),
      controlList("mutes", "Muted accounts", "Unmute", "You have not muted anyone."),
      dataSettings(),
      deleteAccountSettings()));
    out.focus();
  });
  return button;
}

/** "Download my data": the zip of GET /v1/users/me/export, saved under the server's name. */
function dataSettings() {
  const status = h("p", { class: "hint", id: "export-status", "aria-live": "polite" });
  const button = h("button", { type: "button", class: "btn", id: "export-button",
    "aria-describedby": "export-hint export-status" }, "Download my data");
  button.addEventListener("click", async () => {
    busy(button, true, "Preparing your data…");
    status.textContent = "Preparing your data. A large account can take a few minutes.";
    status.classList.remove("form-error");
    try {
      const { blob, filename } = await download("/v1/users/me/export");
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: filename, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      status.textContent = `Downloaded ${filename}.`;
    } catch (error) {
      status.textContent = error.message;
      status.classList.add("form-error");
    } finally {
      busy(button, false, "Preparing your data…");
    }
  });
  return h("section", { class: "settings-section", "aria-labelledby": "data-heading" },
    h("h3", { id: "data-heading" }, "Your data"),
    h("p", { class: "hint", id: "export-hint" }, "A zip file of your profile, your photos as you "
      + "uploaded them, your comments, likes, follows and followers."),
    button, status);
}

/** "Delete account": a dialog asking for the password, then DELETE /v1/users/me. */
function deleteAccountSettings() {
  const open = h("button", { type: "button", class: "btn btn-danger", id: "delete-account-button" },
    "Delete account");
  open.addEventListener("click", () => openDeleteDialog(open));
  return h("section", { class: "settings-section", "aria-labelledby": "delete-heading" },
    h("h3", { id: "delete-heading" }, "Delete your account"),
    h("p", { class: "hint" }, "Your profile, photos, comments and likes are deleted for good."),
    open);
}

function openDeleteDialog(opener) {
  const errors = formErrorSlot();
  const submit = h("button", { type: "submit", class: "btn btn-danger" }, "Delete my account");
  const cancel = h("button", { type: "button", class: "btn" }, "Cancel");
  const form = h("form", { class: "form dialog-form", novalidate: true },
    h("h2", { id: "delete-dialog-title" }, "Delete your account?"),
    h("p", { id: "delete-dialog-text" }, "This deletes your profile, your photos, your comments "
      + "and your likes, and frees your username. It can't be undone. You may want to download "
      + "your data first."),
    field("delete-password", "Your password", { type: "password", autocomplete: "current-password",
      required: true }),
    errors,
    h("div", { class: "row" }, submit, cancel));
  const dialog = h("dialog", { class: "card dialog", id: "delete-dialog",
    "aria-labelledby": "delete-dialog-title", "aria-describedby": "delete-dialog-text" }, form);
  const close = () => {
    dialog.close();
  };
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener.isConnected) opener.focus();
  });
  cancel.addEventListener("click", close);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(errors);
    const password = form.elements["delete-password"].value;
    if (!password) {
      errors.append(errorBox("Enter your password."));
      form.elements["delete-password"].focus();
      return;
    }
    busy(submit, true, "Deleting…");
    cancel.disabled = true;
    try {
      // noExpire: a 401 here is a wrong password, not an ended session.
      await api.del("/v1/users/me", { json: { password }, noExpire: true });
    } catch (error) {
      busy(submit, false, "Deleting…");
      cancel.disabled = false;
      errors.append(errorBox(error.status === 401 ? "Wrong password." : error.message));
      form.elements["delete-password"].select();
      return;
    }
    dialog.close();
    forgetSession();
    go("#/goodbye");
  });
  document.body.append(dialog);
  dialog.showModal();
  form.elements["delete-password"].focus();
}

function goodbyeView() {
  append(main, h("section", { class: "page narrow goodbye" },
    h("h1", {}, "Your account is deleted"),
    h("p", {}, "Goodbye, and thank you for sharing your photos here. Your profile, photos, "
      + "comments and likes are gone."),
    h("p", {}, h("a", { class: "btn btn-primary", href: "#/signup" }, "Create a new account"))));
}

/** The "⋯" menu on someone else's profile: Block / Unblock and Mute / Unmute. */
function profileMenu(user, relationship) {
  const name = `@${user.username}`;
  return menuButton(`More options for ${name}`, () => [
    relationship.muting
      ? { label: `Unmute ${name}`, onSelect: () => setMuted(user, relationship, false) }
      : { label: `Mute ${name}`, onSelect: () => setMuted(user, relationship, true) },
    relationship.blocking
      ? { label: `Unblock ${name}`, onSelect: () => unblockFromProfile(user) }
      : { label: `Block ${name}`, danger: true, onSelect: () => blockFromProfile(user) },
  ]);
}

async function setMuted(user, relationship, muted) {
  try {
    await (muted ? controls.mute(user.user_id) : controls.unmute(user.user_id));
    relationship.muting = muted;
    toast(muted ? `You muted @${user.username}. Their posts won't show in your feed.`
      : `You unmuted @${user.username}.`);
  } catch (error) {
    toast(error.message, { error: true });
  }
}

async function blockFromProfile(user) {
  if (!confirm(`Block @${user.username}? They won't be able to find your profile or see your `
    + "posts, and you won't see theirs. You'll stop following each other. They won't be told.")) return;
  try {
    await controls.block(user.user_id);
    toast(`You blocked @${user.username}.`);
    route(); // the profile again, as a blocker sees it
  } catch (error) {
    toast(error.message, { error: true });
  }
}

async function unblockFromProfile(user) {
  try {
    await controls.unblock(user.user_id);
    toast(`You unblocked @${user.username}.`);
    route();
  } catch (error) {
    toast(error.message, { error: true });
  }
}

/** A settings list of the people you block or mute, each with its undo button. */
function controlList(kind, title, undo, empty) {
  const list = h("ul", { class: "people-list", "aria-label": title });
  const section = h("section", { class: "control-list", id: `settings-${kind}` },
    h("h3", {}, title), list);
  const row = (person) => {
    const button = h("button", { type: "button", class: "btn btn-small" }, undo);
    const item = h("li", {}, userLink(person), button);
    button.setAttribute("aria-label", `${undo} @${person.username}`);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api.del(controls.path(kind, person.user_id));
        item.remove();
        toast(`${undo === "Unblock" ? "Unblocked" : "Unmuted"} @${person.username}.`);
        if (!list.children.length) list.replaceWith(h("p", { class: "muted small" }, empty));
      } catch (error) {
        button.disabled = false;
        toast(error.message, { error: true });
      }
    });
    return item;
  };
  pager({ list, host: section, path: `/v1/users/me/${kind}`, current: () => section.isConnected
    || !section.parentNode, limit: 20, render: row,
    empty: () => h("p", { class: "muted small" }, empty) });
  return section;
}

/** "Private account": a switch that saves at once (PATCH /v1/users/me {private}). */
function privacySwitch() {
  const input = h("input", { id: "private-switch", type: "checkbox", role: "switch",
    "aria-describedby": "private-hint" });
  input.checked = Boolean(state.me && state.me.private);
  input.addEventListener("change", async () => {
    const wanted = input.checked;
    input.disabled = true;
    try {
      const { data } = await api.patch("/v1/users/me", { private: wanted });
      state.me = { ...(state.me || {}), ...(data || {}), private: wanted };
      toast(wanted ? "Your account is private now: you approve who follows you."
        : "Your account is public now; pending follow requests were approved.");
    } catch (error) {
      input.checked = !wanted;
      toast(error.message, { error: true });
    } finally {
      input.disabled = false;
    }
  });
  return h("div", { class: "switch-row" },
    h("label", { for: "private-switch" }, input, h("span", { class: "switch-track", "aria-hidden": "true" }),
      h("span", {}, "Private account")),
    h("p", { id: "private-hint", class: "muted small" },
      "Only people you approve see your photos and who you follow. Everyone still sees your name, picture and bio."));
}

/** What a private account shows instead of its photos to those who may not see them. */
function privatePanel(text) {
  return h("div", { class: "card private-panel", id: "private-panel" },
    svgIcon("lock"),
    h("h2", {}, "This account is private"),
    h("p", { class: "muted" }, text));
}

// --- follow requests ----------------------------------------------------------------

function followRequestsView(current) {
  const list = h("ul", { class: "request-list", id: "request-list" });
  const listed = new Set(); // user ids with a row, from the pages or live
  const section = h("section", { class: "page narrow" },
    h("h1", {}, "Follow requests"),
    h("p", { class: "muted" }, state.me && !state.me.private
      ? "Your account is public: anyone can follow you. Make it private in your profile's settings to approve followers."
      : "People who asked to follow you. Only those you approve see your photos."),
    list);
  append(main, section);
  const render = (person) => {
    if (listed.has(person.user_id)) return null; // arrived live while the list loaded
    listed.add(person.user_id);
    const row = h("li", { class: "request" });
    const approve = h("button", { type: "button", class: "btn btn-primary" }, "Approve");
    const decline = h("button", { type: "button", class: "btn" }, "Decline");
    const answer = async (method, done) => {
      approve.disabled = decline.disabled = true;
      try {
        await (method === "PUT" ? api.put : api.del)(`/v1/users/me/follow-requests/${enc(person.user_id)}`);
        clear(row).append(userLink(person, { size: 40 }),
          h("span", { class: "muted request-done", role: "status" }, done));
      } catch (error) {
        approve.disabled = decline.disabled = false;
        toast(error.message, { error: true });
      }
    };
    approve.addEventListener("click", () => answer("PUT", "Approved: they follow you now."));
    decline.addEventListener("click", () => answer("DELETE", "Declined."));
    append(row, userLink(person, { size: 40 }),
      h("span", { class: "muted small" }, person.display_name || "", " · ", timeEl(person.requested_at)),
      h("span", { class: "row request-actions" }, approve, decline));
    return row;
  };
  pager({
    list, host: section, path: "/v1/users/me/follow-requests", current, limit: 20, render,
    empty: () => h("p", { class: "muted empty", id: "requests-empty" }, "No one is waiting for your approval."),
  });
  // A request made while the page is open is added at the top, from its live notification.
  state.requestsPage = {
    add(person) {
      if (!current() || !list.isConnected) return;
      const row = render(person);
      if (!row) return;
      document.getElementById("requests-empty")?.remove();
      list.prepend(row);
    },
  };
}

function profileEditor(user, saved, close) {
  const errors = formErrorSlot();
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Save");
  const form = h("form", { class: "card form editor", novalidate: true },
    h("h2", {}, "Edit profile"),
    field("edit-display-name", "Display name", { value: user.display_name || "", maxlength: 256 }),
    field("edit-bio", "Bio", { tag: "textarea", rows: 3, maxlength: 2000 }),
    field("edit-location", "Location", { value: user.location || "", maxlength: 400 }),
    h("div", { class: "field" }, h("label", { for: "edit-avatar" }, "Avatar"),
      h("input", { id: "edit-avatar", type: "file", accept: "image/jpeg,image/png,image/webp" })),
    errors,
    h("div", { class: "row" }, submit,
      h("button", { type: "button", class: "btn", onclick: close }, "Cancel")));
  form.elements["edit-bio"].value = user.bio || "";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(errors);
    const displayName = form.elements["edit-display-name"].value.trim();
    if (!displayName) {
      errors.append(errorBox("Enter a display name."));
      return;
    }
    busy(submit, true, "Saving…");
    try {
      const { data } = await api.patch("/v1/users/me", {
        display_name: displayName,
        bio: form.elements["edit-bio"].value,
        location: form.elements["edit-location"].value.trim(),
      });
      Object.assign(user, { display_name: displayName, bio: form.elements["edit-bio"].value,
        location: form.elements["edit-location"].value.trim() }, data || {});
      const file = form.elements["edit-avatar"].files[0];
      if (file) {
        const body = new FormData();
        body.append("file", file);
        const { data: pic } = await api.upload("PUT", "/v1/users/me/avatar", body);
        user.avatar_url = pic.avatar_url;
      }
      state.me = { ...(state.me || {}), ...user };
      saved();
      toast("Your profile is saved.");
      close();
    } catch (error) {
      errors.append(errorBox(error.message));
    } finally {
      busy(submit, false, "Saving…");
    }
  });
  return form;
}

// --- photo page ---------------------------------------------------------------------

async function photoView(photoId, current) {
  let photo;
  try {
    photo = await api.get(`/v1/photos/${enc(photoId)}`);
  } catch (error) {
    if (error.status === 404) {
      append(main, h("section", { class: "page narrow" }, h("h1", {}, "Photo not found"),
        h("p", {}, "This photo was deleted or never existed. ", h("a", { href: "#/" }, "Go home"), ".")));
      return;
    }
    if (error.code === "private_account") {
      append(main, h("section", { class: "page narrow" }, h("h1", {}, "This photo is private"),
        privatePanel("Only the approved followers of its owner can see it.")));
      return;
    }
    throw error;
  }
  if (!current()) return;
  const mine = session.userId && photo.owner && photo.owner.user_id === session.userId;
  const { button, count } = likeBlock(photo);
  const commentCount = h("span", { class: "count" }, plural(photo.comments, "comment"));
  const comments = h("ul", { class: "comments", "aria-label": "Comments" });
  const more = h("div", {});
  // The author comes first (above the photo on phones, beside it on wide screens).
  const head = h("header", { class: "card-head photo-head" }, userLink(photo.owner),
    photo.location ? h("span", { class: "location" }, photo.location) : null,
    h("h1", { class: "sr-only" }, `Photo by ${photo.owner && photo.owner.username}`));
  const side = h("div", { class: "photo-side" },
    photo.caption ? h("p", { class: "caption" }, captionNodes(photo.caption)) : null,
    taggedLine(photo),
    h("p", { class: "muted small" }, timeEl(photo.created_at)),
    h("div", { class: "actions" }, button, count, commentCount),
    h("h2", { class: "section-title" }, "Comments"),
    comments, more);
  const adjustComments = (delta) => {
    photo.comments = Math.max(0, (Number(photo.comments) || 0) + delta);
    commentCount.textContent = plural(photo.comments, "comment");
  };
  const renderComment = (comment) => {
    const author = comment.author || {};
    const canDelete = session.userId && (author.user_id === session.userId || mine);
    const item = h("li", { class: "comment", dataset: { commentId: comment.comment_id } },
      userLink(author, { size: 24 }), " ",
      h("span", { class: "comment-text" }, captionNodes(comment.text)), " ",
      h("span", { class: "muted small" }, timeEl(comment.created_at)));
    if (canDelete) {
      const del = h("button", { type: "button", class: "link-button", "aria-label": "Delete comment" }, "Delete");
      del.addEventListener("click", async () => {
        if (!confirm("Delete this comment?")) return;
        del.disabled = true;
        try {
          await api.del(`/v1/photos/${enc(photo.photo_id)}/comments/${enc(comment.comment_id)}`);
          item.remove();
          adjustComments(-1);
          toast("Comment deleted.");
        } catch (error) {
          del.disabled = false;
          toast(error.message, { error: true });
        }
      });
      item.append(" ", del);
    }
    return item;
  };
  if (session.loggedIn) {
    const errors = formErrorSlot();
    const input = h("input", { id: "comment-text", name: "text", maxlength: 4000, autocomplete: "off" });
    const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Post");
    const form = h("form", { class: "comment-form", novalidate: true },
      h("label", { for: "comment-text" }, "Comment"), h("div", { class: "row" }, input, submit), errors);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clear(errors);
      const text = input.value.trim();
      if (!text) {
        errors.append(errorBox("Write something first."));
        return;
      }
      busy(submit, true);
      try {
        const { data } = await api.post(`/v1/photos/${enc(photo.photo_id)}/comments`, { text });
        if (!comments.children.length) clear(more);
        comments.append(renderComment({ comment_id: data.comment_id, author: state.me || { user_id: session.userId },
          text, created_at: new Date().toISOString() }));
        adjustComments(1);
        input.value = "";
      } catch (error) {
        errors.append(errorBox(error.message));
      } finally {
        busy(submit, false);
        input.focus();
      }
    });
    side.append(form);
  }
  const image = photoImage(photo, { mode: "page", eager: true });
  if (mine) side.append(altTextEditor(photo, image.querySelector("img")));
  if (mine) {
    const del = h("button", { type: "button", class: "btn btn-danger" }, "Delete photo");
    del.addEventListener("click", async () => {
      if (!confirm("Delete this photo? This can't be undone.")) return;
      busy(del, true);
      try {
        await api.del(`/v1/photos/${enc(photo.photo_id)}`);
        state.pinned = state.pinned.filter((p) => p.photo_id !== photo.photo_id);
        toast("Photo deleted.");
        go(`#/u/${enc(photo.owner.username)}`);
      } catch (error) {
        busy(del, false);
        toast(error.message, { error: true });
      }
    });
    side.append(h("div", { class: "danger-zone" }, del));
  }
  append(main, h("section", { class: "page photo-page" }, head,
    h("div", { class: "photo-main" }, image),
    side));

  let cursor = null;
  const loadComments = async () => {
    clear(more).append(h("p", { class: "muted", role: "status" }, "Loading comments…"));
    try {
      const page = await api.get(`/v1/photos/${enc(photo.photo_id)}/comments?limit=20${cursor ? `&cursor=${enc(cursor)}` : ""}`);
      if (!current()) return;
      clear(more);
      (page.items || []).forEach((c) => comments.append(renderComment(c)));
      cursor = page.next_cursor;
      if (cursor) more.append(h("button", { type: "button", class: "link-button", onclick: loadComments }, "More comments"));
      else if (!comments.children.length) more.append(h("p", { class: "muted" }, "No comments yet."));
    } catch (error) {
      if (!current()) return;
      clear(more).append(errorBox(error.message),
        h("button", { type: "button", class: "btn", onclick: loadComments }, "Try again"));
    }
  };
  loadComments();
}

/**
 * The owner's "Edit alt text" control on the photo page: a button that opens a small
 * form; saving PATCHes the photo and gives `img` its new alt at once.
 */
function altTextEditor(photo, img) {
  const box = h("div", { class: "alt-text-editor" });
  const open = h("button", { type: "button", class: "link-button", "aria-expanded": "false" },
    "Edit alt text");
  const showButton = () => {
    open.setAttribute("aria-expanded", "false");
    clear(box).append(open);
  };
  open.addEventListener("click", () => {
    open.setAttribute("aria-expanded", "true");
    const errors = formErrorSlot();
    const altText = altTextField("photo-alt-text", photo.alt_text || "");
    const save = h("button", { type: "submit", class: "btn btn-primary" }, "Save alt text");
    const cancel = h("button", { type: "button", class: "btn", onclick: showButton }, "Cancel");
    const form = h("form", { class: "form alt-text-form", novalidate: true },
      altText.node, errors, h("div", { class: "row" }, save, cancel));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clear(errors);
      setFieldError(altText.input, null);
      busy(save, true);
      try {
        const text = altText.input.value.trim();
        const { data } = await api.patch(`/v1/photos/${enc(photo.photo_id)}`,
          { alt_text: text || null });
        photo.alt_text = data.alt_text;
        if (img) img.alt = photoAlt(photo);
        toast(photo.alt_text ? "Alt text saved." : "Alt text removed.");
        showButton();
      } catch (error) {
        busy(save, false);
        if (error.code === "alt_text_too_long") setFieldError(altText.input, error.message);
        else errors.append(errorBox(error.message));
      }
    });
    clear(box).append(form);
    altText.input.focus();
  });
  showButton();
  return box;
}

// --- search -------------------------------------------------------------------------

async function searchView(q, current) {
  const query = q.trim().slice(0, 200);
  const input = document.getElementById("search-input");
  if (input && document.activeElement !== input) input.value = query;
  const section = h("section", { class: "page search-page" },
    h("h1", {}, query ? `Results for “${query}”` : "Search"));
  append(main, section);
  if (!query) {
    section.append(h("p", { class: "muted" }, "Type a name, words or a #hashtag in the search box."));
    if (input) input.focus();
    return;
  }
  if (!query.startsWith("#")) {
    const people = h("ul", { class: "people" });
    section.append(h("h2", { class: "section-title" }, "People"), people);
    api.get(`/v1/search/users?q=${enc(query.replace(/^@/, ""))}&limit=8`).then((page) => {
      if (!current()) return;
      if (!page.items.length) people.append(h("li", { class: "muted" }, "No people found."));
      page.items.forEach((u) => people.append(h("li", {}, userLink(u),
        u.display_name ? h("span", { class: "muted" }, ` ${u.display_name}`) : null)));
    }).catch((error) => current() && people.append(h("li", {}, errorBox(error.message))));
  }
  if (query.startsWith("@")) return;
  const grid = h("div", { class: "grid" });
  section.append(h("h2", { class: "section-title" }, "Photos"), grid);
  pager({
    list: grid, host: section, path: `/v1/search/photos?q=${enc(query)}`, current, limit: 18,
    render: (photo) => h("a", { class: "grid-item", href: `#/p/${enc(photo.photo_id)}` }, squareImage(photo)),
    empty: () => h("p", { class: "muted empty" }, "No photos found."),
  });
}

// --- search box with type-ahead -----------------------------------------------------

const searchInput = document.getElementById("search-input");
const suggestions = document.getElementById("search-suggestions");
let suggestTimer;
let suggestSeq = 0;
let activeIndex = -1;

function closeSuggestions() {
  clear(suggestions);
  suggestions.hidden = true;
  searchInput.setAttribute("aria-expanded", "false");
  searchInput.removeAttribute("aria-activedescendant");
  activeIndex = -1;
}

function setActive(index) {
  const options = [...suggestions.querySelectorAll("[role=option]")];
  if (!options.length) return;
  activeIndex = (index + options.length) % options.length;
  options.forEach((o, i) => o.setAttribute("aria-selected", String(i === activeIndex)));
  searchInput.setAttribute("aria-activedescendant", options[activeIndex].id);
  options[activeIndex].scrollIntoView({ block: "nearest" });
}

// The hashtag being typed at the end of the box ("sunset #bea" -> "bea"), or null.
function typedHashtag(text) {
  const match = /(?:^|\s)#([\p{L}\p{N}_]*)$/u.exec(text);
  return match ? match[1] : null;
}

/** People and hashtags that start with what is typed. A part that fails (e.g. a server
 *  without GET /v1/search/hashtags) just offers nothing: the type-ahead is a nicety. */
async function suggestionsFor(text) {
  const tag = typedHashtag(text);
  const wantPeople = tag === null;
  const tagPrefix = tag !== null ? tag : text.startsWith("@") ? "" : text;
  const [people, tags] = await Promise.all([
    wantPeople ? api.get(`/v1/search/users?q=${enc(text.replace(/^@/, ""))}&limit=6`)
      .then((page) => page.items || [], () => []) : [],
    tagPrefix && /^[\p{L}\p{N}_]+$/u.test(tagPrefix)
      ? api.get(`/v1/search/hashtags?q=${enc(tagPrefix)}&limit=${wantPeople ? 3 : 6}`)
        .then((page) => page.items || [], () => []) : [],
  ]);
  return { people, tags: tags.filter((t) => t && t.tag) };
}

async function suggest() {
  const text = searchInput.value.trim();
  const seq = ++suggestSeq;
  if (!text || text === "@" || text === "#") {
    closeSuggestions();
    return;
  }
  const { people, tags } = await suggestionsFor(text);
  if (seq !== suggestSeq) return;
  clear(suggestions);
  activeIndex = -1;
  const option = (content, dataset, onChoose) => {
    const node = h("li", { id: `suggestion-${suggestions.children.length}`, role: "option",
      "aria-selected": "false", class: "suggestion", dataset }, content);
    node.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus
    node.addEventListener("click", onChoose);
    suggestions.append(node);
    return node;
  };
  for (const u of people) {
    option([avatar(u, 28), h("span", {}, h("strong", {}, u.username),
      u.display_name ? h("span", { class: "muted" }, ` ${u.display_name}`) : null)],
    { username: u.username }, () => {
      closeSuggestions();
      searchInput.value = "";
      go(`#/u/${enc(u.username)}`);
    });
  }
  for (const t of tags) {
    option([h("span", { class: "tag-mark", "aria-hidden": "true" }, "#"),
      h("span", {}, h("strong", {}, `#${t.tag}`),
        Number.isFinite(Number(t.photos)) ? h("span", { class: "muted" }, ` ${plural(t.photos, "post")}`) : null)],
    { tag: t.tag }, () => {
      // Complete the hashtag being typed ("sunset #bea" -> "sunset #beach"), or search
      // for the tag alone when plain words suggested it.
      searchInput.value = typedHashtag(text) === null ? `#${t.tag}`
        : text.replace(/#[\p{L}\p{N}_]*$/u, `#${t.tag}`);
      submitSearch();
    });
  }
  option(`Search for “${text}”`, { query: text }, () => submitSearch()).classList.add("all");
  suggestions.hidden = false;
  searchInput.setAttribute("aria-expanded", "true");
}

function submitSearch() {
  const q = searchInput.value.trim();
  closeSuggestions();
  if (!q) {
    searchInput.focus();
    return;
  }
  go(`#/search?q=${enc(q)}`);
}

searchInput.addEventListener("input", () => {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(suggest, 180);
});
searchInput.addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown" && !suggestions.hidden) {
    event.preventDefault();
    setActive(activeIndex + 1);
  } else if (event.key === "ArrowUp" && !suggestions.hidden) {
    event.preventDefault();
    setActive(activeIndex - 1);
  } else if (event.key === "Escape") {
    closeSuggestions();
  } else if (event.key === "Enter" && activeIndex >= 0 && !suggestions.hidden) {
    event.preventDefault();
    const option = suggestions.querySelectorAll("[role=option]")[activeIndex];
    if (option) option.click();
  }
});
searchInput.addEventListener("blur", () => setTimeout(closeSuggestions, 150));
document.getElementById("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  submitSearch();
});

// --- notifications ------------------------------------------------------------------

const panel = document.getElementById("notif-panel");
const panelList = document.getElementById("notif-list");

const VERBS = {
  follow: "started following you",
  like: "liked your photo",
  comment: "commented on your photo",
  tag: "tagged you in a photo",
  follow_request: "asked to follow you",
  follow_request_approved: "approved your follow request",
};

function notificationText(n) {
  const who = (n.actor && (n.actor.display_name || n.actor.username)) || "Someone";
  return `${who} ${VERBS[n.type] || "did something"}`;
}

function updateBadge() {
  const badge = document.getElementById("notif-count");
  const sr = document.getElementById("notif-count-sr");
  if (!badge) return;
  const n = state.unread;
  const text = n > 99 || state.moreUnread ? `${Math.min(n, 99)}+` : String(n);
  badge.textContent = text;
  badge.hidden = n === 0;
  sr.textContent = n ? ` (${text} unread)` : "";
  document.title = n ? `(${text}) photoshare` : "photoshare";
}

/** The square thumbnail of a notification's photo: from the notification itself when the
 *  API sends one, else from the photo (fetched once per photo; notifications concern few). */
function thumbnailUrl(n) {
  const given = n.photo && variantsOf(n.photo).square;
  if (given) return Promise.resolve(given.url);
  if (!state.thumbnails.has(n.photo_id)) {
    state.thumbnails.set(n.photo_id, api.get(`/v1/photos/${enc(n.photo_id)}`)
      .then((photo) => {
        const variants = variantsOf(photo);
        return (variants.square || variants.medium || variants.large || {}).url || null;
      }, () => null)); // deleted, or private: no thumbnail, nothing else changes
  }
  return state.thumbnails.get(n.photo_id);
}

function notificationThumbnail(n) {
  if (!n.photo_id) return null;
  const box = h("span", { class: "notif-thumb", "aria-hidden": "true" });
  thumbnailUrl(n).then((url) => {
    if (url) box.append(h("img", { src: url, alt: "", width: 44, height: 44, decoding: "async" }));
    else box.remove();
  });
  return box;
}

function renderNotifications() {
  clear(panelList);
  if (!state.notifications.length) {
    panelList.append(h("li", { class: "muted empty" }, "No notifications yet."));
    return;
  }
  for (const n of state.notifications) {
    const href = n.photo_id ? `#/p/${enc(n.photo_id)}` : n.type === "follow_request" ? "#/requests"
      : n.actor && n.actor.username ? `#/u/${enc(n.actor.username)}` : "#/";
    // New since the panel was last looked at: highlighted while it stays open, although
    // opening it has marked them read.
    const fresh = !n.read || state.highlighted.has(n.notification_id);
    panelList.append(h("li", { class: `notification${fresh ? " unread" : ""}` },
      h("a", { href, onclick: () => { markOneRead(n); closeNotifications(false); } },
        avatar(n.actor, 32),
        h("span", { class: "notif-text" }, notificationText(n),
          fresh ? h("span", { class: "sr-only" }, " (new)") : null,
          h("span", { class: "muted small notif-time" }, " ", timeEl(n.created_at))),
        notificationThumbnail(n))));
  }
}

/** Marks every notification shown in the open panel read (POST /v1/notifications/read up
 *  to the newest): the badge clears as soon as the panel opens, as people expect. */
async function markShownRead() {
  if (panel.hidden) return;
  const unread = state.notifications.filter((n) => !n.read);
  if (!unread.length) return;
  if (state.marking) {
    await state.marking.catch(() => {});
    return markShownRead();
  }
  const newest = state.notifications[0];
  unread.forEach((n) => {
    n.read = true;
    state.highlighted.add(n.notification_id);
  });
  const before = { unread: state.unread, more: state.moreUnread };
  state.unread = 0;
  state.moreUnread = false;
  updateBadge();
  state.marking = api.post("/v1/notifications/read", { up_to: newest.notification_id });
  try {
    await state.marking;
  } catch (error) {
    // Not marked after all: show them unread again.
    unread.forEach((n) => { n.read = false; });
    state.unread = before.unread;
    state.moreUnread = before.more;
    updateBadge();
    if (error.code !== "session_expired") toast(error.message, { error: true });
  } finally {
    state.marking = null;
  }
}

/** A clicked notification is read (and, as the read marker goes, all older ones). */
function markOneRead(n) {
  if (n.read) return;
  n.read = true;
  state.unread = state.notifications.filter((x) => !x.read).length;
  updateBadge();
  api.post("/v1/notifications/read", { up_to: n.notification_id }).catch(() => {});
}

async function loadNotifications() {
  if (!session.loggedIn) return;
  try {
    const page = await api.get("/v1/notifications?limit=50");
    const live = state.notifications.filter((n) => !page.items.some((p) => p.notification_id === n.notification_id));
    // What this tab already marked read stays read while the server catches up.
    const readHere = new Set(state.notifications.filter((n) => n.read).map((n) => n.notification_id));
    page.items.forEach((n) => { if (readHere.has(n.notification_id)) n.read = true; });
    state.notifications = [...live, ...page.items];
    state.unread = state.notifications.filter((n) => !n.read).length;
    state.moreUnread = Boolean(page.next_cursor) && page.items.every((n) => !n.read);
    updateBadge();
    document.body.dataset.notifications = "loaded";
    if (!panel.hidden) {
      renderNotifications();
      markShownRead();
    }
  } catch (error) {
    if (error.code !== "session_expired") {
      panelList.dataset.error = error.message;
    }
  }
}

function toggleNotifications() {
  if (panel.hidden) openNotifications();
  else closeNotifications(true);
}

function openNotifications() {
  state.highlighted.clear();
  renderNotifications();
  panel.hidden = false;
  const button = document.getElementById("notif-button");
  if (button) button.setAttribute("aria-expanded", "true");
  panel.querySelector("h2").focus();
  markShownRead().then(loadNotifications);
}

function closeNotifications(restoreFocus) {
  if (panel.hidden) return;
  panel.hidden = true;
  state.highlighted.clear();
  const button = document.getElementById("notif-button");
  if (button) {
    button.setAttribute("aria-expanded", "false");
    if (restoreFocus) button.focus();
  }
}

document.getElementById("notif-close").addEventListener("click", () => closeNotifications(true));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !panel.hidden) closeNotifications(true);
});
document.addEventListener("click", (event) => {
  if (!panel.hidden && !panel.contains(event.target) && !event.target.closest("#notif-button")) {
    closeNotifications(false);
  }
});

// --- live updates (Server-Sent Events) ----------------------------------------------

function startLive() {
  stopLive();
  if (!session.loggedIn || !window.EventSource) return;
  const source = new EventSource(`/v1/notifications/stream?access_token=${enc(session.token)}`);
  state.live = source;
  source.addEventListener("open", () => { document.body.dataset.live = "open"; });
  source.addEventListener("notification", (event) => {
    let item;
    try {
      item = JSON.parse(event.data);
    } catch {
      return;
    }
    if (state.notifications.some((n) => n.notification_id === item.notification_id)) return;
    if (item.type === "follow_request" && item.actor && state.requestsPage) {
      state.requestsPage.add({ ...item.actor, requested_at: item.created_at });
    }
    state.notifications.unshift(item);
    if (!item.read) state.unread += 1;
    updateBadge();
    announce(`New notification: ${notificationText(item)}`);
    if (!panel.hidden) {
      renderNotifications();
      markShownRead(); // it is in plain sight
    }
  });
  source.addEventListener("timeline", (event) => {
    let item;
    try {
      item = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!item.photo_id || item.owner_id === session.userId) return;
    if (state.feedShown && state.feedShown.has(item.photo_id)) return;
    state.newPosts.set(item.photo_id, Number(item.position) || 0);
    updateNewPosts();
  });
  source.addEventListener("error", () => {
    document.body.dataset.live = "reconnecting";
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. the token is no longer accepted): check, then retry.
      clearTimeout(state.liveRetry);
      state.liveRetry = setTimeout(async () => {
        if (state.live !== source) return;
        try {
          await api.get("/v1/users/me");
          startLive();
        } catch (error) {
          if (error.code !== "session_expired" && state.live === source) {
            state.liveRetry = setTimeout(() => state.live === source && startLive(), 10000);
          }
        }
      }, 5000);
    }
  });
}

function stopLive() {
  clearTimeout(state.liveRetry);
  if (state.live) state.live.close();
  state.live = null;
  delete document.body.dataset.live;
}

// --- start --------------------------------------------------------------------------

async function start() {
  if (session.loggedIn) {
    try {
      await loadMe();
    } catch (error) {
      if (error.code !== "session_expired") toast(error.message, { error: true });
    }
  }
  renderHeader();
  if (session.loggedIn) {
    startLive();
    loadNotifications();
  }
  window.addEventListener("hashchange", route);
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  await route();
}

start();
