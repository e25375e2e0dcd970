// regionlm-server's page: open an image, make regions (SAM clicks, boxes, scribbles, mask
// uploads), ask about them with the answer streamed, or describe everything SAM finds.
// Talks only to this server's /v1 API; fetches nothing else.
"use strict";

const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
                "#bfef45", "#469990", "#9a6324", "#800000", "#808000", "#000075", "#a9a9a9"];

const state = {
  apiKey: "",
  sam: false,
  image: null,        // {dataUrl, width, height, element}
  regions: [],        // {color, prompt: {points, box, scribble}, mask: Uint8Array|null, spec, label}
  current: -1,        // region that clicks refine
  conversation: [],   // [{question, answer}]
  busy: false,
};
window.regionlm = state;  // for tests and the curious

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");

// ---- API ---------------------------------------------------------------------------------

function headers() {
  const h = {"Content-Type": "application/json"};
  if (state.apiKey) h["Authorization"] = "Bearer " + state.apiKey;
  return h;
}

async function post(path, body) {
  const response = await fetch(path, {method: "POST", headers: headers(), body: JSON.stringify(body)});
  const data = await response.json();
  if (!response.ok) throw new Error(data.error ? data.error.message : "HTTP " + response.status);
  return data;
}

function setStatus(text) { $("status").textContent = text; }

// ---- COCO RLE (column-major runs, first run zeros; pycocotools' string form) -------------

function rleCounts(text) {
  const counts = [];
  let p = 0;
  while (p < text.length) {
    let x = 0, k = 0, more = true;
    while (more) {
      const c = text.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p++; k++;
      if (!more && (c & 0x10)) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

function rleToMask(rle) {
  const [h, w] = rle.size;
  const mask = new Uint8Array(h * w);  // row-major
  const counts = typeof rle.counts === "string" ? rleCounts(rle.counts) : rle.counts;
  let i = 0, value = 0;
  for (const run of counts) {
    if (value) {
      for (let j = i; j < i + run; j++) mask[(j % h) * w + Math.floor(j / h)] = 1;
    }
    i += run;
    value ^= 1;
  }
  return mask;
}

// ---- drawing ----------------------------------------------------------------------------

function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function centroid(mask, w) {
  let sx = 0, sy = 0, n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) { sx += i % w; sy += Math.floor(i / w); n++; }
  }
  return n ? [sx / n, sy / n] : null;
}

function drawMark(x, y, label, color) {
  const r = Math.max(9, Math.round(Math.min(canvas.width, canvas.height) / 40));
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fillStyle = "rgba(0,0,0,0.75)";
  ctx.fill();
  ctx.lineWidth = 2;
  ctx.strokeStyle = color;
  ctx.stroke();
  ctx.fillStyle = "#fff";
  ctx.font = `bold ${Math.round(r * 1.2)}px sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(String(label), x, y + 1);
}

function redraw(preview) {
  if (!state.image) return;
  const {width: w, height: h} = state.image;
  ctx.drawImage(state.image.element, 0, 0);
  const overlay = ctx.getImageData(0, 0, w, h);
  let masks = 0;
  state.regions.forEach((region) => {
    if (!region.mask) return;
    masks++;
    const [r, g, b] = hexToRgb(region.color);
    for (let i = 0; i < region.mask.length; i++) {
      if (!region.mask[i]) continue;
      const o = i * 4;
      overlay.data[o] = (overlay.data[o] + r) >> 1;
      overlay.data[o + 1] = (overlay.data[o + 1] + g) >> 1;
      overlay.data[o + 2] = (overlay.data[o + 2] + b) >> 1;
    }
  });
  ctx.putImageData(overlay, 0, 0);
  state.regions.forEach((region, index) => {
    for (const p of region.prompt.points) {
      ctx.beginPath();
      ctx.arc(p[0] + 0.5, p[1] + 0.5, 4, 0, 2 * Math.PI);
      ctx.fillStyle = p[2] ? "#22c55e" : "#ef4444";
      ctx.fill();
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
    if (region.prompt.box) {
      const [x0, y0, x1, y1] = region.prompt.box;
      ctx.strokeStyle = region.color;
      ctx.lineWidth = 2;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    }
    if (region.prompt.scribble) {
      ctx.strokeStyle = region.color;
      ctx.lineWidth = 3;
      ctx.beginPath();
      region.prompt.scribble.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.stroke();
    }
    const at = region.mask ? centroid(region.mask, w) : null;
    if (at) drawMark(at[0], at[1], index + 1, region.color);
  });
  if (preview) preview();
  canvas.dataset.regions = String(state.regions.length);
  canvas.dataset.masks = String(masks);
}

function renderRegionList() {
  const list = $("region-list");
  list.innerHTML = "";
  state.regions.forEach((region, index) => {
    const li = document.createElement("li");
    li.className = index === state.current ? "current" : "";
    li.dataset.region = String(index + 1);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = region.color;
    li.append(swatch, `<region${index + 1}> ${region.label}${region.mask ? "" : " (segmenting…)"}`);
    li.addEventListener("click", () => { state.current = index; renderRegionList(); });
    list.append(li);
  });
}

function regionsChanged() {
  state.conversation = [];
  renderConversation();
  renderRegionList();
  redraw();
}

// ---- images -----------------------------------------------------------------------------

function loadImage(dataUrl) {
  return new Promise((resolve, reject) => {
    const element = new Image();
    element.onload = () => resolve(element);
    element.onerror = () => reject(new Error("the browser cannot decode this image"));
    element.src = dataUrl;
  });
}

function readAsDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function openImage(blob) {
  if (blob.type !== "image/png" && blob.type !== "image/jpeg") {
    setStatus("Only PNG and JPEG images are accepted.");
    return;
  }
  const dataUrl = await readAsDataUrl(blob);
  const element = await loadImage(dataUrl);
  state.image = {dataUrl, width: element.naturalWidth, height: element.naturalHeight, element};
  canvas.width = state.image.width;
  canvas.height = state.image.height;
  // Small images are shown enlarged (pixels stay sharp); large ones shrink to the column.
  canvas.style.width = Math.max(state.image.width, 512) + "px";
  $("canvas-hint").hidden = true;
  state.regions = [];
  state.current = -1;
  $("marks").innerHTML = "";
  $("marks-title").hidden = true;
  regionsChanged();
  canvas.dataset.image = "loaded";
  setStatus(`Image ${state.image.width}×${state.image.height} px.`);
}

// ---- regions ----------------------------------------------------------------------------

function newRegion(label) {
  const region = {color: COLORS[state.regions.length % COLORS.length], prompt: {points: [], box: null, scribble: null},
                  mask: null, spec: null, label};
  state.regions.push(region);
  state.current = state.regions.length - 1;
  return region;
}

function currentRegion() {
  const region = state.regions[state.current];
  if (region && region.prompt && !region.fixed) return region;
  return newRegion("SAM");
}

async function segment(region) {
  const body = {image: state.image.dataUrl, multimask: true};
  if (region.prompt.points.length) body.points = region.prompt.points;
  if (region.prompt.box) body.box = region.prompt.box;
  if (region.prompt.scribble) body.scribble = region.prompt.scribble;
  region.mask = null;
  regionsChanged();
  try {
    const result = await post("/v1/segment", body);
    const best = result.masks[0];
    region.mask = rleToMask(best.rle);
    region.spec = {mask: best.rle};
    region.label = `SAM mask, score ${best.score.toFixed(2)}`;
  } catch (error) {
    setStatus("Segmentation failed: " + error.message);
  }
  regionsChanged();
}

function boxMask(box) {
  const {width: w, height: h} = state.image;
  const mask = new Uint8Array(w * h);
  const [x0, y0, x1, y1] = box.map(Math.round);
  for (let y = Math.max(0, y0); y < Math.min(h, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(w, x1); x++) mask[y * w + x] = 1;
  }
  return mask;
}

async function uploadMask(file) {
  if (!state.image) return setStatus("Open an image first.");
  const dataUrl = await readAsDataUrl(file);
  const element = await loadImage(dataUrl);
  if (element.naturalWidth !== state.image.width || element.naturalHeight !== state.image.height) {
    return setStatus(`The mask is ${element.naturalWidth}×${element.naturalHeight} px; the image is ` +
                     `${state.image.width}×${state.image.height}.`);
  }
  const scratch = document.createElement("canvas");
  scratch.width = element.naturalWidth;
  scratch.height = element.naturalHeight;
  const sctx = scratch.getContext("2d");
  sctx.drawImage(element, 0, 0);
  const pixels = sctx.getImageData(0, 0, scratch.width, scratch.height).data;
  const mask = new Uint8Array(scratch.width * scratch.height);
  for (let i = 0; i < mask.length; i++) mask[i] = pixels[4 * i] || pixels[4 * i + 1] || pixels[4 * i + 2] ? 1 : 0;
  const region = newRegion(file.name);
  region.fixed = true;
  region.mask = mask;
  region.spec = {mask_png: dataUrl.slice(dataUrl.indexOf(",") + 1)};
  regionsChanged();
}

// ---- gestures: click = positive point, right click = negative, drag = box, shift-drag = scribble

let gesture = null;

function imagePoint(event) {
  const rect = canvas.getBoundingClientRect();
  const x = Math.floor((event.clientX - rect.left) * canvas.width / rect.width);
  const y = Math.floor((event.clientY - rect.top) * canvas.height / rect.height);
  return [Math.min(Math.max(x, 0), canvas.width - 1), Math.min(Math.max(y, 0), canvas.height - 1)];
}

canvas.addEventListener("contextmenu", (event) => event.preventDefault());

canvas.addEventListener("mousedown", (event) => {
  if (!state.image || state.busy) return;
  event.preventDefault();
  gesture = {start: imagePoint(event), path: [imagePoint(event)], button: event.button, shift: event.shiftKey, moved: false};
});

canvas.addEventListener("mousemove", (event) => {
  if (!gesture) return;
  const p = imagePoint(event);
  const [sx, sy] = gesture.start;
  if (Math.abs(p[0] - sx) + Math.abs(p[1] - sy) > 4) gesture.moved = true;
  gesture.path.push(p);
  if (!gesture.moved) return;
  redraw(() => {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 2;
    ctx.setLineDash([6, 4]);
    if (gesture.shift) {
      ctx.beginPath();
      gesture.path.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.stroke();
    } else {
      ctx.strokeRect(sx, sy, p[0] - sx, p[1] - sy);
    }
    ctx.setLineDash([]);
  });
});

window.addEventListener("mouseup", (event) => {
  if (!gesture) return;
  const g = gesture;
  gesture = null;
  const end = imagePoint(event);
  if (!g.moved) {
    if (!state.sam) return setStatus("Clicks need Segment Anything (start the server with --sam). Drag a box instead.");
    const region = currentRegion();
    region.prompt.points.push([g.start[0], g.start[1], g.button === 2 ? 0 : 1]);
    return segment(region);
  }
  if (g.shift) {
    if (!state.sam) return setStatus("Scribbles need Segment Anything (start the server with --sam).");
    const region = currentRegion();
    region.prompt.scribble = g.path;
    return segment(region);
  }
  const box = [Math.min(g.start[0], end[0]), Math.min(g.start[1], end[1]),
               Math.max(g.start[0], end[0]) + 1, Math.max(g.start[1], end[1]) + 1];
  if (state.sam) {
    const region = currentRegion();
    region.prompt.box = box;
    return segment(region);
  }
  const region = newRegion(`box ${box.join(", ")}`);
  region.fixed = true;
  region.mask = boxMask(box);
  region.spec = {box};
  regionsChanged();
});

// ---- asking -----------------------------------------------------------------------------

function renderConversation() {
  const box = $("conversation");
  box.innerHTML = "";
  for (const turn of state.conversation.slice(0, -1)) {
    const div = document.createElement("div");
    div.className = "turn";
    div.innerHTML = '<div class="q"></div><div class="a"></div>';
    div.querySelector(".q").textContent = "Q: " + turn.question;
    div.querySelector(".a").textContent = "A: " + turn.answer;
    box.append(div);
  }
}

function regionSpecs() {
  const ready = state.regions.filter((r) => r.spec);
  return ready.map((r) => r.spec);
}

async function ask(question) {
  if (!state.image) return setStatus("Open an image first.");
  if (state.regions.some((r) => !r.spec)) return setStatus("Wait for the regions to be segmented.");
  const messages = [];
  const first = (text) => [{type: "image_url", image_url: {url: state.image.dataUrl}}, {type: "text", text}];
  state.conversation.forEach((turn, i) => {
    messages.push({role: "user", content: i === 0 ? first(turn.question) : turn.question});
    messages.push({role: "assistant", content: turn.answer});
  });
  messages.push({role: "user", content: messages.length === 0 ? first(question) : question});
  const answer = $("answer");
  answer.textContent = "";
  answer.dataset.state = "streaming";
  state.busy = true;
  $("ask").disabled = true;
  let text = "";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(),
      body: JSON.stringify({messages, regions: regionSpecs(), stream: true,
                            max_tokens: Number($("max-tokens").value) || 128}),
    });
    if (!response.ok) {
      const data = await response.json();
      throw new Error(data.error ? data.error.message : "HTTP " + response.status);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let done = false;
    while (!done) {
      const chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, {stream: true});
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") { done = true; break; }
        const parsed = JSON.parse(data);
        if (parsed.error) throw new Error(parsed.error.message);
        const delta = parsed.choices.length ? parsed.choices[0].delta : {};
        if (delta.content) {
          text += delta.content;
          answer.textContent = text;
        }
      }
    }
    state.conversation.push({question, answer: text});
    renderConversation();
    answer.dataset.state = "done";
  } catch (error) {
    answer.textContent = error.message;
    answer.dataset.state = "error";
  } finally {
    state.busy = false;
    $("ask").disabled = false;
  }
}

async function describeEverything() {
  if (!state.image) return setStatus("Open an image first.");
  setStatus("Segmenting everything and describing each region…");
  $("everything").disabled = true;
  try {
    const result = await post("/v1/regions/describe", {image: state.image.dataUrl, everything: true, max_tokens: 64});
    state.regions = [];
    const marks = $("marks");
    marks.innerHTML = "";
    for (const r of result.regions) {
      const region = newRegion(r.text);
      region.fixed = true;
      region.mask = rleToMask(r.rle);
      region.spec = {mask: r.rle};
      const li = document.createElement("li");
      li.dataset.region = String(r.id);
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = region.color;
      li.append(swatch, r.text);
      marks.append(li);
    }
    state.current = -1;
    $("marks-title").hidden = false;
    regionsChanged();
    canvas.dataset.marks = String(result.regions.length);
    setStatus(`${result.regions.length} regions.`);
  } catch (error) {
    setStatus("Describe everything failed: " + error.message);
  } finally {
    $("everything").disabled = !state.sam;
  }
}

// ---- wiring -----------------------------------------------------------------------------

$("file-input").addEventListener("change", (e) => e.target.files[0] && openImage(e.target.files[0]));
$("mask-input").addEventListener("change", (e) => e.target.files[0] && uploadMask(e.target.files[0]));
$("scene-button").addEventListener("click", async () => openImage(await (await fetch("/scene.png")).blob()));
$("new-region").addEventListener("click", () => { state.current = -1; renderRegionList(); });
$("clear-regions").addEventListener("click", () => { state.regions = []; state.current = -1; regionsChanged(); });
$("everything").addEventListener("click", describeEverything);
$("reset-chat").addEventListener("click", () => { state.conversation = []; renderConversation(); });
$("ask-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (question) ask(question);
});
document.addEventListener("keydown", (event) => {
  if (event.key === "n" && event.target.tagName !== "TEXTAREA" && event.target.tagName !== "INPUT") {
    state.current = -1;
    renderRegionList();
  }
});
$("api-key").addEventListener("change", (e) => { state.apiKey = e.target.value; connect(); });

async function connect() {
  const response = await fetch("/v1/models", {headers: headers()});
  if (response.status === 401) {
    $("key-box").hidden = false;
    $("model-name").textContent = "this server needs an API key";
    return;
  }
  const data = await response.json();
  const model = data.data[0];
  state.sam = Boolean(model.meta && model.meta.sam);
  $("model-name").textContent = model.id;
  $("everything").disabled = !state.sam;
  $("sam-status").textContent = state.sam ? "Segment Anything: on" :
      "Segment Anything is off (no --sam): drag boxes or upload masks";
  $("gesture-help").textContent = state.sam
      ? "Click = positive point, right click = negative point, drag = box, shift-drag = scribble. " +
        "Clicks refine the highlighted region; \"New region\" (key N) starts another."
      : "Drag = box region; upload a mask PNG for a mask region. Clicks, scribbles and \"Describe everything\" " +
        "need a server started with --sam.";
  document.body.dataset.ready = "true";
}

connect();
