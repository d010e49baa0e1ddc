// The Image page: ⭐ through PUT/DELETE /api/images/{id}/favourite, and copy the prompt.
"use strict";

(() => {
  const { api } = window.Studio;
  const id = document.getElementById("image").dataset.id;
  const star = document.getElementById("star");
  const message = document.getElementById("message");

  star.addEventListener("click", async () => {
    const on = star.getAttribute("aria-pressed") !== "true";
    try {
      await api(on ? "PUT" : "DELETE", `/api/images/${id}/favourite`);
      star.setAttribute("aria-pressed", String(on));
      star.textContent = on ? "⭐" : "☆";
    } catch (e) {
      message.textContent = e.message;
    }
  });

  document.getElementById("copy").addEventListener("click", async () => {
    const text = document.getElementById("prompt").textContent;
    try {
      await navigator.clipboard.writeText(text);
      message.textContent = "Copied.";
    } catch {
      window.getSelection().selectAllChildren(document.getElementById("prompt")); // no clipboard (http): select it
      message.textContent = "Selected: press Ctrl+C.";
    }
  });
})();
