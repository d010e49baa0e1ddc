// Collections: create, rename and delete through /api/collections.
"use strict";

(() => {
  const { api } = window.Studio;
  const message = document.getElementById("message");
  const attempt = async (f) => { try { await f(); window.location.reload(); } catch (e) { message.textContent = e.message; } };

  document.getElementById("new-collection").addEventListener("submit", (e) => {
    e.preventDefault();
    attempt(() => api("POST", "/api/collections", { name: document.getElementById("name").value }));
  });
  for (const row of document.querySelectorAll("#collections tr[data-id]")) {
    const id = row.dataset.id;
    row.querySelector(".rename").addEventListener("click", () => {
      const name = window.prompt("New name", row.querySelector("a").textContent);
      if (name) attempt(() => api("PATCH", `/api/collections/${id}`, { name }));
    });
    row.querySelector(".remove").addEventListener("click", () => {
      if (window.confirm("Delete this collection? Its images stay in the gallery.")) attempt(() => api("DELETE", `/api/collections/${id}`));
    });
  }
})();
