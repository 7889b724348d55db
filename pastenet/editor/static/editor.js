// pastenet edit: the page. Plain JavaScript, no build step, nothing fetched from the internet.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = {
    source: null, target: null,       // {id, width, height, img}
    offset: [0, 0],                   // (dy, dx): source (y, x) lands on target (y + dy, x + dx)
    scale: 1, angle: 0,               // the region turned about its mask box's centre (degrees, counter-clockwise)
    mask: document.createElement("canvas"), // source-sized, white where inside
    undo: [], redo: [], result: null, showBefore: false, busy: false,
  };
  const srcCanvas = $("source-canvas"), tgtCanvas = $("target-canvas");

  function showError(msg) { const e = $("error"); e.textContent = msg; e.hidden = !msg; }
  function setStatus(msg) { $("status").textContent = msg; }

  async function jsonOrError(resp) {
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    if (!resp.ok) throw new Error((body && body.error) || ("HTTP " + resp.status));
    return body;
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("the browser cannot show " + url));
      img.src = url;
    });
  }

  async function upload(file, which) {
    showError("");
    setStatus("uploading " + file.name + " ...");
    try {
      const info = await jsonOrError(await fetch("/api/upload", { method: "POST", body: file }));
      const url = "/api/image/" + info.id + ".png";
      info.img = await loadImage(url);
      info.url = url;
      state[which] = info;
      if (which === "source") {
        state.mask.width = info.width; state.mask.height = info.height; state.undo = []; state.redo = []; edges = null; cutout = null; cutBox = undefined;
        srcCanvas.width = info.width; srcCanvas.height = info.height;
        $("download-source").href = url;
        $("source-drop").classList.remove("empty");
      } else {
        tgtCanvas.width = info.width; tgtCanvas.height = info.height;
        $("download-target").href = url;
        $("target-drop").classList.remove("empty");
      }
      clearResult();
      setStatus(which + ": " + info.width + "x" + info.height + ", " + info.channels + " channel(s), " + info.dtype);
      drawSource(); drawTarget();
    } catch (e) {
      setStatus("");
      showError(which + ": " + e.message);
    }
  }

  function wireFile(which) {
    $(which + "-file").addEventListener("change", (ev) => { if (ev.target.files[0]) upload(ev.target.files[0], which); });
    const drop = $(which + "-drop");
    drop.classList.add("empty");
    drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (ev) => {
      ev.preventDefault(); drop.classList.remove("over");
      const f = ev.dataTransfer.files[0];
      if (f) upload(f, which);
    });
  }

  // --- the mask on the source ---------------------------------------------------------------
  function tool() { return document.querySelector("input[name=tool]:checked").value; }
  function canvasPoint(canvas, ev) {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
  }
  function maskData() { return state.mask.getContext("2d").getImageData(0, 0, state.mask.width, state.mask.height); }
  function pushUndo() {
    if (!state.source) return;
    state.undo.push(maskData());
    if (state.undo.length > 30) state.undo.shift();
    state.redo = [];
  }
  // Pixels inside the region (alpha >= 128, as in the mask sent): for the page's tests.
  function maskCount() {
    const d = maskData().data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] >= 128) n++;
    return n;
  }
  window.pastenetEditor = { maskCount: maskCount, handles: () => handles() };
  // The border of the region (pixels inside with a 4-neighbour outside, or the reverse), cached
  // until the mask changes: drawn blurred on the source as the feather preview, never sent.
  let edges = null;
  function edgeCanvas() {
    if (edges) return edges;
    const w = state.mask.width, h = state.mask.height, d = maskData().data;
    edges = document.createElement("canvas"); edges.width = w; edges.height = h;
    const e = edges.getContext("2d"), out = e.createImageData(w, h);
    const inside = (x, y) => d[(y * w + x) * 4 + 3] >= 128;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const v = inside(x, y);
      if ((x > 0 && inside(x - 1, y) !== v) || (x < w - 1 && inside(x + 1, y) !== v) ||
          (y > 0 && inside(x, y - 1) !== v) || (y < h - 1 && inside(x, y + 1) !== v)) {
        const i = (y * w + x) * 4; out.data[i] = 255; out.data[i + 1] = 235; out.data[i + 2] = 59; out.data[i + 3] = 255;
      }
    }
    e.putImageData(out, 0, 0);
    return edges;
  }
  function drawSource(preview) {
    if (!state.source) return;
    const ctx = srcCanvas.getContext("2d");
    ctx.clearRect(0, 0, srcCanvas.width, srcCanvas.height);
    ctx.drawImage(state.source.img, 0, 0);
    ctx.globalAlpha = 0.45;
    const tint = document.createElement("canvas");
    tint.width = state.mask.width; tint.height = state.mask.height;
    const t = tint.getContext("2d");
    t.drawImage(state.mask, 0, 0);
    t.globalCompositeOperation = "source-in";
    t.fillStyle = "#ff1744"; t.fillRect(0, 0, tint.width, tint.height);
    ctx.drawImage(tint, 0, 0);
    ctx.globalAlpha = 1;
    if ($("feather").checked && !stroke) {  // not while drawing: the border is found again after each change
      ctx.save();
      ctx.filter = "blur(" + Math.max(2, Math.round(srcCanvas.width / 150)) + "px)";
      for (let k = 0; k < 3; k++) ctx.drawImage(edgeCanvas(), 0, 0);  // a few times: soft but visible
      ctx.restore();
    }
    if (preview) preview(ctx);
  }
  function shapePath(ctx, kind, a, b) {
    const x = Math.min(a[0], b[0]), y = Math.min(a[1], b[1]), w = Math.abs(a[0] - b[0]), h = Math.abs(a[1] - b[1]);
    ctx.beginPath();
    if (kind === "rect") ctx.rect(x, y, w, h);
    else ctx.ellipse(x + w / 2, y + h / 2, w / 2, h / 2, 0, 0, 2 * Math.PI);
  }
  function lassoPath(ctx, points) {
    ctx.beginPath(); ctx.moveTo(points[0][0], points[0][1]);
    for (const q of points.slice(1)) ctx.lineTo(q[0], q[1]);
    ctx.closePath();
  }
  let stroke = null;
  srcCanvas.addEventListener("pointerdown", (ev) => {
    if (!state.source) return;
    srcCanvas.setPointerCapture(ev.pointerId);
    pushUndo();
    const p = canvasPoint(srcCanvas, ev);
    stroke = { kind: tool(), start: p, last: p, points: [p] };
    if (stroke.kind === "brush" || stroke.kind === "eraser") paint(p, p);
  });
  srcCanvas.addEventListener("pointermove", (ev) => {
    if (!stroke) return;
    const p = canvasPoint(srcCanvas, ev);
    if (stroke.kind === "brush" || stroke.kind === "eraser") { paint(stroke.last, p); stroke.last = p; }
    else if (stroke.kind === "lasso") {
      stroke.last = p; stroke.points.push(p);
      drawSource((ctx) => { ctx.strokeStyle = "#ff1744"; ctx.lineWidth = Math.max(1, srcCanvas.width / 400); lassoPath(ctx, stroke.points); ctx.stroke(); });
    } else {
      stroke.last = p;
      drawSource((ctx) => { ctx.strokeStyle = "#ff1744"; ctx.lineWidth = Math.max(1, srcCanvas.width / 400); shapePath(ctx, stroke.kind, stroke.start, p); ctx.stroke(); });
    }
  });
  const endStroke = () => {
    if (!stroke) return;
    if (stroke.kind === "rect" || stroke.kind === "ellipse") {
      const ctx = state.mask.getContext("2d");
      ctx.fillStyle = "#fff"; shapePath(ctx, stroke.kind, stroke.start, stroke.last); ctx.fill();
    } else if (stroke.kind === "lasso" && stroke.points.length > 2) {  // closed on mouse-up
      const ctx = state.mask.getContext("2d");
      ctx.fillStyle = "#fff"; lassoPath(ctx, stroke.points); ctx.fill();
    }
    stroke = null; maskChanged();
  };
  srcCanvas.addEventListener("pointerup", endStroke);
  srcCanvas.addEventListener("pointercancel", endStroke);
  function paint(a, b) {
    const ctx = state.mask.getContext("2d");
    ctx.globalCompositeOperation = stroke.kind === "eraser" ? "destination-out" : "source-over";
    ctx.strokeStyle = "#fff"; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.lineWidth = Number($("brush-size").value) * Math.max(1, srcCanvas.width / srcCanvas.getBoundingClientRect().width);
    ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
    ctx.globalCompositeOperation = "source-over";
    cutout = null; cutBox = undefined; edges = null; drawSource(); drawTarget();
  }
  function maskChanged() { cutout = null; cutBox = undefined; edges = null; drawSource(); drawTarget(); schedulePrepare(); }
  // Factorise the region's Poisson system on the server while the user places it (POST /api/prepare):
  // the paste that follows skips the slowest step. Best effort: a failure only means a slower paste.
  let prepareTimer = null;
  function schedulePrepare() {
    if (prepareTimer) clearTimeout(prepareTimer);
    prepareTimer = setTimeout(() => {
      prepareTimer = null;
      if (!state.source || !state.source.id) return;
      const body = { source: state.source.id, mask: maskCanvas().toDataURL("image/png"), scale: state.scale, angle: state.angle };
      if (state.target && state.target.id && $("method").value === "network") body.target = state.target.id;
      fetch("/api/prepare", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }).catch(() => {});
    }, 400);
  }
  $("undo").addEventListener("click", () => {
    const d = state.undo.pop();
    if (d) { state.redo.push(maskData()); state.mask.getContext("2d").putImageData(d, 0, 0); maskChanged(); }
  });
  $("redo").addEventListener("click", () => {
    const d = state.redo.pop();
    if (d) { state.undo.push(maskData()); state.mask.getContext("2d").putImageData(d, 0, 0); maskChanged(); }
  });
  $("invert").addEventListener("click", () => {
    if (!state.source) return;
    const d = maskData();
    pushUndo();
    for (let i = 0; i < d.data.length; i += 4) {  // binary, as sent: the count becomes H*W minus the count
      d.data[i] = d.data[i + 1] = d.data[i + 2] = 255; d.data[i + 3] = d.data[i + 3] >= 128 ? 0 : 255;
    }
    state.mask.getContext("2d").putImageData(d, 0, 0); maskChanged();
  });
  $("feather").addEventListener("change", () => drawSource());
  $("clear").addEventListener("click", () => { pushUndo(); state.mask.getContext("2d").clearRect(0, 0, state.mask.width, state.mask.height); maskChanged(); });
  document.addEventListener("keydown", (ev) => {
    if (!(ev.ctrlKey || ev.metaKey)) return;
    const k = ev.key.toLowerCase();
    if (k === "z" && ev.shiftKey) { ev.preventDefault(); $("redo").click(); }
    else if (k === "z") { ev.preventDefault(); $("undo").click(); }
    else if (k === "y") { ev.preventDefault(); $("redo").click(); }
  });

  // A binary mask PNG (opaque black and white): what the server and `pastenet paste` read.
  function maskCanvas() {
    const c = document.createElement("canvas");
    c.width = state.mask.width; c.height = state.mask.height;
    const d = state.mask.getContext("2d").getImageData(0, 0, c.width, c.height);
    for (let i = 0; i < d.data.length; i += 4) {
      const v = d.data[i + 3] >= 128 ? 255 : 0;
      d.data[i] = d.data[i + 1] = d.data[i + 2] = v; d.data[i + 3] = 255;
    }
    c.getContext("2d").putImageData(d, 0, 0);
    return c;
  }
  function maskBox() {
    const d = state.mask.getContext("2d").getImageData(0, 0, state.mask.width, state.mask.height).data;
    let y0 = Infinity, y1 = -1, x0 = Infinity, x1 = -1;
    for (let y = 0; y < state.mask.height; y++) for (let x = 0; x < state.mask.width; x++) {
      if (d[(y * state.mask.width + x) * 4 + 3] >= 128) { if (y < y0) y0 = y; if (y > y1) y1 = y; if (x < x0) x0 = x; if (x > x1) x1 = x; }
    }
    return y1 < 0 ? null : [y0, y1 + 1, x0, x1 + 1];
  }

  // --- placing on the target ----------------------------------------------------------------
  let cutout = null; // the source masked, redrawn when the mask changes
  function getCutout() {
    if (!cutout && state.source) {
      cutout = document.createElement("canvas");
      cutout.width = state.mask.width; cutout.height = state.mask.height;
      const c = cutout.getContext("2d");
      c.drawImage(state.source.img, 0, 0);
      c.globalCompositeOperation = "destination-in";
      c.drawImage(state.mask, 0, 0);
    }
    return cutout;
  }
  function drawTarget() {
    if (!state.target) return;
    const ctx = tgtCanvas.getContext("2d");
    ctx.clearRect(0, 0, tgtCanvas.width, tgtCanvas.height);
    if (state.result && !state.showBefore) {
      const cut = Math.round(tgtCanvas.width * Number($("reveal").value) / 100);
      if (cut < tgtCanvas.width) ctx.drawImage(state.target.img, 0, 0);
      if (cut > 0) ctx.drawImage(state.result, 0, 0, cut, tgtCanvas.height, 0, 0, cut, tgtCanvas.height);
      return;
    }
    ctx.drawImage(state.target.img, 0, 0);
    const h = state.source && !state.showBefore ? handles() : null;
    if (h) {
      // The live preview: the cut-out scaled and rotated about its mask box's centre, as the server does it.
      ctx.save();
      ctx.translate(h.c[0], h.c[1]); ctx.rotate(-state.angle * Math.PI / 180); ctx.scale(state.scale, state.scale);
      ctx.drawImage(getCutout(), -h.src[0], -h.src[1]);
      ctx.restore();
      const px = handlePx();
      ctx.save();
      ctx.lineWidth = Math.max(1, px / 4); ctx.strokeStyle = "#00e5ff"; ctx.setLineDash([px, px / 2]);
      ctx.beginPath(); h.box.forEach((q, i) => (i ? ctx.lineTo(q[0], q[1]) : ctx.moveTo(q[0], q[1]))); ctx.closePath(); ctx.stroke();
      ctx.setLineDash([]);
      ctx.beginPath(); ctx.moveTo(h.top[0], h.top[1]); ctx.lineTo(h.rotate[0], h.rotate[1]); ctx.stroke();
      ctx.fillStyle = "#00e5ff";
      ctx.fillRect(h.corner[0] - px / 2, h.corner[1] - px / 2, px, px);
      ctx.beginPath(); ctx.arc(h.rotate[0], h.rotate[1], px / 2, 0, 2 * Math.PI); ctx.fill();
      ctx.restore();
    } else if (state.source && !state.showBefore) { ctx.drawImage(getCutout(), state.offset[1], state.offset[0]); }
    $("offset").textContent = state.offset[0] + ", " + state.offset[1];
  }
  function setOffset(dy, dx) { state.offset = [Math.round(dy), Math.round(dx)]; clearResult(); drawTarget(); }

  // --- scale and rotation handles -------------------------------------------------------------
  let cutBox;  // the mask's box [y0, y1, x0, x1] (null: empty), undefined until computed again
  function box() { if (cutBox === undefined) cutBox = state.source ? maskBox() : null; return cutBox; }
  function handlePx() { return 12 * Math.max(1, tgtCanvas.width / Math.max(1, tgtCanvas.getBoundingClientRect().width)); }
  // Canvas points of the placed region: its centre, box corners, the scale and rotation handles.
  function handles() {
    const b = state.target && box();
    if (!b) return null;
    const src = [(b[2] + b[3]) / 2, (b[0] + b[1]) / 2];  // the box's centre in canvas units of the source
    const c = [src[0] + state.offset[1], src[1] + state.offset[0]];
    const a = -state.angle * Math.PI / 180, cos = Math.cos(a), sin = Math.sin(a), s = state.scale;
    const hw = (b[3] - b[2]) / 2, hh = (b[1] - b[0]) / 2;
    const at = (x, y) => [c[0] + s * (x * cos - y * sin), c[1] + s * (x * sin + y * cos)];
    const lift = 3 * handlePx() / s;
    return { src: src, c: c, half: [hw, hh], box: [at(-hw, -hh), at(hw, -hh), at(hw, hh), at(-hw, hh)],
             corner: at(hw, hh), top: at(0, -hh), rotate: at(0, -hh - lift) };
  }
  function setTransform(scale, angle) {
    scale = Math.min(10, Math.max(0.1, Number.isFinite(scale) ? scale : 1));
    angle = Number.isFinite(angle) ? angle : 0;
    angle = ((angle + 180) % 360 + 360) % 360 - 180;  // (-180, 180]
    if (angle === -180) angle = 180;
    state.scale = Math.round(scale * 1000) / 1000; state.angle = Math.round(angle * 10) / 10;
    if (document.activeElement !== $("region-scale")) $("region-scale").value = state.scale;
    if (document.activeElement !== $("region-angle")) $("region-angle").value = state.angle;
    clearResult(); drawTarget(); schedulePrepare();
  }
  for (const id of ["region-scale", "region-angle"]) {
    $(id).addEventListener("input", () => {
      const v = Number($(id).value);
      if ($(id).value === "" || !Number.isFinite(v)) return;
      if (id === "region-scale") setTransform(v, state.angle); else setTransform(state.scale, v);
    });
    $(id).addEventListener("change", () => { $(id).value = id === "region-scale" ? state.scale : state.angle; });
  }
  $("reset-transform").addEventListener("click", () => setTransform(1, 0));

  let drag = null;
  tgtCanvas.addEventListener("pointerdown", (ev) => {
    if (!state.target) return;
    tgtCanvas.focus(); tgtCanvas.setPointerCapture(ev.pointerId);
    const p = canvasPoint(tgtCanvas, ev), h = state.source && handles(), r = handlePx();
    const near = (q) => Math.hypot(p[0] - q[0], p[1] - q[1]) <= r;
    if (h && near(h.corner)) drag = { kind: "scale", c: h.c, diag: Math.hypot(h.half[0], h.half[1]) };
    else if (h && near(h.rotate)) drag = { kind: "rotate", c: h.c, angle: state.angle, a0: Math.atan2(p[1] - h.c[1], p[0] - h.c[0]) };
    else drag = { kind: "move", start: p, offset: state.offset.slice() };
  });
  tgtCanvas.addEventListener("pointermove", (ev) => {
    const p = canvasPoint(tgtCanvas, ev);
    if (!drag) {  // the cursor says what a drag would do
      const h = state.source && handles(), r = handlePx();
      const near = (q) => h && Math.hypot(p[0] - q[0], p[1] - q[1]) <= r;
      tgtCanvas.style.cursor = near(h && h.corner) ? "nwse-resize" : near(h && h.rotate) ? "grab" : "";
      return;
    }
    if (drag.kind === "scale") setTransform(Math.hypot(p[0] - drag.c[0], p[1] - drag.c[1]) / Math.max(0.5, drag.diag), state.angle);
    else if (drag.kind === "rotate") setTransform(state.scale, drag.angle - (Math.atan2(p[1] - drag.c[1], p[0] - drag.c[0]) - drag.a0) * 180 / Math.PI);
    else setOffset(drag.offset[0] + p[1] - drag.start[1], drag.offset[1] + p[0] - drag.start[0]);
  });
  tgtCanvas.addEventListener("pointerup", () => { drag = null; });
  tgtCanvas.addEventListener("pointercancel", () => { drag = null; });
  tgtCanvas.addEventListener("keydown", (ev) => {
    const step = ev.shiftKey ? 10 : 1;
    const moves = { ArrowUp: [-step, 0], ArrowDown: [step, 0], ArrowLeft: [0, -step], ArrowRight: [0, step] };
    const m = moves[ev.key];
    if (m) { ev.preventDefault(); setOffset(state.offset[0] + m[0], state.offset[1] + m[1]); }
    else if (ev.key === "[") { ev.preventDefault(); setTransform(state.scale, state.angle + 1); }
    else if (ev.key === "]") { ev.preventDefault(); setTransform(state.scale, state.angle - 1); }
    else if (ev.key === "-") { ev.preventDefault(); setTransform(state.scale / 1.02, state.angle); }
    else if (ev.key === "=" || ev.key === "+") { ev.preventDefault(); setTransform(state.scale * 1.02, state.angle); }
  });
  $("center").addEventListener("click", () => {
    const b = state.source && state.target && maskBox();
    if (!b) { showError("draw a region on the source and load a target first"); return; }
    setOffset(state.target.height / 2 - (b[0] + b[1]) / 2, state.target.width / 2 - (b[2] + b[3]) / 2);
  });

  // --- pasting --------------------------------------------------------------------------------
  function clearResult() {
    state.result = null; state.showBefore = false;
    $("toggle").disabled = true; $("toggle").textContent = "show before";
    $("download-result").hidden = true;
    $("reveal").disabled = true; $("reveal").value = 100;
    $("thumbs").hidden = true; $("thumbs").replaceChildren();
  }
  $("reveal").addEventListener("input", () => drawTarget());
  $("toggle").addEventListener("click", () => {
    state.showBefore = !state.showBefore;
    $("toggle").textContent = state.showBefore ? "show after" : "show before";
    drawTarget();
  });
  function showResult(r, img, maskUrl) {
    state.result = img; state.showBefore = false;
    $("toggle").disabled = false; $("toggle").textContent = "show before"; $("reveal").disabled = false;
    $("download-result").href = r.image; $("download-result").hidden = false;
    $("download-mask").href = maskUrl; $("download-mask").hidden = false;
    $("command").textContent = r.command; $("command-box").hidden = false;
    setStatus(r.method + ": " + r.seconds.toFixed(2) + " s on the server" + (r.warnings.length ? "; " + r.warnings.join("; ") : ""));
    drawTarget();
  }
  // Runs `work(body, maskUrl)` with the progress shown; a message instead when the inputs are not ready.
  async function withPasteInputs(work) {
    if (state.busy) return;
    showError("");
    if (!state.source || !state.target) { showError("load a source and a target first"); return; }
    if (!maskBox()) { showError("the region is empty: draw it on the source first"); return; }
    const maskUrl = maskCanvas().toDataURL("image/png");
    const body = { target: state.target.id, source: state.source.id, mask: maskUrl, offset: state.offset, seed: 0, scale: state.scale, angle: state.angle };
    state.busy = true; $("paste").disabled = true; $("compare").disabled = true; $("progress").hidden = false;
    const t0 = performance.now();
    const timer = setInterval(() => { $("elapsed").textContent = ((performance.now() - t0) / 1000).toFixed(1) + " s"; }, 100);
    try {
      await work(body, maskUrl);
    } catch (e) {
      showError("paste: " + e.message);
    } finally {
      clearInterval(timer); state.busy = false; $("paste").disabled = false; $("compare").disabled = false; $("progress").hidden = true;
    }
  }
  async function pasteWith(body, method) {
    return await jsonOrError(await fetch("/api/paste", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(Object.assign({}, body, { method: method })) }));
  }
  $("paste").addEventListener("click", () => withPasteInputs(async (body, maskUrl) => {
    const r = await pasteWith(body, $("method").value);
    showResult(r, await loadImage(r.image), maskUrl);
  }));
  // Side by side: every method in turn (one request at a time), as labelled thumbnails; a click shows one large.
  $("compare").addEventListener("click", () => withPasteInputs(async (body, maskUrl) => {
    clearResult();
    const thumbs = $("thumbs");
    for (const opt of $("method").options) {
      $("elapsed").textContent = opt.value + " ...";
      const r = await pasteWith(body, opt.value), img = await loadImage(r.image);
      const fig = document.createElement("figure"), cap = document.createElement("figcaption");
      fig.dataset.method = r.method;
      cap.textContent = opt.textContent + " (" + r.seconds.toFixed(2) + " s)";
      fig.append(img.cloneNode(), cap);
      fig.addEventListener("click", () => {
        for (const f of thumbs.children) f.classList.toggle("selected", f === fig);
        $("method").value = r.method; showResult(r, img, maskUrl);
      });
      thumbs.append(fig); thumbs.hidden = false;
    }
    thumbs.firstElementChild.click();
  }));

  wireFile("source"); wireFile("target");
})();
