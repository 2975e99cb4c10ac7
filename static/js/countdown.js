// Live "due in" countdowns for <time class="countdown" datetime="…">; the server renders a static
// fallback. One with its SLA (data-sla, seconds; data-warn, the warning points as fractions) also
// shows the share of the SLA used, and its row turns more urgent at each warning point passed.
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
      let text = format(ms);
      const sla = Number(el.dataset.sla);
      if (sla > 0) {
        const used = 1 - ms / (sla * 1000);
        const level = (el.dataset.warn || "").split(",").filter(function (w) { return w && used >= Number(w); }).length;
        text += ` · ${Math.max(0, Math.round(used * 100))} % of the SLA used`;
        for (let i = 0; i <= 3; i++) el.classList.toggle(`sla-${i}`, i === level);
        const row = el.closest("tr");
        if (row) row.dataset.urgency = ms < 0 ? "overdue" : String(level);
      }
      el.textContent = text;
      el.classList.toggle("overdue", ms < 0);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
  document.addEventListener("htmx:afterSwap", tick);
})();
