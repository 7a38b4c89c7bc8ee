// The labelling queue: the next unlabelled episode plays; keys 1-5 (y / n in success mode) label
// it, s skips, u or Backspace undoes this page's last label, r replays. A label counts as saved
// only when the server says it is on disk; until then the episode stays on screen.
"use strict";

const RUBRIC = { 1: "No success", 2: "Minimal progress", 3: "Partial", 4: "Near completion", 5: "Perfect" };
const pageId = sessionStorage.getItem("rrl.page") ||
  (window.crypto && crypto.randomUUID ? crypto.randomUUID() : `p${Date.now()}${Math.random().toString(16).slice(2)}`);
sessionStorage.setItem("rrl.page", pageId);

const video = document.getElementById("video");
const finalFrame = document.getElementById("final-frame");
const labellerInput = document.getElementById("labeller");
labellerInput.value = localStorage.getItem("rrl.labeller") || "";
labellerInput.addEventListener("change", () => localStorage.setItem("rrl.labeller", labellerInput.value.trim()));

let current = null;       // the episode on screen (leased to this page)
let busy = false;         // a request is in flight: keys wait
let mode = document.querySelector(".labelling").dataset.mode || "score";
let retryTimer = null;
const undoStack = [];     // episode ids this page labelled, newest last
const skipped = new Set();

function say(text, kind = "info") {
  const box = document.getElementById("message");
  box.textContent = text;
  box.className = `message ${kind}`;
}

function labeller() { return labellerInput.value.trim() || "web"; }

function buildButtons() {
  const box = document.getElementById("score-buttons");
  const choices = mode === "success"
    ? [[1, "Failure", "n"], [5, "Success", "y"]]
    : [1, 2, 3, 4, 5].map((s) => [s, RUBRIC[s], String(s)]);
  box.replaceChildren(...choices.map(([score, name, key]) => {
    const button = el("button", { type: "button", class: `score-button s${score}`, "data-score": score, title: `key ${key}` },
      el("span", { class: "big", text: mode === "success" ? name : String(score) }),
      el("span", { class: "small", text: mode === "success" ? `key ${key}` : name }));
    button.addEventListener("click", () => submit(score));
    return button;
  }));
}

function setEnabled(on) {
  for (const b of document.querySelectorAll("#score-buttons button, #skip")) b.disabled = !on;
  document.getElementById("undo").disabled = undoStack.length === 0;
}

function show(episode) {
  current = episode;
  const idBox = document.getElementById("episode-id");
  idBox.textContent = episode.episode_id;
  idBox.dataset.episode = episode.episode_id;
  document.getElementById("task").textContent = episode.task || "–";
  document.getElementById("episode-index").textContent = episode.index === null || episode.index === undefined ? "" : `(#${episode.index})`;
  const id = encodeURIComponent(episode.episode_id);
  const mp4 = el("source", { src: `/media/${id}/video.mp4`, type: "video/mp4" });
  const webm = el("source", { src: `/media/${id}/video.webm`, type: "video/webm" });
  webm.addEventListener("error", () => say("This browser cannot play the episode video; judge from the final frame.", "warn"));
  video.replaceChildren(mp4, webm);
  video.load();
  video.play().catch(() => {});
  finalFrame.src = `/media/${id}/final.png`;
  setEnabled(true);
}

function showNothing(data) {
  current = null;
  const idBox = document.getElementById("episode-id");
  idBox.textContent = "–";
  idBox.dataset.episode = "";
  document.getElementById("task").textContent = "–";
  video.removeAttribute("src");
  video.replaceChildren();
  finalFrame.removeAttribute("src");
  setEnabled(false);
  const q = data.queue;
  let text = "No episode is waiting for a label. Checking again every 3 s.";
  if (q.skipped) text = `Only episodes you skipped are left (${q.skipped}). Press s to see them again.`;
  else if (q.leased_elsewhere) text = `The ${q.leased_elsewhere} unlabelled episodes are open on other pages.`;
  document.getElementById("queue").textContent = text;
}

async function loadNext() {
  clearTimeout(retryTimer);
  const exclude = [...skipped].join(",");
  let data;
  try {
    data = await api(`/api/label/next?page=${encodeURIComponent(pageId)}&exclude=${encodeURIComponent(exclude)}`);
  } catch (error) {
    say(`Cannot fetch the next episode: ${error.message}. Retrying in 3 s.`, "error");
    retryTimer = setTimeout(loadNext, 3000);
    return;
  }
  if (data.mode !== mode) { mode = data.mode; buildButtons(); }
  const notes = data.state && data.state.state === "stale" ? [data.state.message] : [];
  showBanner(notes, "warn");
  if (data.episode) {
    show(data.episode);
    const q = data.queue;
    document.getElementById("queue").textContent =
      `${q.unlabelled} unlabelled · ${q.waiting_for_reward} waiting for a reward` +
      (q.leased_elsewhere ? ` · ${q.leased_elsewhere} open on other pages` : "") +
      (q.skipped ? ` · ${q.skipped} skipped` : "");
  } else {
    showNothing(data);
    retryTimer = setTimeout(loadNext, 3000);
  }
}

async function submit(score) {
  if (busy || !current) return;
  busy = true;
  setEnabled(false);
  const episode = current;
  say(`Saving ${score} for episode ${episode.episode_id}…`);
  try {
    const r = await api("/api/label", { body: { page: pageId, episode_id: episode.episode_id, score, labeller: labeller() } });
    undoStack.push(episode.episode_id);
    say(`Saved ${r.stored.score} for episode ${episode.episode_id}.`, "ok");
    await loadNext();
  } catch (error) {
    if (error.status === 409 || error.status === 404) {
      say(`${error.message}. Showing the next episode.`, "warn");
      await loadNext();
    } else if (error.status === 0) {
      say(`Not saved: ${error.message}. The episode stays here; press the key again to retry.`, "error");
      setEnabled(true);
    } else {
      say(`Not saved: ${error.message}`, "error");
      setEnabled(true);
    }
  } finally {
    busy = false;
    document.getElementById("undo").disabled = undoStack.length === 0;
  }
}

async function skip() {
  if (busy) return;
  if (!current) {  // only skipped ones left: show them again
    skipped.clear();
    await loadNext();
    return;
  }
  busy = true;
  skipped.add(current.episode_id);
  say(`Skipped episode ${current.episode_id}; it stays in the queue.`);
  try { await api("/api/label/release", { body: { page: pageId, episode_id: current.episode_id } }); } catch (error) { /* the lease expires */ }
  busy = false;
  await loadNext();
}

async function undo() {
  if (busy || undoStack.length === 0) return;
  busy = true;
  const episodeId = undoStack[undoStack.length - 1];
  try {
    const r = await api("/api/label/undo", { body: { page: pageId, episode_id: episodeId, labeller: labeller() } });
    undoStack.pop();
    skipped.delete(episodeId);
    show(r.episode);
    say(`Label ${r.undone.score} of episode ${episodeId} taken back; label it again.`, "ok");
  } catch (error) {
    if (error.status === 403 || error.status === 409 || error.status === 404) undoStack.pop();
    say(`Cannot undo: ${error.message}`, error.status === 409 ? "warn" : "error");
  } finally {
    busy = false;
    document.getElementById("undo").disabled = undoStack.length === 0;
  }
}

async function heartbeat() {
  if (!current || busy) return;
  try {
    await api("/api/label/heartbeat", { body: { page: pageId, episode_id: current.episode_id } });
  } catch (error) {
    if (error.status === 409 || error.status === 404) {
      say(`${error.message}.`, "warn");
      await loadNext();
    }
  }
}

function replay() { video.currentTime = 0; video.play().catch(() => {}); }

document.getElementById("skip").addEventListener("click", skip);
document.getElementById("undo").addEventListener("click", undo);
document.getElementById("replay").addEventListener("click", replay);
document.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  let handled = true;
  if (mode === "score" && /^[1-5]$/.test(key)) submit(Number(key));
  else if (mode === "success" && (key === "y" || key === "n")) submit(key === "y" ? 5 : 1);
  else if (key === "s") skip();
  else if (key === "u" || key === "backspace") undo();
  else if (key === "r" || key === " ") replay();
  else handled = false;
  if (handled) event.preventDefault();
});
window.addEventListener("pagehide", () => {
  if (!current) return;
  fetch("/api/label/release", { method: "POST", keepalive: true, credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ page: pageId, episode_id: current.episode_id }) });
});

buildButtons();
setEnabled(false);
loadNext();
setInterval(heartbeat, 15000);
