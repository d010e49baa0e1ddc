// The character sheet: upload a reference, watch its four groups of variations come in, then pick on the set page.
"use strict";

(() => {
  const { api, events, el, seconds } = window.Studio;
  const form = document.getElementById("sheet");
  const error = document.getElementById("form-error");

  async function setName() {
    const picked = document.getElementById("set-name").value;
    if (picked) return picked;
    const fresh = document.getElementById("new-set").value.trim();
    if (!fresh) throw new Error("Pick a set, or name a new one.");
    return (await api("POST", "/api/trainsets", { name: fresh })).name;
  }

  function follow(jobId, group, count, done) {
    const grid = el("div", { class: "grid" }, ...Array.from({ length: count }, () => el("div", { class: "cell pending" })));
    const state = el("span", { class: "muted" }, "queued");
    document.getElementById("group-list").append(el("section", { class: "group" }, el("h3", {}, `${group} (${count}) `, state), grid));
    let ended = false;
    const end = () => { // once: the server ends the stream after the job's end, and EventSource would reconnect
      source.close();
      if (!ended) { ended = true; done(); }
    };
    const source = events(`/api/jobs/${jobId}/events`, {
      queued: (e) => { state.textContent = e.position > 0 ? `queued, #${e.position + 1}` : "starting"; },
      progress: (e) => { state.textContent = `${e.step}/${e.total}` + (e.eta_s != null ? `, ETA ${seconds(e.eta_s)}` : ""); },
      done: (e) => {
        state.textContent = "done";
        grid.replaceChildren(...e.images.map((i) => el("div", { class: "cell" }, el("img", { src: i.thumb, alt: `image ${i.id}` }))));
        end();
      },
      failed: (e) => { state.textContent = e.message; state.className = "error"; end(); },
      cancelled: () => { state.textContent = "cancelled"; end(); },
    });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const file = document.getElementById("image").files[0];
    if (!file) { error.textContent = "Choose a reference image first."; return; }
    try {
      const name = await setName();
      const body = new FormData();
      body.append("image", file);
      body.append("set_name", name);
      body.append("count", document.getElementById("count").value || "30");
      const sheet = await window.Train.upload("/api/sheets", body);
      document.getElementById("groups").hidden = false;
      document.getElementById("sheet-status").textContent = `${sheet.method}; ready in about ${seconds(sheet.eta_s)}`;
      let left = sheet.job_ids.length;
      const link = document.getElementById("to-set");
      link.href = `/train/sets/${encodeURIComponent(name)}?jobs=${sheet.job_ids.join(",")}`;
      sheet.job_ids.forEach((jobId, n) => follow(jobId, sheet.groups[n][0], sheet.groups[n][1], () => {
        left -= 1;
        if (left === 0) { link.hidden = false; document.getElementById("sheet-status").textContent = "all made"; }
      }));
      document.getElementById("start").disabled = true;
    } catch (err) {
      error.textContent = err.message;
    }
  });
})();
