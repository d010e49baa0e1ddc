// Auto-posts: add, pause, resume and delete schedules through /api/autoposts (managers only; the core decides).
"use strict";

(() => {
  const { api } = window.Studio;
  const message = document.getElementById("message");
  const attempt = async (f) => { try { await f(); window.location.reload(); } catch (e) { message.textContent = e.message; } };

  document.getElementById("new-schedule")?.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(e.target).entries());
    const body = { channel_id: Number(data.channel_id), schedule: data.schedule, prompt: data.prompt };
    if (data.name) body.name = data.name;
    attempt(() => api("POST", "/api/autoposts", body));
  });
  for (const row of document.querySelectorAll("#schedules tr[data-id]")) {
    const id = row.dataset.id;
    row.querySelector(".pause")?.addEventListener("click", () => attempt(() => api("POST", `/api/autoposts/${id}/pause`)));
    row.querySelector(".resume")?.addEventListener("click", () => attempt(() => api("POST", `/api/autoposts/${id}/resume`)));
    row.querySelector(".remove")?.addEventListener("click", () => {
      if (window.confirm("Delete this schedule?")) attempt(() => api("DELETE", `/api/autoposts/${id}`));
    });
  }
})();
