// A training run: live step from the job's events, the loss plot (inline SVG), pace, ETA, the newest samples,
// the checkpoints with their scores and votes (choose one), the journal's tail, cancel, and resume an interrupted run.
"use strict";

(() => {
  const { api, events, el, seconds } = window.Studio;
  const runId = document.getElementById("run").dataset.run;
  const base = `/api/training/${runId}`;
  const ENDED = ["done", "stopped", "failed", "cancelled"];
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  let stream = null;
  let last = null;

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }

  // The loss by step: the raw values faintly, a moving average over a twentieth of the run on top.
  function plot(losses, total) {
    const box = $("plot");
    const [w, h, m] = [600, 200, 30];
    box.replaceChildren(svg("line", { class: "axis", x1: m, y1: h - m, x2: w - 10, y2: h - m }), svg("line", { class: "axis", x1: m, y1: 10, x2: m, y2: h - m }));
    if (!losses.length) return;
    const values = losses.map((p) => p[1]);
    const [lo, hi] = [Math.min(...values), Math.max(...values)];
    const span = hi - lo || 1;
    const x = (step) => m + ((w - 10 - m) * (step - 1)) / Math.max(1, (total || losses[losses.length - 1][0]) - 1);
    const y = (v) => h - m - ((h - m - 10) * (v - lo)) / span;
    const window = Math.max(1, Math.round(losses.length / 20));
    const smooth = losses.map((p, i) => {
      const part = values.slice(Math.max(0, i - window + 1), i + 1);
      return [p[0], part.reduce((a, b) => a + b, 0) / part.length];
    });
    const line = (points) => points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    box.append(svg("polyline", { class: "raw", points: line(losses) }), svg("polyline", { class: "loss", points: line(smooth) }));
    const label = (text, attrs) => { const t = svg("text", attrs); t.textContent = text; box.append(t); };
    label(hi.toPrecision(3), { x: 2, y: 20 });
    label(lo.toPrecision(3), { x: 2, y: h - m });
    label(`step ${losses[losses.length - 1][0]}`, { x: w - 80, y: h - 10 });
  }

  function checkpoints(view) {
    const template = $("checkpoint-card").content.firstElementChild;
    $("checkpoints").replaceChildren(...view.checkpoints.map((c) => {
      const card = template.cloneNode(true);
      card.classList.toggle("chosen", c.chosen);
      card.dataset.step = c.step;
      if (c.samples_url) card.querySelector("img").src = c.samples_url; else card.querySelector("img").remove();
      card.querySelector(".label").textContent = `step ${c.step}` + (c.chosen ? " (in use)" : "");
      const score = (v) => (v == null ? "–" : v.toFixed(3));
      card.querySelector(".scores").textContent = `consistency ${score(c.consistency)} · likeness ${score(c.likeness)} · loss ${score(c.loss)} · votes ${c.votes}`;
      card.querySelector(".choose").addEventListener("click", () => choose(c.step));
      return card;
    }));
    if (!view.checkpoints.length) $("checkpoints").append(el("p", { class: "muted" }, "Shown when the run ends."));
  }

  function show(view) {
    last = view;
    const run = view.run;
    $("status").textContent = run.status;
    const step = Math.max(view.step, run.steps_done || 0);
    $("bar").max = run.steps;
    $("bar").value = step;
    $("step").textContent = `${step}/${run.steps}`;
    const loss = view.losses.length ? view.losses[view.losses.length - 1][1] : null;
    $("loss").textContent = loss == null ? "–" : loss.toFixed(4);
    $("rate").textContent = view.samples_per_s == null ? "–" : view.samples_per_s.toFixed(2);
    $("eta").textContent = view.eta_s == null ? (ENDED.includes(run.status) ? "ended" : "–") : seconds(view.eta_s);
    $("error").textContent = run.error || "";
    $("cancel").hidden = ENDED.includes(run.status) || run.status === "planned";
    $("resume").hidden = !run.interrupted;
    plot(view.losses, run.steps);
    if (view.newest_grid_url) {
      $("newest").src = `${view.newest_grid_url}?step=${step}`; // a new grid under the same address
      $("newest").hidden = false;
      $("no-samples").hidden = true;
    }
    checkpoints(view);
    $("log").textContent = view.log.join("\n");
    $("log").scrollTop = $("log").scrollHeight;
    if (run.model_name) {
      $("model").hidden = false;
      $("model").replaceChildren("Registered as ", el("a", { href: `/models/${encodeURIComponent(run.model_name)}/test` }, run.model_name),
        " · ", el("a", { href: view.download_url }, "download (kohya)"));
    }
    if (ENDED.includes(run.status)) document.body.dataset.ended = run.status;
  }

  async function refresh() {
    try {
      show(await api("GET", base));
    } catch (err) {
      $("error").textContent = err.message;
    }
  }

  let pending = null;
  function refreshSoon() { // at most two refreshes a second, however fast the steps come
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh(); }, 500);
  }

  async function choose(step) {
    try {
      await api("POST", `${base}/checkpoint`, { step });
      await refresh();
    } catch (err) {
      $("error").textContent = err.message;
    }
  }

  // An interrupted run's job runs here from its last checkpoint; the page opens again to follow it from the start.
  $("resume").addEventListener("click", () => api("POST", `${base}/resume`).then(() => window.location.reload(), (err) => { $("error").textContent = err.message; }));
  $("cancel").addEventListener("click", () => api("POST", `${base}/cancel`).then(refresh, (err) => { $("error").textContent = err.message; }));

  // A slow poll besides the stream: a run's page may be open to someone the job's stream does not serve (another
  // member of the server), and a run waiting in the queue reports nothing until it starts.
  const poll = setInterval(() => {
    if (last && ENDED.includes(last.run.status)) clearInterval(poll);
    else refresh();
  }, 5000);

  refresh().then(() => {
    if (!last || !last.events_url || ENDED.includes(last.run.status)) return;
    stream = events(last.events_url, {
      queued: (e) => { $("status").textContent = e.position > 0 ? `queued, #${e.position + 1}` : "starting"; },
      progress: (e) => {
        $("status").textContent = "running";
        $("bar").value = e.step;
        $("step").textContent = `${e.step}/${e.total}`;
        refreshSoon();
      },
      done: () => { stream.close(); refresh(); },
      failed: () => { stream.close(); refresh(); },
      cancelled: () => { stream.close(); refresh(); },
    });
  });
})();
