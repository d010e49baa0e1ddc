// A new training: plan it (each value with where it came from, the time, memory and disk), then start it.
// A set under its minimum is refused; the studio's owner is offered to train on it anyway (force).
"use strict";

(() => {
  const { api, el, seconds } = window.Studio;
  const form = document.getElementById("plan-form");
  const force = document.getElementById("force");
  let plan = null;

  const megabytes = (b) => (b >= 1e9 ? `${(b / 1e9).toFixed(1)} GB` : `${Math.round(b / 1e6)} MB`);

  function asked(forced) {
    const steps = document.getElementById("steps").value;
    return {
      set_name: document.getElementById("set").value,
      name: document.getElementById("name").value,
      base_model: document.getElementById("base").value || null,
      steps: steps ? Number(steps) : null,
      force: forced,
    };
  }

  function show(planned) {
    plan = planned;
    document.getElementById("plan-view").hidden = false;
    document.getElementById("plan-title").textContent = `“${plan.model_name}” from set ${plan.set_name} on ${plan.base_model}`;
    const forced = plan.below_minimum != null ? ` Fewer than the ${plan.below_minimum} a training needs: trained anyway.` : "";
    document.getElementById("plan-summary").textContent =
      `${plan.images} images, trigger word ${plan.trigger_word}. ${plan.set_summary}` + (plan.weak_images ? ` (${plan.weak_images} weak)` : "") + forced;
    const table = document.getElementById("plan-rows");
    table.replaceChildren(table.rows[0], ...plan.rows.map((r) => el("tr", {}, el("td", {}, r.label), el("td", {}, r.value), el("td", { class: "muted" }, r.source))));
    const [lo, hi] = plan.estimate_range;
    const memory = plan.memory_gb != null ? `, GPU memory ${plan.memory_gb.toFixed(1)} GB of ${plan.budget_gb?.toFixed(1) ?? "?"} GB` : ", no GPU memory to size for";
    document.getElementById("plan-costs").textContent =
      `About ${seconds(plan.estimate_s)} (${seconds(lo)}–${seconds(hi)}, ${plan.estimate_basis})${memory}, disk ${megabytes(plan.disk_bytes)}.`;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = document.getElementById("form-error");
    error.textContent = "";
    force.hidden = true;
    try {
      show(await api("POST", "/api/training", asked(false)));
    } catch (err) {
      error.textContent = err.message;
      const images = err.data?.force_images; // refused only for the set's size, and the asker may force
      if (images) {
        force.textContent = `Train anyway on ${images} image${images === 1 ? "" : "s"}`;
        force.hidden = false;
      }
    }
  });

  // Plan with force and start at once: the refusal above was the plan's only objection.
  force.addEventListener("click", async () => {
    const error = document.getElementById("form-error");
    force.disabled = true;
    try {
      const planned = await api("POST", "/api/training", asked(true));
      await api("POST", planned.start_url);
      window.location.href = `/train/runs/${planned.run_id}`;
    } catch (err) {
      error.textContent = err.message;
      force.disabled = false;
    }
  });

  document.getElementById("start").addEventListener("click", async () => {
    const error = document.getElementById("start-error");
    error.textContent = "";
    if (!plan) return;
    try {
      await api("POST", plan.start_url);
      window.location.href = `/train/runs/${plan.run_id}`;
    } catch (err) {
      error.textContent = err.message;
    }
  });
})();
