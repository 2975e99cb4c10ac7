// The reviewer's live socket, shared by the queue and the action page. It (re)connects with
// backoff, shows toasts (SLA notifications for one's groups, and notices for oneself, such as a
// lead taking over one's claim), and hands every other message to the page's listeners. A push
// is only a hint: on every (re)connect the listeners re-read their state.
(function () {
  if (!window.WebSocket) return;
  const listeners = [], openers = [];
  const MAX_TOASTS = window.matchMedia("(max-width: 640px)").matches ? 2 : 4;
  let retry = 1000;
  // A lead's dashboard hears of every change, not only the rows its reviewer may see.
  const feed = document.querySelector("[data-live-all]") ? "?all=1" : "";

  function status(text) {
    const el = document.getElementById("live");
    if (el) el.textContent = text;
  }

  function toast(msg) {
    let list = document.querySelector("ul.toasts");
    if (!list) {
      list = document.createElement("ul");
      list.className = "toasts";
      document.body.append(list);
    }
    const item = document.createElement("li");
    item.className = msg.action ? "notice-mine" : "notice-group";
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
    if (!msg.action) setTimeout(function () { item.remove(); }, 60000);  // a group's SLA news fades
    // Too many: a group's oldest SLA news goes first; a notice to oneself stays until dismissed.
    const group = list.querySelectorAll("li.notice-group");
    for (let i = 0; i < Math.min(group.length, list.children.length - MAX_TOASTS); i++) group[i].remove();
  }

  function connect() {
    const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/reviews/" + feed);
    socket.onopen = function () {
      retry = 1000;
      status("live");
      document.body.dataset.live = "1";
      openers.forEach(function (f) { f(); });
    };
    socket.onmessage = function (event) {
      const msg = JSON.parse(event.data);
      if (msg.op === "toast") toast(msg);
      listeners.forEach(function (f) { f(msg); });
    };
    socket.onclose = function (event) {
      document.body.dataset.live = "";
      if (event.code === 4401) {  // signed out (or the account was closed): the page shows the login
        status("signed out");
        location.reload();
        return;
      }
      status("reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  window.hitlLive = {
    onMessage: function (f) { listeners.push(f); },
    onOpen: function (f) { openers.push(f); },
    // Show `msg` again after the page reloads (a notice that made the page read itself afresh).
    keepForReload: function (msg) { sessionStorage.setItem("hitl-toast", JSON.stringify(msg)); },
  };
  document.addEventListener("DOMContentLoaded", function () {
    const kept = sessionStorage.getItem("hitl-toast");
    if (kept) {
      sessionStorage.removeItem("hitl-toast");
      toast(JSON.parse(kept));
    }
    connect();
  });
})();
