// lineinspect viewer: WHEP live video, live defect events (SSE), image inspection.
// Plain browser JavaScript, no build step; works in current Chromium and Firefox.
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_EVENTS = 100;
const state = { status: null, camera: null, pc: null, session: null, codec: null, retry: null,
                lastFrames: 0, lastT: 0, events: 0 };
window.lineinspect = state;  // for debugging and for the browser tests

async function getJSON(url) {
  const res = await fetch(url, { cache: "no-store" });
  if (res.status === 401) { location.href = "/login"; throw new Error("login needed"); }
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

async function problem(res) {
  try { const body = await res.json(); return body.detail || JSON.stringify(body); }
  catch (e) { return `${res.status} ${res.statusText}`; }
}

// ---- status ------------------------------------------------------------------------------
async function loadStatus() {
  const st = await getJSON("/api/status");
  state.status = st;
  const ready = $("ready");
  ready.textContent = st.ready ? "ready" : "not ready";
  ready.className = "pill " + (st.ready ? "ok" : "bad");
  $("viewers").textContent = `${st.stream.viewers} / ${st.stream.max_viewers}`;
  if (st.alarm) showAlarm(st.alarm);
  showLive(st.live);
  return st;
}

function fillCameras(st) {
  const sel = $("camera");
  sel.innerHTML = "";
  for (const cam of st.cameras) {
    const opt = document.createElement("option");
    opt.value = cam.id; opt.textContent = `${cam.id} (${cam.state})`;
    sel.appendChild(opt);
  }
  const wanted = new URLSearchParams(location.search).get("camera");
  if (wanted && st.cameras.some((c) => c.id === wanted)) sel.value = wanted;
  state.camera = sel.value || null;
  const models = $("model");
  models.innerHTML = "";
  for (const m of st.models) {
    const opt = document.createElement("option");
    opt.value = m; opt.textContent = m;
    models.appendChild(opt);
  }
  $("inspect-btn").disabled = st.models.length === 0;
  if (st.models.length === 0) $("inspect-msg").textContent = "no model loaded on this edge";
}

// ---- live video over WHEP ----------------------------------------------------------------
function waitIceGathering(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); } };
    const t = setTimeout(resolve, timeoutMs);
    pc.addEventListener("icegatheringstatechange", done);
  });
}

async function stopVideo() {
  clearTimeout(state.retry);
  const { pc, session } = state;
  state.pc = null; state.session = null;
  if (pc) pc.close();
  if (session) {
    try { await fetch(session, { method: "DELETE", keepalive: true }); } catch (e) { /* gone */ }
  }
}

async function startVideo() {
  await stopVideo();
  const camera = state.camera;
  if (!camera || !state.status.stream.enabled) {
    $("video-msg").textContent = camera ? "live video is off on this edge" : "no camera";
    return;
  }
  $("video-msg").textContent = "connecting…";
  const pc = new RTCPeerConnection({ iceServers: state.status.stream.ice_servers });
  state.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.ontrack = (ev) => {
    const video = $("video");
    video.srcObject = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
    video.play().catch(() => {});
  };
  pc.onconnectionstatechange = () => {
    if (state.pc !== pc) return;
    if (pc.connectionState === "connected") $("video-msg").textContent = "";
    if (pc.connectionState === "failed" || pc.connectionState === "disconnected") {
      $("video-msg").textContent = "connection lost; reconnecting…";
      state.retry = setTimeout(startVideo, 2000);
    }
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await waitIceGathering(pc, 2000);
    const res = await fetch(`/whep/${encodeURIComponent(camera)}`, {
      method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp,
    });
    if (res.status !== 201) {
      $("video-msg").textContent = `cannot watch ${camera}: ${await problem(res)}`;
      if (res.status === 503) state.retry = setTimeout(startVideo, 10000);
      return;
    }
    state.session = res.headers.get("Location");
    state.codec = res.headers.get("X-Codec");
    $("codec").textContent = state.codec || "—";
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  } catch (e) {
    $("video-msg").textContent = `video failed: ${e.message}; retrying…`;
    state.retry = setTimeout(startVideo, 3000);
  }
}

async function inboundVideo() {
  if (!state.pc) return null;
  const report = await state.pc.getStats();
  let found = null;
  report.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") found = s; });
  return found;
}
state.inboundVideo = inboundVideo;

async function pollVideoStats() {
  const s = await inboundVideo().catch(() => null);
  if (s) {
    const frames = s.framesDecoded || 0;
    const now = performance.now();
    $("frames-decoded").textContent = frames;
    if (state.lastT && frames >= state.lastFrames) {
      const fps = s.framesPerSecond || (1000 * (frames - state.lastFrames)) / (now - state.lastT);
      $("stream-fps").textContent = fps.toFixed(1);
    }
    state.lastFrames = frames; state.lastT = now;
  }
}

// ---- live events (SSE) -------------------------------------------------------------------
function showAlarm(alarm) {
  const el = $("alarm");
  el.className = "pill " + (alarm.active ? "alarm-on" : "alarm-off");
  el.textContent = alarm.active
    ? `ALARM ${alarm.class_name || ""} ${alarm.zone ? "@" + alarm.zone : ""} (${alarm.count})`
    : "alarm: clear";
}

function showLive(live) {
  const mine = live && state.camera ? live[state.camera] : null;
  $("pipe-fps").textContent = mine ? mine.fps.toFixed(1) : "—";
  $("pipe-latency").textContent = mine && mine.latency_ms != null ? `${mine.latency_ms.toFixed(0)} ms` : "—";
}

// A refined update's sizes: mm on a calibrated camera, else px ("" for unrefined events).
function sizeText(ev) {
  if (!ev.refined) return "";
  const fmt = (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1));
  if (ev.area_mm2 != null && ev.length_mm != null) {
    return ` · ${fmt(ev.area_mm2)} mm² · ${fmt(ev.length_mm)}×${fmt(ev.width_mm)} mm`;
  }
  if (ev.length_px != null) {
    return ` · ${fmt(ev.area_px)} px² · ${fmt(ev.length_px)}×${fmt(ev.width_px)} px`;
  }
  return ` · ${fmt(ev.area_px)} px²`;
}

function addEvent(ev) {
  const li = document.createElement("li");
  li.className = `kind-${ev.kind}` + (ev.camera !== state.camera ? " other-camera" : "");
  li.dataset.camera = ev.camera;
  li.dataset.defect = ev.defect_id;
  const t = new Date(ev.ts_ms).toLocaleTimeString();
  const zone = ev.zone ? ` @${ev.zone}` : "";
  li.innerHTML = `<span class="kind"></span><span class="what"></span><span class="sev"></span>
                  <span class="when"></span><span class="where"></span>`;
  li.querySelector(".kind").textContent = ev.kind;
  li.querySelector(".what").textContent = `${ev.class_name} ${(ev.confidence * 100).toFixed(0)}% #${ev.track_id}` + sizeText(ev);
  const sev = li.querySelector(".sev");
  sev.textContent = ev.severity; sev.className = `sev sev-${ev.severity}`;
  li.querySelector(".when").textContent = t;
  li.querySelector(".where").textContent = `${ev.camera}${zone} frame ${ev.frame_seq}`;
  const list = $("events");
  list.insertBefore(li, list.firstChild);
  while (list.children.length > MAX_EVENTS) list.removeChild(list.lastChild);
  state.events += 1;
  $("event-count").textContent = state.events;
}

function connectEvents() {
  const es = new EventSource("/api/events");
  es.addEventListener("defect", (m) => addEvent(JSON.parse(m.data)));
  es.addEventListener("alarm", (m) => showAlarm(JSON.parse(m.data)));
  es.addEventListener("live", (m) => showLive(JSON.parse(m.data)));
  es.addEventListener("dropped", (m) => {
    $("events-msg").textContent = `${JSON.parse(m.data).events} events skipped (slow connection)`;
  });
  es.onopen = () => { $("events-msg").textContent = ""; };
  es.onerror = () => { $("events-msg").textContent = "event stream interrupted; reconnecting…"; };
  state.eventSource = es;
}

// ---- inspect images ----------------------------------------------------------------------
function resultBox(name) {
  const box = document.createElement("div");
  box.className = "result";
  box.innerHTML = `<figure><img alt=""><figcaption></figcaption></figure><pre></pre>`;
  box.querySelector("figcaption").textContent = name;
  $("results").appendChild(box);
  return box;
}

async function inspect(ev) {
  ev.preventDefault();
  const files = Array.from($("files").files);
  if (files.length === 0) { $("inspect-msg").textContent = "choose one or more images first"; return; }
  const model = $("model").value;
  $("inspect-msg").textContent = "";
  $("results").innerHTML = "";
  $("inspect-btn").disabled = true;
  try {
    await Promise.all(files.map(async (file) => {
      const box = resultBox(file.name);
      const form = () => { const f = new FormData(); f.append("files", file, file.name); return f; };
      const q = `model=${encodeURIComponent(model)}`;
      const [json, img] = await Promise.all([
        fetch(`/predict?${q}`, { method: "POST", body: form() }),
        fetch(`/predict_and_visualize?${q}&format=jpeg`, { method: "POST", body: form() }),
      ]);
      const pre = box.querySelector("pre");
      if (!json.ok) { pre.className = "error"; pre.textContent = await problem(json); }
      else pre.textContent = JSON.stringify((await json.json()).results[0], null, 2);
      if (img.ok) {
        const el = box.querySelector("img");
        el.src = URL.createObjectURL(await img.blob());
        el.dataset.detections = img.headers.get("X-Detections");
        box.classList.add("done");
      } else if (json.ok) {
        pre.className = "error"; pre.textContent = await problem(img);
      }
    }));
  } finally {
    $("inspect-btn").disabled = false;
  }
}

// ---- start ---------------------------------------------------------------------------------
async function main() {
  try {
    fillCameras(await loadStatus());
  } catch (e) {
    $("video-msg").textContent = `status unavailable: ${e.message}`;
    return;
  }
  $("camera").addEventListener("change", () => {
    state.camera = $("camera").value;
    for (const li of $("events").children) li.classList.toggle("other-camera", li.dataset.camera !== state.camera);
    startVideo();
  });
  $("inspect-form").addEventListener("submit", inspect);
  window.addEventListener("pagehide", stopVideo);
  connectEvents();
  startVideo();
  setInterval(pollVideoStats, 1000);
  setInterval(() => loadStatus().catch(() => {}), 5000);
}

main();
