// Settings: API tokens. A new token's secret is shown once, here; the list never holds it.
"use strict";

(() => {
  const { api, el } = window.Studio;
  const message = document.getElementById("message");
  const secret = document.getElementById("secret");

  document.getElementById("new-token").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const made = await api("POST", "/api/tokens", { name: document.getElementById("token-name").value });
      secret.hidden = false;
      secret.replaceChildren("Copy it now, it is not shown again: ", el("code", { id: "secret-value" }, made.secret));
      document.getElementById("tokens").append(el("tr", { "data-id": made.id }, el("td", {}, made.name), el("td", {}, "just made")));
    } catch (err) {
      message.textContent = err.message;
    }
  });
  for (const row of document.querySelectorAll("#tokens tr[data-id]")) {
    row.querySelector(".revoke").addEventListener("click", async () => {
      try { await api("DELETE", `/api/tokens/${row.dataset.id}`); row.remove(); } catch (err) { message.textContent = err.message; }
    });
  }
})();
