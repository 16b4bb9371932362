// The review page: pick with 1-4, drag a crop on the picked image, Enter saves, S skips, Z undoes.
// The box is sent normalized to the image as shown; the server turns it into pixels of the file.
// With a model in use, the set opens with its suggestion (the variant picked, its box drawn dashed):
// Enter accepts it, any pick or drag overrides it; the decision says which suggestion was shown.
"use strict";
(() => {
  const el = (id) => document.getElementById(id);
  const page = el("review");
  const project = new URLSearchParams(location.search).get("project");
  const ASPECTS = ["free", "1:1", "4:5", "16:9"];
  const MIN_SIDE = 0.01; // a drag smaller than this (normalized) is a click, not a crop
  let queue = []; // set keys still to decide, in order
  let current = null; // the set shown: {key, name, variants: [...]}
  let frames = []; // one .frame per variant
  let chosen = null; // index of the picked variant
  let box = null; // [x1, y1, x2, y2] normalized on the picked image
  let suggestion = null; // the suggestion shown for this set: {model, index, box, token}
  let aspect = "free";
  // Keys and buttons run one after another, in the order pressed: an Enter then a 2 picks on the
  // next set, and nothing is dropped while a save is on its way.
  let chain = Promise.resolve();
  const serial = (fn) => {
    chain = chain.then(fn).catch((e) => showProblems([{ code: "error", message: String(e) }]));
    return chain;
  };
  const cache = new Map(); // key -> Promise<{data, images}>
  window.curalogTimings = []; // ms from save (or skip) to the next set shown, decoded and painted

  // -- loading and prefetching ----------------------------------------------------------------
  function load(key) {
    if (!cache.has(key)) {
      // asked at once, answered when the set's images are embedded; a failure is no suggestion
      const suggested = curalog
        .get("/api/suggestion?key=" + encodeURIComponent(key))
        .catch(() => ({ suggestion: null, note: "" }));
      const p = curalog.get("/api/set?key=" + encodeURIComponent(key)).then(async (data) => {
        const images = data.variants.map((v) => {
          const im = new Image();
          im.draggable = false;
          im.alt = v.path;
          im.src = v.preview;
          return im;
        });
        await Promise.all(images.map((im) => im.decode().catch(() => null)));
        return { data, images, suggested };
      });
      p.catch(() => cache.delete(key));
      cache.set(key, p);
    }
    return cache.get(key);
  }

  function prefetch() {
    const keep = new Set(queue.slice(0, 4));
    for (const k of cache.keys()) if (!keep.has(k)) cache.delete(k);
    queue.slice(1, 3).forEach(load);
  }

  const painted = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));

  // -- rendering ------------------------------------------------------------------------------
  function render(entry) {
    current = entry.data;
    chosen = null;
    box = null;
    suggestion = null;
    window.curalogSuggestion = null;
    page.dataset.suggestion = "";
    el("suggestion-note").textContent = "";
    page.dataset.setKey = current.key;
    el("set-title").textContent = `${current.name}  ·  ${current.directory || "(root)"}`;
    const wrap = el("variants");
    wrap.replaceChildren();
    wrap.style.setProperty("--n", Math.max(current.variants.length, 2));
    frames = current.variants.map((v, i) => {
      const card = document.createElement("div");
      card.className = "variant";
      card.dataset.idx = String(i);
      const label = document.createElement("div");
      label.className = "label";
      const size = v.width ? `${v.width}×${v.height}` : v.error;
      label.innerHTML = `<span><b>${i + 1}</b> <span class="stage"></span></span><span>${size}</span>`;
      label.querySelector(".stage").textContent = v.stage || v.path.split("/").pop();
      const frame = document.createElement("div");
      frame.className = "frame";
      frame.append(entry.images[i]);
      frame.addEventListener("pointerdown", (ev) => startDrag(ev, i));
      card.append(label, frame);
      wrap.append(card);
      return frame;
    });
    el("set-note").textContent = current.hidden
      ? `${current.hidden} more variant(s) of this set are not shown (4 at most)`
      : "";
    if (current.variants.length === 1) pick(0);
    progress();
  }

  function progress() {
    el("progress").textContent = `${queue.length} left`;
  }

  function pick(i) {
    if (!current || i < 0 || i >= current.variants.length) return;
    if (chosen !== i) box = null;
    chosen = i;
    document.querySelectorAll(".variant").forEach((c, j) => c.classList.toggle("chosen", j === i));
    drawBox();
  }

  // The set's suggestion, when it comes and the person has not picked yet: the variant picked and
  // its box drawn, marked as a suggestion until changed.
  async function suggest(entry) {
    const answer = await entry.suggested;
    if (current !== entry.data) return;
    const s = answer.suggestion;
    const note = el("suggestion-note");
    page.dataset.suggestion = s && chosen === null ? "shown" : "none";
    if (!s || chosen !== null) {
      note.textContent = answer.note || "";
      return;
    }
    suggestion = s;
    window.curalogSuggestion = s; // what is shown, for scripts driving the page
    document.querySelectorAll(".variant").forEach((c, j) => c.classList.toggle("suggested", j === s.index));
    pick(s.index);
    box = s.box ? s.box.slice() : null;
    drawBox();
    note.textContent = `Suggested: ${s.index + 1}${s.box ? " with its crop" : ""} (model ${s.model}) · Enter accepts`;
  }

  const isSuggested = () =>
    suggestion !== null && chosen === suggestion.index && box !== null && suggestion.box !== null &&
    box.every((v, k) => v === suggestion.box[k]);

  function drawBox() {
    document.querySelectorAll(".box").forEach((b) => b.remove());
    if (chosen === null || !box) return;
    const b = document.createElement("div");
    b.className = isSuggested() ? "box suggested" : "box";
    b.id = "crop-box";
    b.style.left = `${box[0] * 100}%`;
    b.style.top = `${box[1] * 100}%`;
    b.style.width = `${(box[2] - box[0]) * 100}%`;
    b.style.height = `${(box[3] - box[1]) * 100}%`;
    for (const c of ["nw", "ne", "sw", "se"]) {
      const h = document.createElement("div");
      h.className = `handle ${c}`;
      h.dataset.corner = c;
      b.append(h);
    }
    frames[chosen].append(b);
  }

  // -- drawing --------------------------------------------------------------------------------
  const clamp = (v) => Math.min(1, Math.max(0, v));

  function pointAt(ev, i) {
    const r = frames[i].querySelector("img").getBoundingClientRect();
    return [clamp((ev.clientX - r.left) / r.width), clamp((ev.clientY - r.top) / r.height)];
  }

  // The box from a fixed corner (ax, ay) to the pointer, kept to the aspect in real pixels.
  function fromAnchor(ax, ay, px, py) {
    let dx = px - ax;
    let dy = py - ay;
    if (aspect !== "free") {
      const [a, b] = aspect.split(":").map(Number);
      const v = current.variants[chosen];
      const ratio = (a / b) * (v.height / v.width); // normalized width / height
      const w = Math.max(Math.abs(dx), Math.abs(dy) * ratio);
      dx = Math.sign(dx || 1) * w;
      dy = Math.sign(dy || 1) * (w / ratio);
      const limX = dx < 0 ? ax : 1 - ax;
      const limY = dy < 0 ? ay : 1 - ay;
      const scale = Math.min(1, limX / Math.abs(dx || 1), limY / Math.abs(dy || 1));
      dx *= scale;
      dy *= scale;
    }
    const x2 = clamp(ax + dx);
    const y2 = clamp(ay + dy);
    return [Math.min(ax, x2), Math.min(ay, y2), Math.max(ax, x2), Math.max(ay, y2)];
  }

  function startDrag(ev, i) {
    if (ev.button !== 0) return;
    ev.preventDefault();
    if (chosen !== i) pick(i);
    const frame = frames[i];
    frame.setPointerCapture(ev.pointerId);
    const [px, py] = pointAt(ev, i);
    let mode = "new";
    let anchor = [px, py];
    let grab = null;
    const corner = ev.target.dataset && ev.target.dataset.corner;
    if (box && corner) {
      mode = "resize";
      anchor = [corner.includes("w") ? box[2] : box[0], corner.includes("n") ? box[3] : box[1]];
    } else if (box && ev.target.id === "crop-box") {
      mode = "move";
      grab = [px - box[0], py - box[1]];
    }
    const start = box;
    const move = (e) => {
      const [x, y] = pointAt(e, i);
      if (mode === "move") {
        const w = start[2] - start[0];
        const h = start[3] - start[1];
        const x1 = Math.min(1 - w, Math.max(0, x - grab[0]));
        const y1 = Math.min(1 - h, Math.max(0, y - grab[1]));
        box = [x1, y1, x1 + w, y1 + h];
      } else {
        box = fromAnchor(anchor[0], anchor[1], x, y);
      }
      drawBox();
    };
    const up = (e) => {
      move(e);
      frame.removeEventListener("pointermove", move);
      frame.removeEventListener("pointerup", up);
      if (box && (box[2] - box[0] < MIN_SIDE || box[3] - box[1] < MIN_SIDE)) box = mode === "new" ? null : start;
      drawBox();
    };
    frame.addEventListener("pointermove", move);
    frame.addEventListener("pointerup", up);
  }

  function setAspect(a) {
    aspect = a;
    document.querySelectorAll("[data-aspect]").forEach((b) => b.classList.toggle("on", b.dataset.aspect === a));
    if (box && a !== "free") {
      box = fromAnchor(box[0], box[1], box[2], box[3]);
      drawBox();
    }
  }

  // -- messages -------------------------------------------------------------------------------
  function showProblems(problems) {
    const p = el("problems");
    const list = document.createElement("ul");
    for (const item of problems) {
      const li = document.createElement("li");
      const where = item.image !== null && item.image !== undefined ? ` (image ${item.image + 1})` : "";
      li.textContent = `${item.code ? item.code + ": " : ""}${item.message}${where}`;
      list.append(li);
    }
    const title = document.createElement("strong");
    title.textContent = `Not saved: ${problems.length} problem${problems.length === 1 ? "" : "s"}`;
    p.replaceChildren(title, list);
    p.hidden = false;
  }

  function hideProblems() {
    el("problems").hidden = true;
  }

  function notice(text, warn = false) {
    const n = el("notice");
    n.textContent = text;
    n.classList.toggle("warn", warn);
  }

  function problemsOf(res) {
    if (res.data && res.data.problems) return res.data.problems;
    const d = res.data && res.data.detail;
    const text = Array.isArray(d) ? d.map((x) => x.msg).join("; ") : d || `HTTP ${res.status}`;
    return [{ code: `HTTP ${res.status}`, message: text }];
  }

  // -- actions --------------------------------------------------------------------------------
  async function showNext(t0) {
    hideProblems();
    page.dataset.ready = "0";
    if (!queue.length) {
      current = null;
      el("variants").replaceChildren();
      el("done").hidden = false;
      page.dataset.setKey = "";
      progress();
      await painted();
      if (t0 !== undefined) window.curalogTimings.push(performance.now() - t0);
      page.dataset.ready = "1";
      return;
    }
    el("done").hidden = true;
    const entry = await load(queue[0]);
    render(entry);
    await painted();
    if (t0 !== undefined) window.curalogTimings.push(performance.now() - t0);
    page.dataset.ready = "1";
    prefetch();
    // once it has come, after the keys pressed meanwhile (a pick made first wins); never waited for
    entry.suggested.then(() => serial(() => suggest(entry)));
  }

  async function save() {
    if (!current) return;
    if (chosen === null) {
      showProblems([{ code: "", message: "Pick an image first (keys 1–4)." }]);
      return;
    }
    const t0 = performance.now();
    const suggested = suggestion ? suggestion.token : "";
    const res = await curalog.post("/api/decide", { key: current.key, chosen, box, suggested });
    if (!res.ok) {
      showProblems(problemsOf(res));
      return;
    }
    const d = res.data;
    queue = queue.filter((k) => k !== d.key);
    cache.delete(d.key);
    const px = d.box ? ` [${d.box.join(", ")}] px` : "";
    const extra = (d.suggestion ? ` · suggestion ${d.suggestion}` : "") + (d.warnings.length ? ` · ${d.warnings.join("; ")}` : "");
    notice(`Saved ${d.kind} #${d.decision_id} for ${current.name}${px}${extra}`, d.warnings.length > 0);
    await showNext(t0);
  }

  async function skip() {
    if (!current) return;
    const t0 = performance.now();
    const res = await curalog.post("/api/skip", { key: current.key });
    if (!res.ok) {
      showProblems(problemsOf(res));
      return;
    }
    queue = queue.filter((k) => k !== current.key).concat([current.key]);
    notice(`Skipped ${current.name}: it comes back at the end`);
    await showNext(t0);
  }

  async function undo() {
    const res = await curalog.post("/api/undo", {});
    if (!res.ok) {
      showProblems(problemsOf(res));
      return;
    }
    if (!res.data.undone) {
      notice("Nothing to undo in this session", true);
      return;
    }
    const key = res.data.key;
    queue = [key].concat(queue.filter((k) => k !== key));
    cache.delete(key);
    notice(`Undid the ${res.data.undone} of ${key} (the ledger keeps a retraction row)`);
    await showNext();
  }

  // -- wiring ---------------------------------------------------------------------------------
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.target.closest("input, select, textarea")) return;
    const k = ev.key;
    let action = null;
    if (k >= "1" && k <= "4") action = () => pick(Number(k) - 1);
    else if (k === "Enter") action = save;
    else if (k === "s" || k === "S") action = skip;
    else if (k === "z" || k === "Z") action = undo;
    else if (k === "a" || k === "A") action = () => setAspect(ASPECTS[(ASPECTS.indexOf(aspect) + 1) % ASPECTS.length]);
    else if (k === "Escape") {
      action = () => {
        box = null;
        drawBox();
      };
    } else return;
    serial(action);
    ev.preventDefault();
  });
  const button = (id, fn) =>
    el(id).addEventListener("click", (ev) => {
      ev.currentTarget.blur();
      serial(fn);
    });
  button("save", save);
  button("skip", skip);
  button("undo", undo);
  document.querySelectorAll("[data-aspect]").forEach((b) =>
    b.addEventListener("click", (ev) => {
      ev.currentTarget.blur();
      serial(() => setAspect(b.dataset.aspect));
    }),
  );

  (async () => {
    const q = await curalog.get("/api/queue" + (project ? "?project=" + encodeURIComponent(project) : ""));
    queue = q.left;
    await showNext();
  })();
})();
