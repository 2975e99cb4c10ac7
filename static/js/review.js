// The action page: keyboard shortcuts (an approval that cannot be undone, of tier2 or above, or of
// a high blast radius asks once to confirm), errors that clear once the form changes, giving the
// claim back when the reviewer leaves, and live word when someone else changes the action.
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

  // A lease renewal refused (someone else holds the action now) shows who does.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 409 && event.detail.target.id === "claim") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // An error shown for a refused decision goes once the reviewer changes the form.
  const decide = document.getElementById("decide");
  if (decide) {
    decide.addEventListener("input", function () {
      decide.querySelectorAll(".stale-on-input, label.field .errorlist").forEach(function (el) { el.remove(); });
    });
  }

  // Approving by keyboard: one confirmation when the form says why (data-confirm).
  function approveByKey(button) {
    const dialog = document.getElementById("confirm-approve");
    if (!decide || !decide.dataset.confirm || !dialog || !dialog.showModal) { button.click(); return; }
    dialog.returnValue = "";
    dialog.onclose = function () { if (dialog.returnValue === "confirm") button.click(); };
    dialog.showModal();
  }

  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return;  // the dialog answers for itself
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
    if (target.tagName === "TEXTAREA") target.focus();
    else if (target.id === "approve") approveByKey(target);
    else target.click();
  });

  // Someone else changed this action: a lead took over one's claim (the page shows it again at
  // once), or it was decided, claimed or edited (the reviewer is offered a fresh look).
  if (window.hitlLive) {
    window.hitlLive.onMessage(function (msg) {
      if (submitting) return;
      if (msg.op === "toast" && msg.action === page.dataset.action && msg.reload) {
        window.hitlLive.keepForReload(msg);
        window.location.reload();
        return;
      }
      if (msg.op === "toast" || msg.id !== page.dataset.action || document.getElementById("changed")) return;
      if (!(msg.version > Number(page.dataset.version))) return;  // a claim, or this page's own doing
      const note = document.createElement("p");
      note.id = "changed";
      note.className = "notice";
      note.setAttribute("role", "status");
      note.append("This action changed since you opened it. ");
      const again = document.createElement("a");
      again.href = window.location.pathname;
      again.textContent = "Look at it again";
      note.append(again, ".");
      page.querySelector(".detail-head").append(note);
    });
  }
})();
