// The training hub: create a set, then go to its page.
"use strict";

(() => {
  const { api } = window.Studio;
  const form = document.getElementById("new-set");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = document.getElementById("form-error");
    error.textContent = "";
    const trigger = document.getElementById("set-trigger").value.trim();
    try {
      const made = await api("POST", "/api/trainsets", { name: document.getElementById("set-name").value, trigger_word: trigger || null });
      window.location.href = made.url;
    } catch (err) {
      error.textContent = err.message;
    }
  });
})();
