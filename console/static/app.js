// dpmon console: shows times in the viewer's zone (the UTC stays in the
// title) and feeds the overview's live list of transitions. Every string
// from the server is set as text, never as markup.
"use strict";

function localTimes(root) {
  const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  for (const el of root.querySelectorAll("time[datetime]")) {
    const d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) {
      el.textContent = fmt.format(d);
      el.title = el.getAttribute("datetime").replace("T", " ").replace("Z", " UTC");
    }
  }
}

function liveTransitions(list) {
  const state = document.getElementById("live-state");
  const rate = document.getElementById("rate");
  const source = new EventSource(list.dataset.source);
  source.addEventListener("open", () => { state.textContent = "live"; state.className = "live"; });
  source.addEventListener("error", () => { state.textContent = "reconnecting…"; state.className = "live off"; });
  source.addEventListener("rate", (e) => {
    if (rate) rate.textContent = Math.round(JSON.parse(e.data).events_per_second).toLocaleString();
  });
  source.addEventListener("transition", (e) => {
    const t = JSON.parse(e.data);
    const empty = document.getElementById("live-empty");
    if (empty) empty.remove();
    const li = document.createElement("li");
    li.className = "arrived";
    const time = document.createElement("time");
    time.setAttribute("datetime", t.occurred_at);
    li.append(time, " ");
    const link = document.createElement("a");
    link.href = "/ui/accounts/" + encodeURIComponent(t.account);
    link.textContent = t.account;
    li.append(link, " ");
    for (const [i, p] of [t.from, t.to].entries()) {
      const badge = document.createElement("span");
      badge.className = "badge phase-" + p.replace(/[^a-z]/g, "");
      badge.textContent = p;
      li.append(badge, i === 0 ? " → " : " ");
    }
    if (t.sender) {
      const s = document.createElement("span");
      s.className = "muted";
      s.textContent = "sender " + t.sender;
      li.append(s);
    }
    const reason = document.createElement("div");
    reason.textContent = t.reason;
    li.append(reason);
    localTimes(li);
    list.prepend(li);
    if (!t.sender) { // an account's move, not a sender's block: recount
      bump("count-" + t.from, -1);
      bump("count-" + t.to, +1);
    }
    while (list.children.length > 50) list.lastElementChild.remove();
  });
}

// bump adds delta to the phase count shown in the element of id, if any.
function bump(id, delta) {
  const el = document.getElementById(id);
  if (!el) return;
  const n = parseInt(el.textContent.replace(/\D/g, ""), 10);
  if (!isNaN(n)) el.textContent = Math.max(0, n + delta).toLocaleString();
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  const live = document.getElementById("live");
  if (live) liveTransitions(live);
});
