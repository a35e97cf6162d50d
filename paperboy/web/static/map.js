// The map of the papers: every paper a point on a canvas, coloured by topic, labelled at topic
// centres; zoom, pan, hover for a title, click to open the paper; search results and the reader's
// saved papers marked; topics and regions picked to start "for you".
//
// Everything comes from paperboy itself: /api/map (topics, bounds) and /api/map/points.bin (six
// bytes a paper: uint16 x, y, topic).  Points are written straight into an ImageData buffer, so
// 118k of them draw in a few milliseconds; labels, marks and the selection go on top.  No inline
// script, no eval, no innerHTML with data: works under a strict Content-Security-Policy.
"use strict";

(() => {
  const root = document.getElementById("map");
  if (!root) return;
  // the same twelve colours as web/topic_pages.py (PALETTE) and topics.css (.c0 … .c11)
  const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
    "#f032e6", "#9a6324", "#469990", "#808000", "#000075", "#e6a800"];
  const canvas = document.getElementById("map-canvas");
  const ctx = canvas.getContext("2d");
  const tip = document.getElementById("map-tip");
  const status = document.getElementById("map-status");
  const results = document.getElementById("map-results");
  let version = root.dataset.version;
  const onboarding = root.dataset.onboarding === "1" && document.getElementById("start-form");

  let meta = null;
  let n = 0;
  let X = null, Y = null, T = null;       // store coordinates and topic index of every point
  let colour = null;                       // packed RGBA per topic index
  let hexOf = [];                          // the same as CSS colours
  let marked = new Set();                  // search results
  let order = [];                          // search results, best first
  let saved = new Set();                   // the reader's saved papers
  let focusTopic = -1;                     // topic index shown alone (?topic=)
  const picks = { topics: new Map(), regions: [] };
  let grid = null;
  let hovered = -1;
  const titles = new Map();
  let labelBoxes = [];
  let dpr = window.devicePixelRatio || 1;
  let view = { cx: 0, cy: 0, s: 1 };
  let home = { cx: 0, cy: 0, s: 1 };
  let image = null;
  let drawn = false;

  const say = (text) => { status.textContent = text; status.hidden = !text; };

  function rgba(hex, alpha) {
    const v = parseInt(hex.slice(1), 16);
    return ((alpha & 255) << 24) | ((v & 255) << 16) | (((v >> 8) & 255) << 8) | ((v >> 16) & 255);
  }

  async function load() {
    if (!Number(root.dataset.count)) return;
    const query = "?v=" + encodeURIComponent(version);
    const [metaResponse, pointsResponse] = await Promise.all([
      fetch("/api/map", { credentials: "same-origin" }),
      fetch("/api/map/points.bin" + query, { credentials: "same-origin" }),
    ]);
    if (!metaResponse.ok || !pointsResponse.ok) throw new Error("the map could not be loaded");
    meta = await metaResponse.json();
    let buffer = await pointsResponse.arrayBuffer();
    if (meta.version !== version) {  // the map changed between the page and its data: take the new one
      version = meta.version;
      buffer = await (await fetch(meta.points, { credentials: "same-origin" })).arrayBuffer();
    }
    const raw = new Uint16Array(buffer);
    n = Math.floor(raw.length / 3);
    const [x0, y0, x1, y1] = meta.bounds;
    X = new Float32Array(n); Y = new Float32Array(n); T = raw.subarray(2 * n, 3 * n);
    const sx = (x1 - x0) / 65535, sy = (y1 - y0) / 65535;
    for (let i = 0; i < n; i++) { X[i] = x0 + raw[i] * sx; Y[i] = y0 + raw[n + i] * sy; }
    colour = new Uint32Array(Math.max(meta.topics.length, 1));
    hexOf = new Array(Math.max(meta.topics.length, 1)).fill(PALETTE[0]);
    for (const t of meta.topics) {
      hexOf[t.index] = PALETTE[t.color % PALETTE.length];
      colour[t.index] = rgba(hexOf[t.index], 255);
    }
    buildGrid(x0, y0, x1, y1);
    fitHome();
    resize();
    const topic = root.dataset.topic;
    if (topic !== "") {
      const t = meta.topics.find((t) => String(t.id) === topic);
      if (t) { focusTopic = t.index; zoomToPoints(indicesOfTopic(t.index)); }
    }
    say("");
    draw();
    drawn = true;
    root.dataset.drawn = String(n);
    performance.mark("map-drawn");
    if (root.dataset.q) search(root.dataset.q);
    if (root.dataset.signedIn) loadSaved();
  }

  // -- geometry ---------------------------------------------------------------------------------
  function fitHome() {
    const [x0, y0, x1, y1] = meta.bounds;
    const w = canvas.clientWidth || 800, h = canvas.clientHeight || 600;
    home = { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, s: 0.94 * Math.min(w / ((x1 - x0) || 1), h / ((y1 - y0) || 1)) };
    view = { ...home };
  }

  const sx = (x) => (x - view.cx) * view.s + canvas.clientWidth / 2;
  const sy = (y) => -(y - view.cy) * view.s + canvas.clientHeight / 2;
  const dx = (px) => (px - canvas.clientWidth / 2) / view.s + view.cx;
  const dy = (py) => -(py - canvas.clientHeight / 2) / view.s + view.cy;

  function buildGrid(x0, y0, x1, y1) {
    const G = 256;
    const cell = new Int32Array(n);
    const counts = new Int32Array(G * G + 1);
    const w = (x1 - x0) || 1, h = (y1 - y0) || 1;
    for (let i = 0; i < n; i++) {
      const gx = Math.min(G - 1, ((X[i] - x0) / w * G) | 0), gy = Math.min(G - 1, ((Y[i] - y0) / h * G) | 0);
      cell[i] = gy * G + gx; counts[cell[i] + 1]++;
    }
    for (let c = 1; c <= G * G; c++) counts[c] += counts[c - 1];
    const items = new Int32Array(n), fill = counts.slice(0, G * G);
    for (let i = 0; i < n; i++) items[fill[cell[i]]++] = i;
    grid = { G, x0, y0, w, h, start: counts, items };
  }

  function nearest(px, py, radius) {
    if (!grid) return -1;
    const x = dx(px), y = dy(py), r = radius / view.s;
    const { G, x0, y0, w, h, start, items } = grid;
    const gx0 = Math.max(0, ((x - r - x0) / w * G) | 0), gx1 = Math.min(G - 1, ((x + r - x0) / w * G) | 0);
    const gy0 = Math.max(0, ((y - r - y0) / h * G) | 0), gy1 = Math.min(G - 1, ((y + r - y0) / h * G) | 0);
    let best = -1, bestD = r * r;
    for (let gy = gy0; gy <= gy1; gy++) {
      for (let gx = gx0; gx <= gx1; gx++) {
        const c = gy * G + gx;
        for (let k = start[c]; k < start[c + 1]; k++) {
          const i = items[k];
          if (focusTopic >= 0 && T[i] !== focusTopic && !marked.has(i)) continue;
          const ddx = X[i] - x, ddy = Y[i] - y, d = ddx * ddx + ddy * ddy;
          if (d <= bestD) { best = i; bestD = d; }
        }
      }
    }
    return best;
  }

  function indicesOfTopic(t) {
    const out = [];
    for (let i = 0; i < n; i++) if (T[i] === t) out.push(i);
    return out;
  }

  function zoomToPoints(indices) {
    if (!indices.length) return;
    const xs = indices.map((i) => X[i]).sort((a, b) => a - b), ys = indices.map((i) => Y[i]).sort((a, b) => a - b);
    const q = (a, f) => a[Math.min(a.length - 1, Math.max(0, Math.round(f * (a.length - 1))))];
    const lo = indices.length > 20 ? 0.05 : 0, hi = 1 - lo;  // a few far-flung results do not set the frame
    const x0 = q(xs, lo), x1 = q(xs, hi), y0 = q(ys, lo), y1 = q(ys, hi);
    const w = canvas.clientWidth, h = canvas.clientHeight;
    const s = 0.8 * Math.min(w / Math.max(x1 - x0, 0.02), h / Math.max(y1 - y0, 0.02));
    view = { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, s: Math.min(Math.max(s, home.s), home.s * 60) };
  }

  // -- drawing ----------------------------------------------------------------------------------
  function resize() {
    dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr)), h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; image = null; }
  }

  let pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }

  function draw() {
    if (!n) return;
    const W = canvas.width, H = canvas.height;
    if (!image || image.width !== W || image.height !== H) image = ctx.createImageData(W, H);
    const px = new Uint32Array(image.data.buffer);
    px.fill(0xfffafafa);
    const zoom = view.s / home.s;
    // points grow as you zoom in, and are bigger to start with when there are few of them
    const base = n < 2000 ? 3 : n < 20000 ? 2 : 1;
    const size = Math.max(1, Math.min(6, Math.round(dpr * (base + Math.log2(Math.max(zoom, 1)) * 0.7))));
    const dim = marked.size > 0 || focusTopic >= 0;
    const k = view.s * dpr, ox = W / 2 - view.cx * k, oy = H / 2 + view.cy * k;
    const alphaOn = dim ? 60 : 170;
    for (let i = 0; i < n; i++) {
      const x = (X[i] * k + ox) | 0, y = (oy - Y[i] * k) | 0;
      if (x < 0 || y < 0 || x + size > W || y + size > H) continue;
      const c = colour[T[i]];
      const a = focusTopic >= 0 && T[i] === focusTopic ? 230 : alphaOn;
      const r = c & 255, g = (c >> 8) & 255, b = (c >> 16) & 255;
      for (let yy = 0; yy < size; yy++) {
        let at = (y + yy) * W + x;
        for (let xx = 0; xx < size; xx++, at++) {
          const o = px[at];
          const or = o & 255, og = (o >> 8) & 255, ob = (o >> 16) & 255;
          px[at] = 0xff000000 | ((ob + (((b - ob) * a) >> 8)) << 16) | ((og + (((g - og) * a) >> 8)) << 8) | (or + (((r - or) * a) >> 8));
        }
      }
    }
    ctx.putImageData(image, 0, 0);
    ctx.save();
    ctx.scale(dpr, dpr);
    drawMarks();
    drawLabels();
    drawPicks();
    ctx.restore();
  }

  function dot(i, radius, fill, stroke) {
    const x = sx(X[i]), y = sy(Y[i]);
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, 2 * Math.PI);
    if (fill) { ctx.fillStyle = fill; ctx.fill(); }
    if (stroke) { ctx.strokeStyle = stroke; ctx.lineWidth = 1.5; ctx.stroke(); }
  }

  function drawMarks() {
    for (const i of saved) dot(i, 4.5, null, "#111");
    const limit = Math.min(order.length, 300);
    for (let r = limit - 1; r >= 0; r--) {
      const i = order[r];
      dot(i, r < 10 ? 5 : 3.2, hexOf[T[i]], "#111");
    }
    if (hovered >= 0) dot(hovered, 6, null, "#ff9d00");
  }

  function drawLabels() {
    labelBoxes = [];
    const w = canvas.clientWidth, h = canvas.clientHeight;
    const zoom = view.s / home.s;
    ctx.font = "600 12px system-ui, -apple-system, 'Segoe UI', sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    const sorted = [...meta.topics].sort((a, b) => b.size - a.size);
    let shown = 0;
    for (const t of sorted) {
      if (shown >= 40 + 20 * Math.log2(Math.max(zoom, 1))) break;
      if (focusTopic >= 0 && t.index !== focusTopic) continue;
      const x = sx(t.x), y = sy(t.y);
      if (x < 0 || y < 0 || x > w || y > h) continue;
      const text = t.short || t.label;
      const tw = ctx.measureText(text).width;
      const box = [x - tw / 2 - 4, y - 9, x + tw / 2 + 4, y + 9];
      if (box[0] < 2 || box[2] > w - 44 || box[1] < 2 || box[3] > h - 2) continue;  // whole labels only, clear of the buttons
      if (labelBoxes.some((b) => !(box[2] < b.box[0] || box[0] > b.box[2] || box[3] < b.box[1] || box[1] > b.box[3]))) continue;
      const picked = picks.topics.has(t.id);
      ctx.lineWidth = 4;
      ctx.strokeStyle = picked ? "#ffd27a" : "rgba(255,255,255,0.9)";
      ctx.strokeText(text, x, y);
      ctx.fillStyle = "#111";
      ctx.fillText(text, x, y);
      labelBoxes.push({ box, topic: t });
      shown++;
    }
  }

  function drawPicks() {
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ff9d00";
    ctx.fillStyle = "rgba(255,157,0,0.12)";
    for (const r of picks.regions) {
      const a = sx(r[0]), b = sy(r[1]), c = sx(r[2]), d = sy(r[3]);
      ctx.fillRect(Math.min(a, c), Math.min(b, d), Math.abs(c - a), Math.abs(d - b));
      ctx.strokeRect(Math.min(a, c), Math.min(b, d), Math.abs(c - a), Math.abs(d - b));
    }
    if (drag && drag.region) {
      ctx.setLineDash([5, 4]);
      ctx.strokeRect(Math.min(drag.x0, drag.x), Math.min(drag.y0, drag.y), Math.abs(drag.x - drag.x0), Math.abs(drag.y - drag.y0));
      ctx.setLineDash([]);
    }
  }

  // -- hover, click ----------------------------------------------------------------------------
  async function describe(i) {
    if (titles.has(i)) return titles.get(i);
    const response = await fetch(`/api/map/points/${i}?v=${encodeURIComponent(version)}`, { credentials: "same-origin" });
    if (!response.ok) return null;
    const point = await response.json();
    titles.set(i, point);
    return point;
  }

  async function hover(px, py) {
    const i = nearest(px, py, 8);
    if (i !== hovered) { hovered = i; redraw(); }
    if (i < 0) { tip.hidden = true; return; }
    const point = await describe(i);
    if (hovered !== i || !point) return;
    tip.replaceChildren();
    const title = document.createElement("b");
    title.textContent = point.title;
    tip.append(title);
    if (point.topic) {
      const topic = document.createElement("span");
      topic.textContent = point.topic.label + (point.announced ? " · " + point.announced : "");
      tip.append(topic);
    }
    tip.hidden = false;
    const w = root.clientWidth;
    tip.style.left = Math.min(px + 14, w - tip.offsetWidth - 8) + "px";
    tip.style.top = py + 14 + "px";
  }

  async function open(i) {
    const point = await describe(i);
    if (point) window.location.assign(point.url);
  }

  function labelAt(px, py) {
    for (const b of labelBoxes) if (px >= b.box[0] && px <= b.box[2] && py >= b.box[1] && py <= b.box[3]) return b.topic;
    return null;
  }

  // -- moving around ---------------------------------------------------------------------------
  let drag = null;
  const touches = new Map();

  function zoomAt(px, py, factor) {
    const x = dx(px), y = dy(py);
    view.s = Math.min(Math.max(view.s * factor, home.s * 0.5), home.s * 200);
    view.cx = x - (px - canvas.clientWidth / 2) / view.s;
    view.cy = y + (py - canvas.clientHeight / 2) / view.s;
    redraw();
  }

  function local(event) {
    const r = canvas.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  }

  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const [px, py] = local(event);
    zoomAt(px, py, Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.0015)));
  }, { passive: false });

  canvas.addEventListener("pointerdown", (event) => {
    const [px, py] = local(event);
    touches.set(event.pointerId, [px, py]);
    canvas.setPointerCapture(event.pointerId);
    const region = Boolean(onboarding) && (event.shiftKey || regionMode);
    drag = { x0: px, y0: py, x: px, y: py, cx: view.cx, cy: view.cy, moved: false, region };
  });

  canvas.addEventListener("pointermove", (event) => {
    const [px, py] = local(event);
    if (touches.size === 2 && touches.has(event.pointerId)) {  // pinch
      const [a, b] = [...touches.values()];
      const before = Math.hypot(a[0] - b[0], a[1] - b[1]);
      touches.set(event.pointerId, [px, py]);
      const [c, d] = [...touches.values()];
      const after = Math.hypot(c[0] - d[0], c[1] - d[1]);
      if (before > 0) zoomAt((c[0] + d[0]) / 2, (c[1] + d[1]) / 2, after / before);
      drag = null;
      return;
    }
    if (drag) {
      drag.x = px; drag.y = py;
      if (Math.abs(px - drag.x0) + Math.abs(py - drag.y0) > 4) drag.moved = true;
      if (drag.moved && !drag.region) {
        view.cx = drag.cx - (px - drag.x0) / view.s;
        view.cy = drag.cy + (py - drag.y0) / view.s;
      }
      if (drag.moved) { tip.hidden = true; redraw(); }
      return;
    }
    hover(px, py);
  });

  function endDrag(event) {
    touches.delete(event.pointerId);
    if (!drag) return;
    const [px, py] = local(event);
    const done = drag;
    drag = null;
    if (done.region && done.moved) {
      addRegion([dx(done.x0), dy(done.y0), dx(px), dy(py)]);
      setRegionMode(false);
      redraw();
      return;
    }
    if (done.moved) return;
    // picking: a label picks its topic; otherwise a point under the pointer opens its paper, and a
    // label (where no point is) its topic page
    const label = labelAt(px, py);
    if (label && onboarding) { togglePick(label); return; }
    const i = nearest(px, py, 8);
    if (i >= 0) { open(i); return; }
    if (label) window.location.assign("/topics/" + label.id);
  }
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", (event) => { touches.delete(event.pointerId); drag = null; });
  canvas.addEventListener("pointerleave", () => { if (!drag) { hovered = -1; tip.hidden = true; redraw(); } });
  canvas.addEventListener("dblclick", (event) => { const [px, py] = local(event); zoomAt(px, py, 2); });

  const byId = (id) => document.getElementById(id);
  byId("zoom-in").addEventListener("click", () => zoomAt(canvas.clientWidth / 2, canvas.clientHeight / 2, 1.6));
  byId("zoom-out").addEventListener("click", () => zoomAt(canvas.clientWidth / 2, canvas.clientHeight / 2, 1 / 1.6));
  byId("zoom-reset").addEventListener("click", () => { view = { ...home }; redraw(); });
  new ResizeObserver(() => { if (meta) { resize(); redraw(); } }).observe(canvas);

  // -- search and saved papers -------------------------------------------------------------------
  async function search(q) {
    const response = await fetch(`/api/map/search?q=${encodeURIComponent(q)}&v=${encodeURIComponent(version)}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const found = await response.json();
    order = found.points;
    marked = new Set(order);
    results.replaceChildren();
    const head = document.createElement("h2");
    head.textContent = order.length ? `${order.length} papers for “${q}”` : `Nothing found for “${q}”`;
    results.append(head);
    const list = document.createElement("ol");
    list.className = "compact-list";
    for (const r of found.results) {
      const item = document.createElement("li"), link = document.createElement("a");
      link.href = "/papers/" + r.id;
      link.textContent = r.title;
      item.append(link);
      list.append(item);
    }
    results.append(list);
    if (order.length) zoomToPoints(order.slice(0, 100));
    redraw();
  }

  const form = document.querySelector(".map-search");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = form.querySelector("input[name=q]").value.trim();
    history.replaceState(null, "", q ? "/map?q=" + encodeURIComponent(q) : "/map");
    if (q) search(q); else { order = []; marked = new Set(); results.replaceChildren(); view = { ...home }; redraw(); }
  });

  async function loadSaved() {
    const response = await fetch(`/api/map/mine?v=${encodeURIComponent(version)}`, { credentials: "same-origin" });
    if (!response.ok) return;
    saved = new Set((await response.json()).points);
    redraw();
  }

  // -- picking topics and regions (onboarding) ------------------------------------------------------
  let regionMode = false;
  function setRegionMode(on) {
    regionMode = on;
    const button = byId("draw-region");
    if (button) button.classList.toggle("on", on);
    canvas.classList.toggle("drawing", on);
  }
  if (onboarding) byId("draw-region").addEventListener("click", () => setRegionMode(!regionMode));

  function togglePick(topic) {
    if (picks.topics.has(topic.id)) picks.topics.delete(topic.id); else picks.topics.set(topic.id, topic);
    showPicks();
    redraw();
  }

  function addRegion(box) {
    picks.regions.push(box.map((v) => Math.max(-1.5, Math.min(1.5, v))));
    showPicks();
  }

  function showPicks() {
    const list = byId("picked"), inputs = byId("picked-inputs");
    list.replaceChildren();
    inputs.replaceChildren();
    const add = (text, name, value, remove) => {
      const item = document.createElement("li"), button = document.createElement("button");
      item.textContent = text + " ";
      button.type = "button"; button.className = "link"; button.textContent = "remove";
      button.addEventListener("click", () => { remove(); showPicks(); redraw(); });
      item.append(button);
      list.append(item);
      const input = document.createElement("input");
      input.type = "hidden"; input.name = name; input.value = value;
      inputs.append(input);
    };
    for (const [id, t] of picks.topics) add(t.label, "topic", String(id), () => picks.topics.delete(id));
    picks.regions.forEach((r, k) => {
      const inside = countInside(r);
      add(`A region of ${inside.toLocaleString()} papers`, "region", r.map((v) => v.toFixed(5)).join(","), () => picks.regions.splice(k, 1));
    });
    byId("start-button").disabled = !(picks.topics.size || picks.regions.length);
  }

  function countInside(r) {
    const [a, b, c, d] = [Math.min(r[0], r[2]), Math.min(r[1], r[3]), Math.max(r[0], r[2]), Math.max(r[1], r[3])];
    let count = 0;
    for (let i = 0; i < n; i++) if (X[i] >= a && X[i] <= c && Y[i] >= b && Y[i] <= d) count++;
    return count;
  }

  // for tests and people debugging: where a point is on the screen (CSS pixels, relative to the canvas)
  window.paperboyMap = {
    count: () => n,
    drawn: () => drawn,
    screenOf: (i) => [sx(X[i]), sy(Y[i])],
    onLabel: (x, y) => Boolean(labelAt(x, y)),
    labelOf: (topicId) => { const b = labelBoxes.find((b) => b.topic.id === topicId); return b ? [(b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2] : null; },
    view: () => ({ ...view }),
  };

  load().catch((error) => say("The map could not be loaded: " + error.message));
})();
