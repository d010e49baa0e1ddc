// A set's page: click candidates in or out (green border), quick select, the count against the 20-30 target,
// the check's verdicts on weak images, captions to correct, uploads. Everything goes through /api/trainsets.
"use strict";

(() => {
  const { api } = window.Studio;
  const root = document.getElementById("set");
  const name = root.dataset.name;
  const base = `/api/trainsets/${encodeURIComponent(name)}`;
  const [low, high, quick] = [Number(root.dataset.low), Number(root.dataset.high), Number(root.dataset.quick)];
  const picks = [...document.querySelectorAll("#candidates .pick")];
  const error = document.getElementById("error");
  let items = [];
  let flagged = new Map(); // item number → notes

  const say = (text) => { error.textContent = text || ""; };
  const inSet = () => new Set(items.filter((i) => i.image_id != null).map((i) => i.image_id));

  function showCount() {
    const n = items.length;
    const count = document.getElementById("count");
    count.textContent = `${n} selected · target ${low}–${high}`;
    count.classList.toggle("in-range", n >= low && n <= high);
  }

  function showSelection() {
    const chosen = inSet();
    for (const pick of picks) pick.setAttribute("aria-pressed", String(chosen.has(Number(pick.dataset.image))));
    showCount();
  }

  function showVerdict(verdict) {
    flagged = new Map(verdict.flagged.map((f) => [f.number, f.notes]));
    document.getElementById("verdict").textContent = verdict.summary;
  }

  function showItems() {
    const list = document.getElementById("items");
    const template = document.getElementById("item-row").content.firstElementChild;
    list.replaceChildren(...items.map((item) => {
      const row = template.cloneNode(true);
      row.querySelector("img").src = item.url;
      row.querySelector(".number").textContent = `#${item.number}`;
      const notes = flagged.get(item.number);
      if (notes) { row.classList.add("weak"); row.querySelector(".flags").textContent = notes.join(", "); }
      const input = row.querySelector("input");
      input.value = item.caption || "";
      row.querySelector(".caption").addEventListener("submit", (e) => {
        e.preventDefault();
        api("PATCH", `${base}/items/${item.number}`, { caption: input.value }).then(() => say(""), (err) => say(err.message));
      });
      row.querySelector(".remove").addEventListener("click", () =>
        api("DELETE", `${base}/items/${item.number}`).then(load, (err) => say(err.message)));
      return row;
    }));
  }

  async function load() {
    try {
      const view = await api("GET", base);
      items = view.items;
      showVerdict(view.verdict);
      showSelection();
      showItems();
    } catch (err) {
      say(err.message);
    }
  }

  // Add these studio images; the answer's items join the set as they are (numbers from the server).
  async function add(ids) {
    const answer = await api("POST", `${base}/items:batch`, { image_ids: ids });
    items = items.concat(answer.added);
    if (answer.refused.length) say(answer.refused.map((r) => `#${r.image_id}: ${r.detail}`).join(" "));
    return answer;
  }

  async function toggle(pick) {
    if (pick.classList.contains("busy")) return;
    const id = Number(pick.dataset.image);
    pick.classList.add("busy");
    say("");
    try {
      if (inSet().has(id)) {
        await api("DELETE", `${base}/images/${id}`);
        items = items.filter((i) => i.image_id !== id);
      } else {
        await add([id]);
      }
      showSelection();
    } catch (err) {
      say(err.message);
    } finally {
      pick.classList.remove("busy");
    }
    refreshSoon();
  }

  let timer = null;
  function refreshSoon() { // the numbers and captions, once the clicking stops
    clearTimeout(timer);
    timer = setTimeout(load, 800);
  }

  for (const pick of picks) {
    pick.addEventListener("click", () => toggle(pick));
    pick.addEventListener("keydown", (e) => { if (e.key === " " || e.key === "Enter") { e.preventDefault(); toggle(pick); } });
  }

  document.getElementById("quick").addEventListener("click", async () => {
    say("");
    const chosen = inSet();
    const wanted = picks.map((p) => Number(p.dataset.image)).filter((id) => !chosen.has(id)).slice(0, Math.max(0, quick - items.length));
    if (!wanted.length) { say(`The set has ${items.length} images already.`); return; }
    try {
      await add(wanted);
      showSelection();
    } catch (err) {
      say(err.message);
    }
    refreshSoon();
  });

  document.getElementById("check").addEventListener("click", async () => {
    say("");
    try {
      showVerdict(await api("POST", `${base}/check`));
      showItems();
    } catch (err) {
      say(err.message);
    }
  });

  document.getElementById("upload").addEventListener("submit", async (e) => {
    e.preventDefault();
    const files = document.getElementById("files").files;
    if (!files.length) { say("Choose images to upload first."); return; }
    const form = new FormData();
    for (const file of files) form.append("files", file);
    try {
      const answer = await window.Train.upload(`${base}/items`, form);
      say(answer.refused.join(" "));
      await load();
    } catch (err) {
      say(err.message);
    }
  });

  load();
})();
