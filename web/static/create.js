// The Create page: submit through POST /api/generate/text-to-image, follow every job on one /api/events stream,
// fill each job's grid with its thumbnails, and the U / V / 🔄 / ✖ buttons through the same API.
"use strict";

(() => {
  const { api, events, el, seconds } = window.Studio;
  const form = document.getElementById("create");
  const jobs = document.getElementById("jobs");
  const formError = document.getElementById("form-error");
  const cards = new Map(); // job id → card

  function card(jobId, count, summary) {
    const found = cards.get(jobId);
    if (found) {
      // Made by an event that came before the POST's answer: now the page knows what the job asked for.
      if (summary) found.querySelector(".summary").textContent = summary;
      const grid = found.querySelector(".grid");
      if (count && !found.classList.contains("done") && grid.children.length !== count) {
        grid.replaceChildren(...Array.from({ length: count }, () => el("div", { class: "cell pending" })));
      }
      return found;
    }
    const node = document.getElementById("job-card").content.firstElementChild.cloneNode(true);
    node.dataset.job = jobId;
    node.querySelector(".summary").textContent = summary || `Job ${jobId}`;
    const grid = node.querySelector(".grid");
    for (let i = 0; i < (count || 1); i++) grid.append(el("div", { class: "cell pending" }));
    node.querySelector(".reroll").addEventListener("click", () => follow(api("POST", `/api/jobs/${jobId}/reroll`), count, summary));
    node.querySelector(".cancel").addEventListener("click", () =>
      api("POST", `/api/jobs/${jobId}/cancel`).catch((e) => status(node, e.message)));
    jobs.prepend(node);
    cards.set(jobId, node);
    return node;
  }

  const status = (node, text) => { node.querySelector(".status").textContent = text; };

  function show(event) {
    const node = card(event.job_id);
    const bar = node.querySelector("progress");
    if (event.type === "queued") {
      status(node, event.position > 0 ? `queued, #${event.position + 1}, ETA ${seconds(event.eta_s)}` : "starting");
    } else if (event.type === "progress") {
      bar.max = event.total || 1;
      bar.value = event.step;
      status(node, `${event.label || "Generating"} ${event.step}/${event.total}` + (event.eta_s != null ? `, ETA ${seconds(event.eta_s)}` : ""));
    } else if (event.type === "done") {
      bar.value = bar.max;
      node.classList.add("done");
      status(node, "done");
      fill(node, event.job_id, event.images || []);
    } else if (event.type === "failed") {
      node.classList.add("failed");
      status(node, event.message);
    } else if (event.type === "cancelled") {
      node.classList.add("cancelled");
      status(node, "cancelled");
    }
  }

  function fill(node, jobId, images) {
    const grid = node.querySelector(".grid");
    grid.replaceChildren(...images.map((image) => el("figure", { class: "cell" },
      el("a", { href: image.url, target: "_blank", rel: "noopener" },
        el("img", { src: image.thumb, alt: `image ${image.index + 1}`, width: image.width, height: image.height })),
      el("figcaption", {},
        el("button", { title: "Full size", onclick: () => upscale(jobId, image.index) }, `U${image.index + 1}`),
        el("button", { title: "Variations", onclick: () => vary(jobId, image.index) }, `V${image.index + 1}`)))));
  }

  async function upscale(jobId, index) {
    const image = await api("POST", `/api/jobs/${jobId}/upscale`, { index });
    window.open(image.url, "_blank", "noopener");
  }

  const vary = (jobId, index) => follow(api("POST", `/api/jobs/${jobId}/vary`, { index, strength: "subtle" }), 4, "Variation");

  async function follow(submitted, count, summary) {
    formError.textContent = "";
    try {
      const ticket = await submitted;
      const node = card(ticket.job_id, count, summary);
      if (!node.classList.contains("done") && !node.querySelector(".status").textContent) {
        show({ type: "queued", job_id: ticket.job_id, position: ticket.position, eta_s: ticket.eta_s });
      }
    } catch (e) {
      formError.textContent = e.message;
    }
  }

  function options() {
    const data = new FormData(form);
    const body = { prompt: data.get("prompt"), num_outputs: Number(data.get("num_outputs")) };
    for (const name of ["model", "aspect", "negative_prompt", "scheduler"]) if (data.get(name)) body[name] = data.get(name);
    for (const name of ["seed", "steps", "guidance", "lora_scale"]) if (data.get(name) !== "") body[name] = Number(data.get(name));
    // "clip_skip=2 …": the model's own settings, sent as typed; the server checks and converts each one.
    const extras = {};
    for (const pair of String(data.get("settings") || "").split(/[\s,]+/).filter(Boolean)) {
      const at = pair.indexOf("=");
      extras[at > 0 ? pair.slice(0, at) : pair] = at > 0 ? pair.slice(at + 1) : "";
    }
    if (Object.keys(extras).length) body.extras = extras;
    return body;
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = options();
    follow(api("POST", "/api/generate/text-to-image", body), body.num_outputs, body.prompt);
  });

  // One stream per tab for every job of ours (HTTP/1.1 allows six connections per origin).
  events("/api/events", Object.fromEntries(["queued", "progress", "done", "failed", "cancelled"].map((t) => [t, show])));
})();

// "Use these settings" (the Image page) opens this page with the options in the query string: fill the form in.
(() => {
  const params = new URLSearchParams(window.location.search);
  let advanced = false;
  for (const [name, value] of params.entries()) {
    const field = document.getElementById("create").elements.namedItem(name);
    if (!(field instanceof HTMLInputElement || field instanceof HTMLTextAreaElement || field instanceof HTMLSelectElement)) continue;
    if (field.tagName === "SELECT" && ![...field.options].some((o) => o.value === value)) continue;
    field.value = value;
    advanced ||= field.closest("details") !== null;
  }
  if (advanced) document.querySelector("#create details").open = true;
})();
