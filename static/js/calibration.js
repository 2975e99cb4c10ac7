// The calibration page re-reads its charts every 15 s (htmx); a bins table the reader opened stays open.
(function () {
  let open = [];
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target.id !== "calibration") return;
    open = Array.from(event.detail.target.querySelectorAll("details[open]"), function (d) { return d.id; });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "calibration") return;
    open.forEach(function (id) { const details = document.getElementById(id); if (details) details.open = true; });
  });
})();
