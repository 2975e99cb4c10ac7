// Live "due in" countdowns for <time class="countdown" datetime="…">; the server renders a static fallback.
(function () {
  function format(ms) {
    const overdue = ms < 0;
    let s = Math.floor(Math.abs(ms) / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    s = s % 60;
    const text = h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
    return overdue ? `overdue by ${text}` : `in ${text}`;
  }
  function tick() {
    document.querySelectorAll("time.countdown").forEach(function (el) {
      const ms = new Date(el.getAttribute("datetime")) - new Date();
      el.textContent = format(ms);
      el.classList.toggle("overdue", ms < 0);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
  document.addEventListener("htmx:afterSwap", tick);
})();
