// Times in the reader's own time zone, for <time class="local" datetime="…"> (data-format="time"
// for the time of day only). The server renders them in UTC, labelled, which stays as the tooltip.
(function () {
  const formats = {
    full: new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hourCycle: "h23", timeZoneName: "short",
    }),
    time: new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" }),
  };
  function localize() {
    document.querySelectorAll("time.local").forEach(function (el) {
      const at = new Date(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      if (!el.title) el.title = el.textContent.trim();
      el.textContent = (formats[el.dataset.format] || formats.full).format(at);
    });
  }
  document.addEventListener("DOMContentLoaded", localize);
  document.addEventListener("htmx:afterSwap", localize);
})();
