// The activity page re-reads its rows (debounced) whenever the reviewer socket (live.js) says an
// action changed, and when the socket (re)connects.
(function () {
  const box = document.getElementById("activity");
  if (!box || !window.hitlLive) return;
  let timer = null;
  function refetch() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      fetch(box.dataset.url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { box.innerHTML = html; document.dispatchEvent(new CustomEvent("htmx:afterSwap")); })
        .catch(function () {});
    }, 500);
  }
  window.hitlLive.onOpen(refetch);
  window.hitlLive.onMessage(function (msg) { if (msg.op !== "toast") refetch(); });
})();
