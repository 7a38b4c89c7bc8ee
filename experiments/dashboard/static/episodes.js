// The episode browser: filtered list, and a detail panel with the video and every source's answer.
"use strict";

const form = document.getElementById("filters");
let knownSources = [];

function query() {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
  return params.toString();
}

function scoreCell(value, title = "") {
  return el("td", { class: value ? `score s${value}` : "muted", text: value ? String(value) : "–", title });
}

async function refreshList() {
  const data = await api(`/api/episodes?${query()}`);
  showBanner(data.problems, "warn");
  const select = form.elements.source;
  for (const source of data.sources) {
    if (!knownSources.includes(source)) {
      knownSources.push(source);
      select.append(el("option", { value: source, text: source }));
    }
  }
  document.getElementById("count").textContent = `${data.episodes.length} episodes`;
  const thead = document.querySelector("#episode-table thead");
  thead.replaceChildren(el("tr", {}, ...["#", "episode", "task", ...knownSources, "label", "oracle", "spread", "safety", "end"]
    .map((h) => el("th", { text: h }))));
  const tbody = document.querySelector("#episode-table tbody");
  tbody.replaceChildren(...data.episodes.map((e) => {
    // An episode whose meta.json cannot be used is listed, marked, with the reason where its task goes.
    const row = el("tr", { "data-episode": e.episode_id, class: e.problem ? "broken" : "" },
      el("td", { text: fmt(e.index) }), el("td", { text: e.episode_id, class: "mono" }),
      e.problem ? el("td", { text: e.problem, class: "bad problem" }) : el("td", { text: e.task }),
      ...knownSources.map((s) => {
        const src = e.sources[s];
        return src && src.score ? scoreCell(src.score) : el("td", { class: "muted", text: src ? "pending" : "–", title: src && src.error ? src.error : "" });
      }),
      scoreCell(e.label && e.label.score, e.label ? `by ${e.label.labeller}` : ""), scoreCell(e.oracle_score),
      el("td", { text: fmt(e.disagreement), class: e.disagreement >= 2 ? "warn" : "" }),
      el("td", { text: e.safety && e.safety.events ? String(e.safety.events) : "–", class: e.safety && e.safety.events ? "warn" : "" }),
      el("td", { text: fmt(e.end_reason) }));
    row.addEventListener("click", () => { location.hash = e.episode_id; });
    return row;
  }));
}

async function showDetail(id) {
  const panel = document.getElementById("detail");
  if (!id) return;
  let e;
  try { e = await api(`/api/episodes/${encodeURIComponent(id)}`); } catch (error) {
    panel.replaceChildren(el("p", { class: "message error", text: error.message }));
    return;
  }
  const video = el("video", { controls: "", muted: "", loop: "", autoplay: "", playsinline: "", id: "detail-video" });
  video.muted = true;
  video.append(el("source", { src: `/media/${id}/video.mp4`, type: "video/mp4" }),
               el("source", { src: `/media/${id}/video.webm`, type: "video/webm" }));
  const sources = el("table", { class: "grid" }, el("thead", {}, el("tr", {},
    ...["source", "model", "score", "reward", "latency", "answer / error"].map((h) => el("th", { text: h })))));
  const body = el("tbody");
  for (const [name, s] of Object.entries(e.sources)) {
    body.append(el("tr", {}, el("td", { text: name }), el("td", { text: fmt(s.model) }), scoreCell(s.score),
      el("td", { text: fmt(s.reward) }), el("td", { text: s.latency_s ? `${fmt(s.latency_s, 1)} s` : "–" }),
      el("td", {}, el("pre", { text: s.score ? (s.raw_text || "") : `${s.error || ""}${s.failures > 1 ? ` (${s.failures} failed attempts)` : ""}` }))));
  }
  if (e.label) body.append(el("tr", {}, el("td", { text: "label" }), el("td", { text: e.label.labeller }),
    scoreCell(e.label.score), el("td", { text: "–" }), el("td", { text: "–" }), el("td", { text: "human label (web page)" })));
  sources.append(body);
  const safety = Object.entries(e.safety || {}).filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`);
  panel.replaceChildren(
    el("h2", { text: `Episode ${e.index ?? ""}` }), el("p", { class: "mono", text: e.episode_id }),
    ...(e.problem ? [el("p", { class: "message error problem", text: `${e.problem}: its task, oracle and safety are unknown, and it cannot be labelled.` })] : []),
    el("p", {}, "Task: ", el("strong", { text: e.task })),
    el("div", { class: "media" }, video, el("figure", { class: "final" },
      el("img", { src: `/media/${id}/final.png`, alt: "final frame" }), el("figcaption", { text: "final frame" }))),
    fillTable([["oracle score (sim)", e.oracle_score], ["success (sim)", e.is_success], ["end reason", e.end_reason],
      ["frames", `${fmt(e.num_frames)} at ${fmt(e.fps)} fps`], ["duration", `${fmt(e.duration_s, 1)} s`],
      ["actor / params", `${fmt(e.actor)} / ${fmt(e.params_version)}`],
      ["safety events", e.safety ? (safety.length ? safety.join(", ") : "none") : null]]),
    el("h3", { text: "Reward sources" }), sources);
  for (const row of document.querySelectorAll("#episode-table tbody tr")) {
    row.classList.toggle("selected", row.dataset.episode === id);
  }
}

function fillTable(rows) { const t = el("table", { class: "kv" }); fillKv(t, rows); return t; }

form.addEventListener("change", () => refreshList().catch((error) => showBanner(error.message, "error")));
window.addEventListener("hashchange", () => showDetail(decodeURIComponent(location.hash.slice(1))));
poll(refreshList, 5000);
showDetail(decodeURIComponent(location.hash.slice(1)));
