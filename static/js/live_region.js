// A region of the page that re-reads itself (debounced) whenever the reviewer socket (live.js)
// says an action changed, when the socket (re)connects, and every data-every seconds if given:
// <div data-live-url="…" [data-every="30"]>. The activity page and the lead dashboard use it.
(function () {
  const boxes = document.querySelectorAll("[data-live-url]");
  if (!boxes.length || !window.hitlLive) return;
  boxes.forEach(function (box) {
    let timer = null;
    function refetch() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(box.dataset.liveUrl, { credentials: "same-origin", headers: { "HX-Request": "true" } })
          .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
          .then(function (html) {
            box.innerHTML = html;
            box.dataset.updated = String(Date.now());
            document.dispatchEvent(new CustomEvent("htmx:afterSwap"));
          })
          .catch(function () {});
      }, 500);
    }
    window.hitlLive.onOpen(refetch);
    window.hitlLive.onMessage(function (msg) { if (msg.op !== "toast") refetch(); });
    if (box.dataset.every) setInterval(refetch, Number(box.dataset.every) * 1000);
  });
})();
