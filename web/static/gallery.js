// The Gallery (and a collection's page): pages of thumbnails from GET /api/images, loaded as the end of the grid
// comes into view (keyset paging by `next_before_id`); click to pick, then act on the picked images at once.
"use strict";

(() => {
  const { api, el } = window.Studio;
  const root = document.getElementById("gallery");
  const collection = root.dataset.collection;
  const filters = document.getElementById("filters");
  const grid = document.getElementById("grid");
  const end = document.getElementById("end");
  const bar = document.getElementById("selection");
  const message = document.getElementById("sel-message");
  const picked = new Map(); // image id → card data
  let scope = "mine";
  let cursor = null; // the next page's before_id; null before the first page
  let done = false;
  let loading = false;
  let generation = 0; // a new search drops answers to the old one

  const nextDay = (day) => new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString();

  function query() {
    const params = new URLSearchParams({ scope, limit: "40" });
    const data = new FormData(filters);
    for (const [name, value] of data.entries()) {
      if (!value) continue;
      if (name === "since") params.set(name, `${value}T00:00:00Z`);
      else if (name === "until") params.set(name, nextDay(value)); // the API's `until` is exclusive: include the day
      else params.set(name, value);
    }
    if (collection) params.set("collection", collection);
    if (cursor !== null) params.set("before_id", cursor);
    return params;
  }

  function cell(image) {
    const node = el("figure", { class: "cell pickable" + (image.spoiler ? " spoiler" : ""), "data-id": image.id, title: image.prompt },
      el("img", { src: image.thumb, alt: image.prompt.slice(0, 80), loading: "lazy", width: image.width, height: image.height }),
      el("figcaption", {},
        el("a", { href: image.page, class: "open", title: "Open" }, `#${image.id}`),
        el("span", { class: "star" }, image.favourite ? "⭐" : ""),
        el("span", { class: "own" }, image.mine ? "" : "shared")));
    node.addEventListener("click", (e) => {
      if (e.target.closest("a")) return; // the link opens the image page
      toggle(node, image);
    });
    return node;
  }

  function toggle(node, image) {
    if (picked.has(image.id)) picked.delete(image.id);
    else picked.set(image.id, image);
    node.classList.toggle("picked", picked.has(image.id));
    showBar();
  }

  function showBar() {
    bar.hidden = picked.size === 0;
    document.getElementById("picked").textContent = `${picked.size} picked`;
  }

  async function more() {
    if (loading || done) return;
    loading = true;
    const mine = generation;
    try {
      const page = await api("GET", `/api/images?${query()}`);
      if (mine !== generation) return;
      grid.append(...page.images.map(cell));
      cursor = page.next_before_id;
      done = cursor === null;
      end.textContent = done ? (grid.children.length ? `${grid.children.length} images` : "No images match.") : "";
    } catch (e) {
      end.textContent = e.message;
      done = true;
    } finally {
      loading = false;
    }
    if (!done && sentinelVisible()) more();
  }

  const sentinelVisible = () => end.getBoundingClientRect().top < window.innerHeight + 400;

  function reset() {
    generation += 1;
    loading = false;
    cursor = null;
    done = false;
    grid.replaceChildren();
    picked.clear();
    showBar();
    more();
  }

  new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) more(); }, { rootMargin: "400px" }).observe(end);

  let typing;
  filters.addEventListener("input", (e) => {
    clearTimeout(typing);
    typing = setTimeout(reset, e.target.type === "search" ? 250 : 0);
  });
  filters.addEventListener("submit", (e) => { e.preventDefault(); reset(); });
  for (const tab of document.querySelectorAll("[data-scope]")) {
    tab.addEventListener("click", () => {
      scope = tab.dataset.scope;
      for (const t of document.querySelectorAll("[data-scope]")) t.setAttribute("aria-selected", String(t === tab));
      reset();
    });
  }

  const ids = () => [...picked.keys()];
  const say = (text) => { message.textContent = text; };
  const act = (f) => async () => { try { say(await f()); } catch (e) { say(e.message); } };

  document.getElementById("add-collection").addEventListener("click", act(async () => {
    const select = document.getElementById("to-collection");
    let target = select.value;
    if (target === "new") {
      const name = window.prompt("Name of the new collection");
      if (!name) return "";
      const made = await api("POST", "/api/collections", { name });
      select.prepend(el("option", { value: made.id }, made.name));
      select.value = target = String(made.id);
    }
    const added = await api("POST", `/api/collections/${target}/images`, { image_ids: ids() });
    return `Added ${added.changed} to ${select.selectedOptions[0].textContent}.`;
  }));

  document.getElementById("remove-collection")?.addEventListener("click", act(async () => {
    const gone = ids();
    await api("DELETE", `/api/collections/${collection}/images`, { image_ids: gone });
    for (const id of gone) grid.querySelector(`[data-id="${id}"]`)?.remove();
    picked.clear();
    showBar();
    return `Removed ${gone.length}.`;
  }));

  document.getElementById("add-set").addEventListener("click", act(async () => {
    const name = document.getElementById("to-set").value.trim();
    if (!name) return "Type the set's name first.";
    const answer = await api("POST", `/api/trainsets/${encodeURIComponent(name)}/items:batch`, { image_ids: ids() });
    const refused = answer.refused || [];
    return `Added ${(answer.added || []).length} to set ${name}.` + (refused.length ? ` ${refused.length} not: ${refused[0].detail}` : "");
  }));

  document.getElementById("delete").addEventListener("click", act(async () => {
    const own = ids().filter((id) => picked.get(id).mine);
    if (!own.length) return "None of the picked images is yours.";
    if (!window.confirm(`Delete ${own.length} of your images for good?`)) return "";
    await api("DELETE", "/api/images", { image_ids: own });
    for (const id of own) { grid.querySelector(`[data-id="${id}"]`)?.remove(); picked.delete(id); }
    showBar();
    return `Deleted ${own.length}.`;
  }));

  document.getElementById("zip").addEventListener("click", act(async () => {
    const response = await fetch("/api/images/zip", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": window.Studio.csrf() },
      body: JSON.stringify({ image_ids: ids() }),
    });
    if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail || response.statusText);
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: "studio-images.zip" });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    return `Zipped ${picked.size}.`;
  }));

  document.getElementById("clear").addEventListener("click", () => {
    picked.clear();
    for (const node of grid.querySelectorAll(".picked")) node.classList.remove("picked");
    showBar();
  });

  // The sets to pick from, where the studio has the training sets' API (else the name is typed).
  api("GET", "/api/trainsets").then((sets) => {
    document.getElementById("set-names").replaceChildren(...sets.map((set) => el("option", { value: set.name })));
  }).catch(() => {});

  more();
})();
