// Test a LoRA: the same prompt and seed at LoRA scales 0.8, 1.0 and 1.2, side by side.
"use strict";

(() => {
  const { api, events, el, seconds } = window.Studio;
  const form = document.getElementById("test");

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = document.getElementById("form-error");
    error.textContent = "";
    const seed = document.getElementById("seed").value;
    for (const figure of document.querySelectorAll(".scale")) {
      figure.querySelector(".cell").replaceChildren();
      figure.querySelector(".cell").className = "cell pending";
      figure.querySelector(".status").textContent = "";
    }
    for (const figure of document.querySelectorAll(".scale")) {
      const scale = Number(figure.dataset.scale); // "1.0" names the figure; 1 is the number sent
      const state = figure.querySelector(".status");
      let ticket;
      try {
        ticket = await api("POST", "/api/generate/text-to-image", {
          prompt: document.getElementById("prompt").value, model: form.dataset.model, num_outputs: 1,
          lora_scale: scale, seed: seed === "" ? null : Number(seed),
        });
      } catch (err) {
        error.textContent = err.message;
        return;
      }
      const stream = events(ticket.events_url, {
        queued: (ev) => { state.textContent = ev.position > 0 ? `queued #${ev.position + 1}` : "starting"; },
        progress: (ev) => { state.textContent = `${ev.step}/${ev.total}` + (ev.eta_s != null ? `, ETA ${seconds(ev.eta_s)}` : ""); },
        done: (ev) => {
          stream.close();
          state.textContent = "";
          const cell = figure.querySelector(".cell");
          cell.className = "cell";
          cell.replaceChildren(...ev.images.map((i) => el("a", { href: i.url }, el("img", { src: i.url, alt: `scale ${scale}` }))));
        },
        failed: (ev) => { stream.close(); state.textContent = ev.message; },
        cancelled: () => { stream.close(); state.textContent = "cancelled"; },
      });
    }
  });
})();
