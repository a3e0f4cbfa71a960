// @ts-check
/* global document, sessionStorage, fetch, AbortController, TextDecoderStream, setTimeout -- a browser page */
// The dashboard page: asks for an API token (kept in sessionStorage, sent only in the Authorization
// header), follows GET /v1/dashboard/events with fetch (EventSource cannot send a header, and a
// token must never be in a URL), and draws each `dashboard` event. Actions call the same API routes
// as the CLI; the page offers them only to a role that may use them, and the API checks again.
// Checked by tsc against the protocol's types (tsconfig.json next to this file); no build step.

/** @typedef {import("@drover/protocol").ApiDashboard} Dashboard */
/** @typedef {import("@drover/protocol").ApiDashboardHost} Host */
/** @typedef {import("@drover/protocol").ApiMigration} Migration */
/** @typedef {import("@drover/protocol").ApiPlan} Plan */
/** @typedef {import("@drover/protocol").ApiMaintenance} Maintenance */
/** @typedef {import("@drover/protocol").ApiCaller} Caller */

const TOKEN_KEY = "drover.token";
const RETRY_MS = 2000;
const ROLES = ["viewer", "operator", "admin"];

/** @param {string} id */
function byId(id) {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e;
}

/**
 * An element with attributes and children; text always goes in as text (VM names come from libvirt).
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {(Node | string | null | undefined | false)[]} children
 * @returns {HTMLElement}
 */
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) e.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/** @param {string} tag @param {Record<string, string | number>} attrs */
function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** @param {number} n */
const pct = (n) => `${Math.round(n * 100)}%`;
/** @param {number} b */
const bytes = (b) => (b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(1)} GiB` : `${(b / (1 << 20)).toFixed(1)} MiB`);
/** @param {number | null | undefined} ms */
const dur = (ms) => (ms === null || ms === undefined ? "–" : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
/** @param {number} t */
const clock = (t) => new Date(t).toLocaleTimeString();

const state = {
  /** @type {string | null} */
  token: sessionStorage.getItem(TOKEN_KEY),
  /** @type {Caller | null} */
  caller: null,
  /** @type {AbortController | null} */
  stream: null,
};

/** @param {string} role */
const may = (role) => state.caller !== null && ROLES.indexOf(state.caller.role) >= ROLES.indexOf(role);

/** @param {string} text @param {boolean} [error] */
function notice(text, error = false) {
  const n = byId("notice");
  n.textContent = text;
  n.className = error ? "error" : "";
}

/** @param {"idle" | "connecting" | "live" | "lost"} s @param {string} text */
function connection(s, text) {
  const c = byId("connection");
  c.dataset.state = s;
  c.textContent = text;
}

function showLogin(/** @type {string} */ why = "") {
  state.stream?.abort();
  state.stream = null;
  byId("login").hidden = false;
  byId("main").hidden = true;
  byId("sign-out").hidden = true;
  byId("login-error").textContent = why;
  connection("idle", "not connected");
}

// ---------------------------------------------------------------------------------------------
// The stream

/** Reads the event stream until it ends; returns why it ended (null: the server closed it). */
async function follow() {
  const ctl = new AbortController();
  state.stream = ctl;
  connection("connecting", "connecting…");
  const res = await fetch("/v1/dashboard/events", {
    headers: { authorization: `Bearer ${state.token}`, accept: "text/event-stream" },
    signal: ctl.signal,
    cache: "no-store",
  });
  if (res.status === 401 || res.status === 403) {
    const body = await res.json().catch(() => null);
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    showLogin(body?.error?.message ?? `the API refused the token (${res.status})`);
    return;
  }
  if (!res.ok || !res.body) throw new Error(`the event stream answered ${res.status}`);
  connection("live", "live");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    for (let end = buf.indexOf("\n\n"); end >= 0; end = buf.indexOf("\n\n")) {
      onEvent(buf.slice(0, end));
      buf = buf.slice(end + 2);
    }
  }
}

/** @param {string} block one server-sent event (lines up to a blank line) */
function onEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  if (data.length === 0) return;
  const body = JSON.parse(data.join("\n"));
  if (name === "caller") {
    state.caller = body;
    byId("caller").textContent = `${body.name} (${body.role})`;
  } else if (name === "dashboard") draw(body);
  else if (name === "unauthorized") {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    showLogin(body.message);
  }
}

async function run() {
  while (state.token) {
    try {
      await follow();
      if (!state.token) return;
      connection("lost", "reconnecting…");
    } catch (e) {
      if (state.stream?.signal.aborted) return;
      connection("lost", `lost (${/** @type {Error} */ (e).message}); retrying`);
    }
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
}

// ---------------------------------------------------------------------------------------------
// Actions

/** @param {string} path @param {unknown} body @param {string} done */
async function act(path, body, done) {
  notice("…");
  try {
    const res = await fetch(path, {
      method: "POST",
      headers: { authorization: `Bearer ${state.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const reply = await res.json().catch(() => null);
    if (!res.ok) notice(`${path}: ${reply?.error?.message ?? res.statusText}`, true);
    else notice(done);
  } catch (e) {
    notice(`${path}: ${/** @type {Error} */ (e).message}`, true);
  }
}

/** @param {string} label @param {string} role @param {Record<string, string>} data @param {() => void} onClick */
function button(label, role, data, onClick) {
  const attrs = Object.fromEntries(Object.entries(data).map(([k, v]) => [`data-${k}`, v]));
  const b = h("button", { type: "button", ...attrs, title: may(role) ? null : `needs the ${role} role` }, label);
  if (!may(role)) /** @type {HTMLButtonElement} */ (b).disabled = true;
  b.addEventListener("click", onClick);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Drawing

/**
 * @param {string} label
 * @param {number} fraction
 * @param {string} text
 * @param {{ low: number, high: number } | null} [band]
 */
function meter(label, fraction, text, band = null) {
  const fill = h("div", { class: band && fraction > band.high ? "fill over" : band && fraction < band.low ? "fill under" : "fill" });
  fill.style.width = pct(Math.min(1, fraction));
  const m = h("div", { class: "meter", "data-meter": label }, fill, h("span", { class: "text" }, text));
  for (const at of band ? [band.low, band.high] : []) {
    const mark = h("div", { class: "mark", title: `band ${pct(at)}` });
    mark.style.left = pct(at);
    m.append(mark);
  }
  return h("div", {}, h("span", { class: "label" }, label), m);
}

/** A host's state as the map shows it: a failed wake is its own state. @param {Host} host */
const shownState = (host) => (host.wakeFailed && host.state !== "healthy" ? "wake-failed" : host.state);

/** @param {Dashboard} d @param {Host} host */
function hostContent(d, host) {
  const vms = d.vms.filter((v) => v.host === host.id);
  const st = shownState(host);
  return [
    h("h3", {}, host.id, h("span", { class: "badge" }, st)),
    meter("CPU", host.cpuFraction, pct(host.cpuFraction), d.band),
    meter(
      "memory",
      host.memoryMiB > 0 ? host.memoryUsedMiB / host.memoryMiB : 0,
      `${Math.round(host.memoryUsedMiB)} / ${host.memoryMiB} MiB`,
    ),
    host.contention === null ? null : meter("contention", host.contention, pct(host.contention)),
    h(
      "div",
      { class: "label" },
      `${host.cpus} CPUs · ${host.vmCount} VMs`,
      host.watts === null ? "" : ` · ${Math.round(host.watts)} W`,
      host.libvirtReachable ? "" : " · libvirt unreachable",
    ),
    h(
      "div",
      { class: "vms" },
      ...(vms.length === 0 ? [h("span", { class: "empty" }, "no VMs")] : []),
      ...vms.map((v) =>
        h(
          "span",
          { class: "vm", "data-vm": v.name, "data-migrating": v.migrating, title: `${v.vcpus} vCPU, ${v.memoryMiB} MiB, ${v.state}` },
          v.name,
        ),
      ),
    ),
  ];
}

/**
 * Cards kept across redraws (one a second), by id: a card and its buttons stay in the page and only
 * the card's content is drawn again, so an operator's click is never lost to a redraw (a press and a
 * release on different elements make no click). The buttons are made again only when what they do
 * changes (drain becomes undrain, a plan is decided, the caller's role).
 */
class KeptCards {
  /** @type {Map<string, { card: HTMLElement, content: HTMLElement, actions: HTMLElement, key: string | null }>} */
  cards = new Map();
  /** @type {Set<string>} */
  drawn = new Set();

  /**
   * @param {string} id
   * @param {Record<string, string>} attrs set on the card at every redraw (class, data-*)
   * @param {(Node | string | null)[]} content
   * @param {string} key the buttons are made again when it changes
   * @param {() => (Node | string)[]} actions
   */
  card(id, attrs, content, key, actions) {
    let kept = this.cards.get(id);
    if (!kept) {
      const c = h("div", { class: "card-content" });
      const a = h("div", { class: "card-actions" });
      kept = { card: h("div", {}, c, a), content: c, actions: a, key: null };
      this.cards.set(id, kept);
    }
    for (const [name, value] of Object.entries(attrs)) kept.card.setAttribute(name, value);
    kept.content.replaceChildren(...content.filter((x) => x !== null));
    if (kept.key !== key) {
      kept.actions.replaceChildren(...actions());
      kept.key = key;
    }
    this.drawn.add(id);
    return kept.card;
  }

  /**
   * Puts this redraw's cards in `list` (or `empty` when there are none), touching the list only when
   * that changed: moving a card out and back in would drop a press under way. Cards not drawn this
   * time are forgotten.
   * @param {HTMLElement} list @param {HTMLElement[]} cards @param {string} empty
   */
  place(list, cards, empty) {
    if (cards.length === 0) {
      if (list.children.length !== 1 || !list.firstElementChild?.classList.contains("empty"))
        list.replaceChildren(h("p", { class: "empty" }, empty));
    } else if (cards.length !== list.children.length || cards.some((c, i) => list.children[i] !== c)) list.replaceChildren(...cards);
    for (const id of this.cards.keys()) if (!this.drawn.has(id)) this.cards.delete(id);
    this.drawn.clear();
  }
}

const hostCards = new KeptCards();
const planCards = new KeptCards();

/** @param {Dashboard} d @param {Host} host */
function hostCard(d, host) {
  return hostCards.card(
    host.id,
    { class: "host", "data-host": host.id, "data-state": shownState(host) },
    hostContent(d, host),
    `${host.maintenanceId ? "undrain" : "drain"} ${may("operator")}`,
    () => [
      host.maintenanceId
        ? button("Undrain", "operator", { action: "undrain", host: host.id }, () =>
            act(`/v1/hosts/${encodeURIComponent(host.id)}/undrain`, {}, `${host.id} returns to service`),
          )
        : button("Drain", "operator", { action: "drain", host: host.id }, () =>
            act(`/v1/hosts/${encodeURIComponent(host.id)}/drain`, { powerOff: false }, `draining ${host.id}`),
          ),
    ],
  );
}

/** @param {string[]} heads @param {HTMLElement[]} rows @param {string} empty */
function table(heads, rows, empty) {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  const t = h("table", {}, h("tr", {}, ...heads.map((x) => h("th", {}, x))));
  t.append(...rows);
  return t;
}

/** @param {Migration} m */
function inFlightRow(m) {
  const p = m.progress;
  const predictedEnd = m.startedAtMs !== null && m.predictedDurationMs !== null ? clock(m.startedAtMs + m.predictedDurationMs) : "–";
  return h(
    "tr",
    { "data-migration": m.id, "data-vm": m.vm },
    h("td", {}, m.vm),
    h("td", {}, `${m.source} → ${m.destination}`),
    h("td", {}, m.state, p ? ` (${p.phase})` : ""),
    h("td", {}, m.strategy ?? "–"),
    h(
      "td",
      {},
      p ? meter("progress", p.fraction, `${bytes(p.dataProcessedBytes)} / ${bytes(p.dataTotalBytes)}`) : "–",
      p ? h("span", { class: "label" }, `${bytes(p.dataRemainingBytes)} left, pass ${p.iteration}`) : null,
      p && p.escalations.length > 0 ? h("span", { class: "label" }, ` · ${p.escalations.join(", ")}`) : null,
    ),
    h("td", {}, predictedEnd),
  );
}

/** @param {Migration} m */
function recentRow(m) {
  return h(
    "tr",
    { "data-migration": m.id, "data-vm": m.vm, "data-state": m.state },
    h("td", {}, m.vm),
    h("td", {}, `${m.source} → ${m.destination}`),
    h("td", { title: m.error?.message ?? null }, m.state),
    h("td", {}, `${dur(m.predictedDurationMs)} / ${dur(m.measuredDurationMs)}`),
    h("td", {}, `${dur(m.predictedDowntimeMs)} / ${dur(m.measuredDowntimeMs)}`),
  );
}

/** @param {Plan} p */
function planCard(p) {
  return planCards.card(
    p.id,
    { class: "plan", "data-plan": p.id, "data-status": p.status },
    planContent(p),
    `${p.status} ${may("operator")}`,
    () =>
      p.status === "proposed"
        ? [
            button("Approve", "operator", { action: "approve", plan: p.id }, () =>
              act(`/v1/plans/${p.id}/approve`, {}, `plan ${p.id} approved`),
            ),
            " ",
            button("Reject", "operator", { action: "reject", plan: p.id }, () =>
              act(`/v1/plans/${p.id}/reject`, {}, `plan ${p.id} rejected`),
            ),
          ]
        : [],
  );
}

/** @param {Plan} p */
function planContent(p) {
  return [
    h("strong", {}, `${p.kind} plan ${p.id}`),
    ` · ${p.status} · asked by ${p.requestedBy}`,
    p.decidedBy ? ` · decided by ${p.decidedBy}` : "",
    h("div", { class: "label" }, `imbalance ${p.metrics.imbalanceBefore.toFixed(3)} → ${p.metrics.imbalanceAfter.toFixed(3)}`),
    p.steps.length === 0
      ? h("p", { class: "empty" }, "no steps")
      : h(
          "ul",
          {},
          ...p.steps.map((s) =>
            h(
              "li",
              { "data-step": s.index },
              s.kind === "migrate" ? `move ${s.vm} ${s.source} → ${s.destination}` : `${s.kind} ${s.host}`,
              `: ${s.reason}`,
              s.strategy ? ` [${s.strategy}, predicted ${dur(s.predictedDurationMs)}]` : "",
              ` (${s.state})`,
            ),
          ),
        ),
    p.notMoved.length === 0
      ? null
      : h(
          "div",
          {},
          h("span", { class: "label" }, "not moved:"),
          h("ul", {}, ...p.notMoved.map((n) => h("li", {}, `${n.vm} on ${n.host}: ${n.reason}`))),
        ),
    p.blocked.length === 0
      ? null
      : h("div", {}, h("span", { class: "label" }, "blocked:"), h("ul", {}, ...p.blocked.map((b) => h("li", {}, b.reason)))),
    p.deferred.length === 0
      ? null
      : h(
          "div",
          {},
          h("span", { class: "label" }, "deferred:"),
          h("ul", {}, ...p.deferred.map((x) => h("li", {}, `step ${x.index}: ${x.reason}`))),
        ),
  ];
}

/** @param {Maintenance} m */
function drainCard(m) {
  const done = m.vmsAtStart === 0 ? 1 : (m.vmsAtStart - m.vmsLeft) / m.vmsAtStart;
  return h(
    "div",
    { class: "drain", "data-maintenance": m.id, "data-host": m.host, "data-state": m.state },
    h("strong", {}, m.host),
    ` · ${m.state} · asked by ${m.requestedBy}`,
    meter("moved off", done, `${m.vmsAtStart - m.vmsLeft} / ${m.vmsAtStart} VMs`),
    h("div", { class: "label" }, m.message),
    m.blockers.length === 0 ? null : h("ul", {}, ...m.blockers.map((b) => h("li", { "data-blocker": b.vm }, `${b.vm}: ${b.reason}`))),
  );
}

/** Green for a move that succeeded, red for one that ended otherwise, amber while it runs. @param {string} state */
const markColour = (state) =>
  state === "succeeded" ? "#1a7f37" : ["queued", "preflight", "running"].includes(state) ? "#bf8700" : "#cf222e";

/** @param {Dashboard} d */
function timeline(d) {
  const t = d.timeline;
  const W = 600;
  const H = 120;
  const from = t.sinceMs;
  const span = Math.max(60_000, d.nowMs - from);
  const x = (/** @type {number} */ ms) => ((ms - from) / span) * W;
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  const maxHosts = Math.max(1, d.hosts.length);
  const hostsLine = t.points.map((p) => `${x(p.timeMs).toFixed(1)},${(H - (p.activeHosts / maxHosts) * (H - 10)).toFixed(1)}`);
  if (hostsLine.length > 0) {
    hostsLine.push(`${W},${hostsLine.at(-1)?.split(",")[1]}`);
    chart.append(svg("polyline", { points: hostsLine.join(" "), fill: "none", stroke: "#0969da", "stroke-width": 2 }));
  }
  const maxW = Math.max(1, ...t.points.map((p) => p.allOnWatts ?? 0));
  const wattsLine = t.points
    .filter((p) => p.watts !== null)
    .map((p) => `${x(p.timeMs).toFixed(1)},${(H - ((p.watts ?? 0) / maxW) * (H - 10)).toFixed(1)}`);
  if (wattsLine.length > 0)
    chart.append(svg("polyline", { points: wattsLine.join(" "), fill: "none", stroke: "#bf8700", "stroke-width": 1.5 }));
  for (const m of t.migrations) {
    const mark = svg("line", {
      x1: x(m.timeMs),
      x2: x(m.timeMs),
      y1: H - 12,
      y2: H,
      stroke: markColour(m.state),
    });
    mark.append(svg("title", {}));
    /** @type {Element} */ (mark.firstChild).textContent = `${clock(m.timeMs)} ${m.vm}: ${m.state}`;
    chart.append(mark);
  }
  const energy =
    t.energyWh === null || t.allOnEnergyWh === null
      ? "energy: no host has configured watts (hosts.<id>.power.idleW/maxW)"
      : `energy ${t.energyWh.toFixed(1)} Wh against ${t.allOnEnergyWh.toFixed(1)} Wh with every host on` +
        (t.allOnEnergyWh > 0 ? ` (${pct(1 - t.energyWh / t.allOnEnergyWh)} saved)` : "");
  return h(
    "div",
    {},
    chart,
    h("div", { class: "label" }, `since ${clock(from)}: active hosts (blue), watts (amber), migrations (marks: ${t.migrations.length})`),
    h("div", { class: "label", "data-energy": "" }, energy),
  );
}

/** @param {Dashboard} d */
function draw(d) {
  byId("login").hidden = true;
  byId("main").hidden = false;
  byId("sign-out").hidden = false;
  byId("cluster").textContent = d.cluster;
  byId("modes").textContent = `balance ${d.modes.balance} · consolidate ${d.modes.consolidate} · drain ${d.modes.drain}`;
  hostCards.place(
    byId("host-map"),
    d.hosts.map((x) => hostCard(d, x)),
    "no hosts",
  );
  byId("in-flight").replaceChildren(
    table(["VM", "move", "state", "strategy", "progress", "predicted end"], d.inFlight.map(inFlightRow), "none in flight"),
  );
  byId("recent").replaceChildren(
    table(["VM", "move", "outcome", "time predicted / measured", "downtime predicted / measured"], d.recent.map(recentRow), "none yet"),
  );
  byId("drains").replaceChildren(
    ...(d.maintenance.length === 0 ? [h("p", { class: "empty" }, "no host in maintenance")] : d.maintenance.map(drainCard)),
  );
  planCards.place(byId("plan-list"), d.plans.map(planCard), "no plans");
  byId("day").replaceChildren(timeline(d));
  document.body.dataset.updated = String(d.nowMs);
}

// ---------------------------------------------------------------------------------------------
// Start

byId("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = /** @type {HTMLInputElement} */ (byId("token"));
  state.token = input.value.trim();
  input.value = "";
  sessionStorage.setItem(TOKEN_KEY, state.token);
  byId("login").hidden = true;
  void run();
});
byId("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.caller = null;
  showLogin();
});
if (state.token) void run();
else showLogin();
