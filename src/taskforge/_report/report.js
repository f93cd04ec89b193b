/* taskforge report: embedding map and sample browser, drawn from the inline JSON blobs.
   All data goes into the page through textContent / setAttribute, never innerHTML. */
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";

  function readJSON(id) {
    var node = document.getElementById(id);
    try { return node ? JSON.parse(node.textContent) : null; } catch (e) { console.warn("report: bad data in #" + id); return null; }
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function textOf(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "string") return v;
    if (Array.isArray(v)) return v.map(textOf).join("\n");
    if (typeof v === "object") return Object.keys(v).map(function (k) { return k + ": " + textOf(v[k]); }).join("\n");
    return String(v);
  }

  function fmt(v) {
    if (typeof v !== "number") return String(v);
    return Number.isInteger(v) ? v.toLocaleString("en") : v.toFixed(3);
  }

  /* ---------------------------------------------------------------- tooltip */
  var tip = document.getElementById("tip");
  function showTip(evt, title, body) {
    tip.textContent = "";
    tip.appendChild(el("b", { text: title }));
    tip.appendChild(document.createTextNode("\n" + body));
    tip.hidden = false;
    var x = evt.clientX + 14, y = evt.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 8) x = evt.clientX - w - 14;
    if (y + h > window.innerHeight - 8) y = evt.clientY - h - 14;
    tip.style.left = Math.max(4, x) + "px";
    tip.style.top = Math.max(4, y) + "px";
  }
  function hideTip() { tip.hidden = true; }

  /* ---------------------------------------------------------------- embedding map */
  var KINDS = {
    retrieved: { color: "#8d9bc2", r: 3.2, name: "retrieved rows", opacity: 0.55 },
    kept: { color: "#2aa876", r: 3.6, name: "kept samples", opacity: 0.75 },
    example: { color: "#d64545", r: 7, name: "task examples", opacity: 0.95 }
  };

  var SOURCE_COLORS = ["#4f6bed", "#e8804f", "#2aa876", "#c84b8f", "#8a63d2", "#d4a72c", "#3fa7c4", "#b85450", "#5b8c3a", "#7a5c3e"];

  function drawMap(data) {
    var box = document.getElementById("map-box");
    if (!box || !data || !data.points || !data.points.length) return;
    var W = 1000, H = 560, pad = 24;
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "embedding map", "class": "map" });
    var groups = {};
    ["retrieved", "kept", "example"].forEach(function (k) { groups[k] = svg("g", { "data-kind": k }); root.appendChild(groups[k]); });
    var counts = {}, srcCounts = {}, points = [];
    data.points.forEach(function (p) {
      var kind = KINDS[p.k] ? p.k : "retrieved";
      counts[kind] = (counts[kind] || 0) + 1;
      if (kind !== "example") srcCounts[p.l] = (srcCounts[p.l] || 0) + 1;
      var c = svg("circle", {
        cx: (pad + p.x * (W - 2 * pad)).toFixed(1), cy: (pad + (1 - p.y) * (H - 2 * pad)).toFixed(1), r: KINDS[kind].r,
        fill: KINDS[kind].color, "fill-opacity": KINDS[kind].opacity, stroke: kind === "example" ? "#fff" : "none",
        "stroke-width": 1.5, "class": "pt"
      });
      c.addEventListener("mousemove", function (e) { showTip(e, KINDS[kind].name.replace(/s$/, "") + (p.l && p.l !== kind ? " · " + p.l : ""), p.t); });
      c.addEventListener("mouseleave", hideTip);
      groups[kind].appendChild(c);
      points.push({ c: c, p: p, kind: kind });
    });
    box.appendChild(root);

    // colour by kind (default) or by source; a legend entry click hides / shows its points
    var sources = Object.keys(srcCounts).sort(function (a, b) { return srcCounts[b] - srcCounts[a]; });
    var srcColor = {};
    sources.slice(0, SOURCE_COLORS.length).forEach(function (s, i) { srcColor[s] = SOURCE_COLORS[i]; });
    var state = { mode: "kind", hidden: {} };
    var bar = el("div", { cls: "legend" });
    box.appendChild(bar);

    function keyOf(o) { return state.mode === "kind" || o.kind === "example" ? "k:" + o.kind : "s:" + (srcColor[o.p.l] ? o.p.l : "other"); }
    function colourOf(o) {
      if (state.mode === "kind" || o.kind === "example") return KINDS[o.kind].color;
      return srcColor[o.p.l] || "#b0b6c3";
    }
    function restyle() {
      points.forEach(function (o) {
        o.c.setAttribute("fill", colourOf(o));
        if (state.mode === "source" && o.kind !== "example") o.c.setAttribute("fill-opacity", o.kind === "kept" ? 0.85 : 0.3);
        else o.c.setAttribute("fill-opacity", KINDS[o.kind].opacity);
        o.c.style.display = state.hidden[keyOf(o)] ? "none" : "";
      });
      legend();
    }
    function entry(key, colour, label) {
      var b = el("button", { type: "button", "data-key": key, cls: state.hidden[key] ? "off" : "" },
        el("span", { cls: "dot", style: "background:" + colour }), label);
      b.addEventListener("click", function () { state.hidden[key] = !state.hidden[key]; restyle(); });
      return b;
    }
    function legend() {
      bar.textContent = "";
      var modes = el("span", { cls: "modes" }, "Colour by ");
      [["kind", "kind"], ["source", "source"]].forEach(function (m) {
        var b = el("button", { type: "button", "data-mode": m[0], cls: state.mode === m[0] ? "on" : "", text: m[1] });
        b.addEventListener("click", function () { state.mode = m[0]; state.hidden = {}; restyle(); });
        modes.appendChild(b);
      });
      bar.appendChild(modes);
      if (counts.example) bar.appendChild(entry("k:example", KINDS.example.color, KINDS.example.name + " (" + counts.example + ")"));
      if (state.mode === "kind") {
        ["kept", "retrieved"].forEach(function (k) {
          if (counts[k]) bar.appendChild(entry("k:" + k, KINDS[k].color, KINDS[k].name + " (" + counts[k].toLocaleString("en") + ")"));
        });
      } else {
        sources.forEach(function (s) {
          if (srcColor[s]) bar.appendChild(entry("s:" + s, srcColor[s], s + " (" + srcCounts[s].toLocaleString("en") + ")"));
        });
        if (sources.length > SOURCE_COLORS.length) bar.appendChild(entry("s:other", "#b0b6c3", "other sources"));
        bar.appendChild(el("span", { cls: "muted", text: "filled: kept samples · faint: retrieved rows" }));
      }
    }
    restyle();
  }

  /* ---------------------------------------------------------------- sample browser */
  var PAGE = 20;

  function ddClass(cls, t) {
    var c = cls === "out" && t.length > 80 ? "outl" : (cls || "");
    return c + (t.length > 400 ? " long" : "");
  }

  function fieldList(value, cls) {
    var dl = el("dl", { cls: "kvs" });
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      Object.keys(value).forEach(function (k) {
        var t = textOf(value[k]);
        dl.appendChild(el("dt", { text: k }));
        dl.appendChild(el("dd", { cls: ddClass(cls, t), text: t }));
      });
    } else {
      var t = textOf(value);
      dl.appendChild(el("dd", { cls: ddClass(cls, t), text: t }));
    }
    return dl;
  }

  function samplePane(s) {
    var pane = el("div", { cls: "pane" }, el("h4", { text: "Generated sample" }));
    if (s.input === null && s.output === null) {
      pane.appendChild(el("p", { cls: "empty", text: "No sample was produced." }));
    } else {
      pane.appendChild(el("div", { cls: "sec", text: "input" }));
      pane.appendChild(fieldList(s.input));
      pane.appendChild(el("div", { cls: "sec", text: "output" }));
      pane.appendChild(fieldList(s.output, "out"));
      if (s.reasoning) {
        pane.appendChild(el("div", { cls: "sec", text: "reasoning" }));
        pane.appendChild(fieldList(s.reasoning));
      }
    }
    if (s.raw) {
      pane.appendChild(el("div", { cls: "sec", text: "raw model output" }));
      pane.appendChild(el("div", { cls: "raw", text: textOf(s.raw) }));
    }
    return pane;
  }

  function itemPane(item, s) {
    var pane = el("div", { cls: "pane" }, el("h4", { text: "Retrieved row" }));
    if (!item) {
      pane.appendChild(el("p", { cls: "empty", text: s.source ? "Row " + (s.row_id || "?") + " of " + s.source + " is not in retrieve/items.jsonl." : "No provenance." }));
      return pane;
    }
    var chips = el("div", { cls: "scores" });
    if (item.rank !== undefined && item.rank !== null) chips.appendChild(el("span", { cls: "chip", text: "rank " + item.rank }));
    Object.keys(item.scores || {}).forEach(function (k) { chips.appendChild(el("span", { cls: "chip", text: k + " " + fmt(item.scores[k]) })); });
    if (item.picked_by) chips.appendChild(el("span", { cls: "chip", text: "picked by " + item.picked_by }));
    pane.appendChild(chips);
    var p = item.passage;
    if (p && p.text) {
      // documents: the passage that matched (what the LLM was shown), then the whole document
      var at = "passage " + (p.index + 1) + (p.of ? " of " + p.of : "") + (p.score !== undefined ? " · cosine " + fmt(p.score) : "");
      pane.appendChild(el("div", { cls: "sec", text: at }));
      pane.appendChild(fieldList(p.text));
      pane.appendChild(el("div", { cls: "sec", text: "document" }));
    }
    pane.appendChild(fieldList(item.text ? { text: item.text } : item.cells));
    return pane;
  }

  function sampleCard(s, items, rejected) {
    var head = el("div", { cls: "sample-head" });
    if (rejected) {
      head.appendChild(el("span", { cls: "badge st-" + (s.stage || "filter"), text: s.stage || "rejected" }));
      if (s.filter) head.appendChild(el("code", { text: s.filter }));
    }
    if (s.source) head.appendChild(el("span", { cls: "chip", text: s.source }));
    if (s.row_id) head.appendChild(el("span", { cls: "id", text: s.row_id }));
    if (s.label) head.appendChild(el("span", { cls: "badge", text: s.label }));
    if (s.method) head.appendChild(el("span", { cls: "muted", text: s.method + (s.model ? " · " + s.model : "") }));
    if (s.id) head.appendChild(el("span", { cls: "id", style: "margin-left:auto", text: s.id }));
    var card = el("article", { cls: "sample" + (rejected ? " rej" : "") }, head);
    if (rejected) card.appendChild(el("div", { cls: "reason", text: s.reason ? textOf(s.reason) : "(no reason given)" }));
    card.appendChild(el("div", { cls: "pair" }, samplePane(s), itemPane(s.item ? items[s.item] : null, s)));
    return card;
  }

  function uniq(list) {
    var seen = {}, out = [];
    list.forEach(function (v) { if (v !== null && v !== undefined && !seen[v]) { seen[v] = 1; out.push(v); } });
    return out.sort();
  }

  function select(name, values, all, onChange) {
    var s = el("select", { "aria-label": name, "data-filter": name });
    s.appendChild(el("option", { value: "", text: all }));
    values.forEach(function (v) { s.appendChild(el("option", { value: v, text: v })); });
    s.addEventListener("change", function () { onChange(s.value); });
    return s;
  }

  function drawBrowser(data) {
    var root = document.getElementById("browser");
    if (!root || !data) return;
    var sets = { kept: data.kept || [], rejects: data.rejects || [] };
    var items = data.items || {};
    var state = { tab: sets.kept.length || !sets.rejects.length ? "kept" : "rejects", q: "", source: "", label: "", filter: "", page: 0 };
    var hay = { kept: [], rejects: [] };
    ["kept", "rejects"].forEach(function (k) {
      hay[k] = sets[k].map(function (s) {
        var it = s.item ? items[s.item] : null;
        return [textOf(s.input), textOf(s.output), textOf(s.reasoning), s.source, s.row_id, s.id, s.reason, s.filter, textOf(s.raw),
          it ? textOf(it.text || it.cells) : ""].join("\n").toLowerCase();
      });
    });

    var tabs = el("div", { cls: "tabs", role: "tablist" });
    var tabButtons = {};
    [["kept", "Kept"], ["rejects", "Rejected"]].forEach(function (t) {
      var total = t[0] === "kept" ? data.n_kept : data.n_rejects, n = sets[t[0]].length;
      var label = t[1] + " (" + n.toLocaleString("en") + (total > n ? " of " + total.toLocaleString("en") : "") + ")";
      var b = el("button", { type: "button", "data-tab": t[0], text: label });
      b.addEventListener("click", function () { state.tab = t[0]; state.page = 0; update(); });
      tabButtons[t[0]] = b;
      tabs.appendChild(b);
    });
    var search = el("input", { type: "search", placeholder: "Search text, source, row id, reason…", "aria-label": "search samples" });
    var timer = null;
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.q = search.value.trim().toLowerCase(); state.page = 0; update(); }, 120);
    });
    var all = sets.kept.concat(sets.rejects);
    var srcSel = select("source", uniq(all.map(function (s) { return s.source; })), "All sources", function (v) { state.source = v; state.page = 0; update(); });
    var labels = uniq((data.labels || []).concat(all.map(function (s) { return s.label; })));
    var labSel = labels.length ? select("label", labels, "All " + (data.label_field ? data.label_field + "s" : "labels"), function (v) { state.label = v; state.page = 0; update(); }) : null;
    var fltSel = select("filter", uniq(sets.rejects.map(function (s) { return (s.stage || "?") + " / " + (s.filter || "?"); })), "All stages / filters",
      function (v) { state.filter = v; state.page = 0; update(); });
    var count = el("span", { cls: "count", "aria-live": "polite" });
    root.appendChild(el("div", { cls: "controls" }, tabs, search, srcSel, labSel, fltSel, count));
    var list = el("div", { cls: "sample-list" });
    root.appendChild(list);
    var prev = el("button", { type: "button", text: "← Previous" });
    var next = el("button", { type: "button", text: "Next →" });
    var pageInfo = el("span", { cls: "muted" });
    prev.addEventListener("click", function () { state.page--; update(true); });
    next.addEventListener("click", function () { state.page++; update(true); });
    root.appendChild(el("div", { cls: "pager" }, prev, pageInfo, next));

    function matches() {
      var set = sets[state.tab], h = hay[state.tab], out = [];
      for (var i = 0; i < set.length; i++) {
        var s = set[i];
        if (state.source && s.source !== state.source) continue;
        if (state.label && s.label !== state.label) continue;
        if (state.tab === "rejects" && state.filter && (s.stage || "?") + " / " + (s.filter || "?") !== state.filter) continue;
        if (state.q && h[i].indexOf(state.q) < 0) continue;
        out.push(s);
      }
      return out;
    }

    function update(scroll) {
      Object.keys(tabButtons).forEach(function (k) { tabButtons[k].classList.toggle("on", k === state.tab); });
      fltSel.style.display = state.tab === "rejects" ? "" : "none";
      var found = matches();
      var pages = Math.max(1, Math.ceil(found.length / PAGE));
      state.page = Math.min(Math.max(0, state.page), pages - 1);
      var start = state.page * PAGE, shown = found.slice(start, start + PAGE);
      list.textContent = "";
      shown.forEach(function (s) { list.appendChild(sampleCard(s, items, state.tab === "rejects")); });
      if (!shown.length) list.appendChild(el("p", { cls: "empty", text: sets[state.tab].length ? "No sample matches." : "None in this run." }));
      count.textContent = found.length ? "Showing " + (start + 1) + "–" + (start + shown.length) + " of " + found.length.toLocaleString("en") : "0 matches";
      pageInfo.textContent = "page " + (state.page + 1) + " of " + pages;
      prev.disabled = state.page === 0;
      next.disabled = state.page >= pages - 1;
      if (scroll) root.scrollIntoView({ block: "start" });
    }
    update();
  }

  drawMap(readJSON("map-data"));
  drawBrowser(readJSON("browser-data"));
})();
