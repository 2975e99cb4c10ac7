// The live queue: rows pushed over the reviewer's socket (live.js) are inserted in the page's
// order, replaced or removed. A push is only a hint: every time the socket (re)connects, the page
// re-fetches its rows.
(function () {
  const queue = document.getElementById("queue");
  if (!queue || !window.hitlLive) return;
  let countsTimer = null;
  let missed = null;  // pushes received while a re-fetch is in flight

  function rows() { return document.getElementById("queue-rows"); }

  function matches(msg) {
    const d = queue.dataset;
    if (msg.tab !== d.tab) return false;
    if (d.tier && d.tier !== msg.tier) return false;
    if (d.group && d.group !== msg.group) return false;
    if (d.type && d.type !== msg.action_type) return false;
    if (d.agent && !msg.agent.startsWith(d.agent)) return false;
    if (d.held && String(msg.holder) !== document.body.dataset.user) return false;
    return true;
  }

  // The page's order (reviews.selectors.SORTS): a sort value, then the id; "newest" runs backwards.
  function key(due, confidence, created, id) {
    switch (queue.dataset.sort) {
      case "confidence": return [Number(confidence), id];
      case "newest": case "oldest": return [Date.parse(created), id];
      default: return [Date.parse(due), id];
    }
  }
  function before(a, b) {
    const order = a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]) ? -1 : a[0] === b[0] && a[1] === b[1] ? 0 : 1;
    return (queue.dataset.sort === "newest" ? -order : order) < 0;
  }
  function rowKey(r) { return key(r.dataset.due, r.dataset.confidence, r.dataset.created, r.dataset.id); }

  function upsert(msg) {
    const body = rows();
    const holder = document.createElement("tbody");
    holder.innerHTML = msg.html;
    const row = holder.firstElementChild;
    const old = document.getElementById(row.id);
    if (old) { old.replaceWith(row); return; }
    const mine = key(msg.due, msg.confidence, msg.created, msg.id);
    const after = Array.from(body.children).find(function (r) { return before(mine, rowKey(r)); });
    if (!after && body.dataset.more) return;  // it belongs on a later page
    const first = body.firstElementChild;
    if (queue.dataset.paged && (!first || before(mine, rowKey(first)))) return;  // on an earlier page
    body.insertBefore(row, after || null);
    body.closest(".table-scroll").hidden = false;
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

  window.hitlLive.onOpen(refetch);
  window.hitlLive.onMessage(function (msg) {
    if (msg.op === "toast") return;
    if (missed) missed.push(msg);
    apply(msg);
    refreshCounts();
  });

  document.addEventListener("keydown", function (event) {
    const t = event.target.tagName;
    if (event.key !== "n" || event.ctrlKey || event.metaKey || t === "INPUT" || t === "SELECT" || t === "TEXTAREA") return;
    const next = document.getElementById("next-form");
    if (next) { event.preventDefault(); next.submit(); }
  });
})();
