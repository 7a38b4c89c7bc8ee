// The run view: cards, curves and tables from /api/overview and /api/curves every 2 s.
"use strict";

let paused = null;

async function refreshOverview() {
  const o = await api("/api/overview");
  const notes = [...o.problems];
  if (o.state.state === "stale") notes.push(o.state.message);
  showBanner(notes, "warn");
  const state = document.getElementById("run-state");
  state.textContent = o.state.state;
  state.className = `pill ${o.state.state}`;
  document.getElementById("run-state-message").textContent =
    o.state.state === "running" ? `status updated ${ago(o.state.age_s)}` : (o.state.state === "stale" ? "" : o.state.message);
  const c = o.counts;
  document.getElementById("c-collected").textContent = c.target ? `${c.collected} / ${c.target}` : fmt(c.collected);
  document.getElementById("c-scored").textContent = fmt(c.scored);
  document.getElementById("c-pending").textContent = fmt(c.pending);
  document.getElementById("c-failed").textContent = c.failed_attempts ? `${c.failed_attempts} failed attempts` : "";
  document.getElementById("c-labelled").textContent = fmt(c.labelled);
  document.getElementById("c-success").textContent = pct(o.success_rate_last20);
  const q = o.reward_queue;
  document.getElementById("c-queue").textContent = q.pending === null || q.pending === undefined ? "–" : `${q.pending} (${fmt(q.in_flight)} in flight)`;
  const lat = q.latency_s;
  document.getElementById("c-latency").textContent = lat.n ? `latency p50 ${fmt(lat.p50, 1)} s · p90 ${fmt(lat.p90, 1)} s` : "";
  document.getElementById("c-learner").textContent = o.learner.version === null || o.learner.version === undefined ? fmt(o.learner.updates) : `v${o.learner.version}`;
  document.getElementById("c-learner-rate").textContent = `${fmt(o.learner.updates)} updates · ${fmt(o.learner.updates_per_s, 1)}/s`;
  paused = o.paused;
  const button = document.getElementById("pause");
  button.disabled = !o.config;
  button.textContent = paused ? "Resume collection" : "Pause collection";
  const loop = o.state.loop_paused;
  document.getElementById("pause-state").textContent = paused
    ? (loop ? "collection paused" : "pause requested: the run stops after the episodes in progress")
    : (loop ? "resume requested" : "");
  const cfg = o.config || {};
  fillKv(document.getElementById("config"), [
    ["name", cfg.name], ["robot / task", cfg.robot ? `${cfg.robot} / ${cfg.task} (${cfg.backend})` : null],
    ["agent", cfg.agent_kind], ["reward", cfg.reward],
    ["reward options", cfg.reward_options && Object.keys(cfg.reward_options).length ? JSON.stringify(cfg.reward_options) : null],
    ["episodes", cfg.episodes_target], ["env actors", cfg.env_actors], ["directory", o.run],
  ]);
  const tbody = document.querySelector("#actors tbody");
  tbody.replaceChildren(...o.actors.map((a) => el("tr", {},
    el("td", { text: fmt(a.actor) }), el("td", { text: fmt(a.episodes) }),
    el("td", { text: a.last_episode_at ? ago(Date.now() / 1000 - a.last_episode_at) : "–" }),
    el("td", { text: fmt(a.params_version) }), el("td", { text: fmt(a.last_end_reason) }),
    el("td", { text: a.utilisation === undefined ? "–" : pct(a.utilisation) }))));
  fillKv(document.getElementById("learner"), Object.entries(o.learner.last));
}

async function refreshCurves() {
  const c = await api("/api/curves");
  lineChart(document.getElementById("plot-success"), [
    { name: "success", points: c.success, kind: "dots", cls: "faint" },
    { name: "success_mean", points: c.success_mean, cls: "main" },
  ], { yMin: 0, yMax: 1 });
  lineChart(document.getElementById("plot-reward"), [
    { name: "reward", points: c.reward, kind: "dots", cls: "faint" },
    { name: "reward_mean", points: c.reward_mean, cls: "main" },
  ]);
  lineChart(document.getElementById("plot-queue"), [{ name: "queue", points: c.queue, cls: "main" }], { yMin: 0 });
  lineChart(document.getElementById("plot-latency"), [{ name: "latency", points: c.latency, kind: "dots", cls: "main" }], { yMin: 0 });
}

document.getElementById("pause").addEventListener("click", async () => {
  try {
    const r = await api("/api/control", { body: { paused: !paused } });
    paused = r.paused;
    await refreshOverview();
  } catch (error) { showBanner(error.message, "error"); }
});

poll(async () => { await refreshOverview(); await refreshCurves(); }, 2000);
