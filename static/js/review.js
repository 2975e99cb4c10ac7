// The action page: keyboard shortcuts, and giving the claim back when the reviewer leaves.
(function () {
  const page = document.querySelector(".detail");
  if (!page) return;
  let submitting = false;
  document.addEventListener("submit", function () { submitting = true; });

  // Leaving without deciding releases the claim at once instead of waiting for the lease to run out.
  window.addEventListener("pagehide", function () {
    const claim = document.getElementById("claim");
    if (submitting || !claim || !claim.dataset.held) return;
    const body = new FormData();
    body.append("csrfmiddlewaretoken", document.querySelector("[name=csrfmiddlewaretoken]").value);
    body.append("beacon", "1");
    navigator.sendBeacon(page.dataset.release, body);
  });

  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(document.activeElement)) { document.activeElement.blur(); return; }
    if (typing(event.target)) return;
    const key = event.key;
    if (key === "n") { event.preventDefault(); document.getElementById("next-form").submit(); return; }
    if (key === "q") { window.location = page.dataset.queue; return; }
    if (key === "e") {
      const edit = document.querySelector("details.edit");
      if (edit) {
        event.preventDefault();
        edit.open = true;
        const first = edit.querySelector("input:not([type=hidden]), select, textarea");
        if (first) first.focus();
      }
      return;
    }
    const target = document.querySelector(`[data-key="${key}"]`);
    if (!target) return;
    event.preventDefault();
    if (target.tagName === "TEXTAREA") target.focus(); else target.click();
  });
})();
