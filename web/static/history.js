// History: 🔄 reruns a job with new seeds (POST /api/jobs/{id}/reroll) and sends you to follow it on Create.
"use strict";

(() => {
  const { api } = window.Studio;
  for (const button of document.querySelectorAll("#history .rerun")) {
    button.addEventListener("click", async () => {
      const job = button.closest("tr").dataset.job;
      try {
        const ticket = await api("POST", `/api/jobs/${job}/reroll`);
        button.textContent = `queued #${ticket.job_id}`;
        button.disabled = true;
      } catch (e) {
        document.getElementById("message").textContent = e.message;
      }
    });
  }
})();
