// Describe / Vary / Edit: each form posts its fields and files as multipart, with the session's CSRF token.
"use strict";

(() => {
  const { el, csrf } = window.Studio;

  async function send(form) {
    const data = new FormData(form);
    for (const [name, value] of [...data.entries()]) {
      if (value === "" || (value instanceof File && !value.name)) data.delete(name); // left empty: the default
    }
    const response = await fetch(form.dataset.path, {
      method: "POST", credentials: "same-origin", headers: { Accept: "application/json", "X-CSRF-Token": csrf() }, body: data,
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = Array.isArray(answer.detail) ? answer.detail.map((d) => d.msg).join("; ") : answer.detail;
      throw new Error(detail || response.statusText);
    }
    return answer;
  }

  for (const form of document.querySelectorAll("form[data-path]")) {
    const out = form.parentElement.querySelector(".answer");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      out.replaceChildren("Working…");
      try {
        const answer = await send(form);
        if (answer.prompts) {
          out.replaceChildren(...answer.prompts.map((p) =>
            el("li", {}, p, " ", el("a", { href: `/?${new URLSearchParams({ prompt: p })}` }, "use"))));
        } else {
          out.replaceChildren(`Queued as job #${answer.job_id}: follow it on `, el("a", { href: "/history" }, "History"), ".");
        }
      } catch (err) {
        out.replaceChildren(el("span", { class: "error" }, err.message));
      }
    });
  }
})();
