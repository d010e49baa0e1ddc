// What the training pages share besides window.Studio: a multipart upload with the session's CSRF token.
"use strict";

(() => {
  // POST a FormData (files) to a JSON API route; throws an Error with the server's one line.
  async function upload(path, form) {
    const response = await fetch(path, {
      method: "POST", body: form, credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": window.Studio.csrf() },
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : data.detail;
      throw new Error(detail || `${response.status} ${response.statusText}`);
    }
    return data;
  }
  window.Train = { upload };
})();
