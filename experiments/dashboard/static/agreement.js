// The agreement view: human labels against one reward source.
"use strict";

const select = document.getElementById("source");

async function refresh() {
  const a = await api(`/api/agreement?source=${encodeURIComponent(select.value)}`);
  showBanner(a.problems, "warn");
  if (select.options.length !== a.sources.length) {
    select.replaceChildren(...a.sources.map((s) => el("option", { value: s, text: s === "oracle_score" ? "sim oracle" : s })));
  }
  select.value = a.source;
  const max = Math.max(1, ...a.matrix.flat());
  const head = el("tr", {}, el("th", { text: "human ↓ source →", class: "corner" }), ...[1, 2, 3, 4, 5].map((s) => el("th", { text: String(s) })));
  const rows = a.matrix.map((row, i) => el("tr", {}, el("th", { text: String(i + 1) }), ...row.map((n, j) => {
    const cell = el("td", { text: String(n), class: i === j ? "diag" : "" });
    if (n) cell.style.background = `rgba(37, 99, 235, ${(0.1 + 0.45 * n / max).toFixed(2)})`;
    return cell;
  })));
  document.getElementById("matrix").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  fillKv(document.getElementById("stats"), [
    ["episodes compared", a.n], ["mean absolute error", a.mae === null ? null : a.mae.toFixed(3)],
    ["exact agreement", pct(a.exact)], ["within one point", pct(a.within_one)],
    ["bias (source − human)", a.bias === null ? null : a.bias.toFixed(2)],
  ]);
  document.querySelector("#worst tbody").replaceChildren(...a.worst.map((p) => el("tr", {},
    el("td", {}, el("a", { href: `/episodes#${p.episode_id}`, text: p.episode_id })),
    el("td", { text: String(p.human) }), el("td", { text: String(p.model) }))));
}

select.addEventListener("change", () => refresh().catch((error) => showBanner(error.message, "error")));
poll(refresh, 5000);
