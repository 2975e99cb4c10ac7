// The live queue: rows pushed over the websocket are inserted in due order, replaced or removed.
// A push is only a hint: every time the socket (re)connects, the page re-fetches its rows.
(function () {
  const queue = document.getElementById("queue");
  if (!queue || !window.WebSocket) return;
  const filters = ["tier", "group", "type", "agent"];
  let retry = 1000, countsTimer = null;
  let missed = null;  // pushes received while a re-fetch is in flight

  function rows() { return document.getElementById("queue-rows"); }

  function matches(msg) {
    if (msg.tab !== queue.dataset.tab) return false;
    const values = { tier: msg.tier, group: msg.group, type: msg.action_type, agent: msg.agent };
    return filters.every(function (f) { return !queue.dataset[f] || queue.dataset[f] === values[f]; });
  }

  function upsert(msg) {
    const body = rows();
    const holder = document.createElement("tbody");
    holder.innerHTML = msg.html;
    const row = holder.firstElementChild;
    const old = document.getElementById(row.id);
    if (old) { old.replaceWith(row); return; }
    const key = msg.due + msg.id;
    const after = Array.from(body.children).find(function (r) { return r.dataset.due + r.dataset.id > key; });
    if (!after && body.dataset.more) return;  // it belongs on a later page
    const first = body.firstElementChild;
    if (queue.dataset.paged && (!first || key < first.dataset.due + first.dataset.id)) return;  // on an earlier page
    body.insertBefore(row, after || null);
    body.closest("table").hidden = false;
    const empty = queue.querySelector(".empty");
    if (empty) empty.remove();
    if (window.htmx) htmx.process(row);
    document.dispatchEvent(new CustomEvent("htmx:afterSwap"));  // start its countdown
  }

  function remove(id) {
    const row = document.getElementById("row-" + id);
    if (!row) return;
    row.remove();
    if (rows().children.length === 0) refetch();
  }

  // The re-fetched rows were rendered when the request reached the server: pushes that arrive
  // meanwhile are replayed over them, and only the latest re-fetch is shown.
  function refetch() {
    const mine = missed = [];
    fetch(window.location.href, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (missed !== mine) return;  // a newer re-fetch is on its way
        missed = null;
        queue.innerHTML = html;
        if (window.htmx) htmx.process(queue);
        mine.forEach(apply);
        document.dispatchEvent(new CustomEvent("htmx:afterSwap"));  // start the countdowns
      })
      .catch(function () { if (missed === mine) missed = null; });
    refreshCounts();
  }

  function apply(msg) {
    if (msg.op === "upsert" && matches(msg)) upsert(msg); else remove(msg.id);
  }

  // Counts are per reviewer scope, so they are re-read rather than patched.
  function refreshCounts() {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(function () {
      fetch(window.location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        const doc = new DOMParser().parseFromString(html, "text/html");
        ["counts", "count-post"].forEach(function (id) {
          const fresh = doc.getElementById(id), mine = document.getElementById(id);
          if (fresh && mine && id === "counts") {
            fresh.querySelector("#live").textContent = document.getElementById("live").textContent;
          }
          if (fresh && mine) mine.innerHTML = fresh.innerHTML;
        });
      });
    }, 800);
  }

  // An SLA notification for the reviewer's group: a dismissable message at the top of the page.
  function toast(msg) {
    const main = document.querySelector("main") || document.body;
    let list = main.querySelector(":scope > ul.messages");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      main.prepend(list);
    }
    const item = document.createElement("li");
    item.className = "message-info toast";
    item.setAttribute("role", "status");
    const link = document.createElement("a");
    link.href = msg.url;
    link.textContent = msg.text;
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "×";
    close.setAttribute("aria-label", "Dismiss");
    close.addEventListener("click", function () { item.remove(); });
    item.append(link, " ", close);
    list.append(item);
  }

  function connect() {
    const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/reviews/");
    socket.onopen = function () {
      retry = 1000;
      document.getElementById("live").textContent = "live";
      document.body.dataset.live = "1";
      refetch();
    };
    socket.onmessage = function (event) {
      const msg = JSON.parse(event.data);
      if (msg.op === "toast") { toast(msg); return; }
      if (missed) missed.push(msg);
      apply(msg);
      refreshCounts();
    };
    socket.onclose = function () {
      document.body.dataset.live = "";
      document.getElementById("live").textContent = "reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }
  connect();

  document.addEventListener("keydown", function (event) {
    const t = event.target.tagName;
    if (event.key !== "n" || event.ctrlKey || event.metaKey || t === "INPUT" || t === "SELECT" || t === "TEXTAREA") return;
    const next = document.getElementById("next-form");
    if (next) { event.preventDefault(); next.submit(); }
  });
})();
