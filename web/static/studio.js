// The helpers every page shares: the API with the session's CSRF token, server-sent events, small DOM building.
// Pages load this first (base.html), then their own script, which uses `window.Studio`.
"use strict";

(() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  // One line from an error answer: the core's `detail`, or pydantic's list of field errors.
  const detailText = (data) => {
    if (!data || data.detail === undefined) return "";
    if (Array.isArray(data.detail)) return data.detail.map((d) => d.msg.replace(/^Value error, /, "")).join("; ");
    return String(data.detail);
  };

  // fetch() a JSON API route; unsafe methods carry X-CSRF-Token. Throws an Error with the server's words.
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(detailText(data) || `${response.status} ${response.statusText}`);
      error.data = data; // the answer's other fields (a refused plan's `force_images`)
      throw error;
    }
    return data;
  }

  // Listen to a server-sent event stream: `handlers` maps an event type to a function of its parsed data.
  function events(path, handlers) {
    const source = new EventSource(path);
    for (const [type, handle] of Object.entries(handlers)) {
      source.addEventListener(type, (e) => handle(JSON.parse(e.data)));
    }
    return source;
  }

  // el("button", {class: "x", onclick: f}, "text", child) → an element.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  const seconds = (s) => (s == null ? "" : s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);

  window.Studio = { api, events, el, csrf, seconds };
})();
