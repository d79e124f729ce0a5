// The queue's live rows: every few seconds the rows are asked for again with the same filters
// and replaced when they changed; new cases are marked and announced politely. Without
// JavaScript the page works the same, reloaded by hand.
(function () {
  "use strict";
  var body = document.getElementById("queue-rows");
  var status = document.getElementById("queue-status");
  if (!body || !body.dataset.src) return;
  var every = Math.max(1, Number(body.dataset.refreshSeconds) || 5) * 1000;
  var ids = function (root) {
    return Array.prototype.map.call(root.querySelectorAll("tr[data-case-id]"), function (row) {
      return row.dataset.caseId;
    });
  };
  var known = new Set(ids(body));
  var last = body.innerHTML;
  function refresh() {
    fetch(body.dataset.src, { credentials: "same-origin", redirect: "manual" })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401 || response.status === 403) {
          status.textContent = "Your session has ended. Reload the page to sign in again.";
          return null;
        }
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        if (html !== last) {
          last = html;
          body.innerHTML = html;
          var fresh = ids(body).filter(function (id) { return !known.has(id); });
          fresh.forEach(function (id) {
            known.add(id);
            var row = body.querySelector('tr[data-case-id="' + id + '"]');
            if (row) row.classList.add("new");
          });
          if (fresh.length > 0) {
            status.textContent = fresh.length === 1 ? "1 new case." : fresh.length + " new cases.";
          }
        }
        window.setTimeout(refresh, every);
      })
      .catch(function () {
        status.textContent = "The queue could not be refreshed; trying again.";
        window.setTimeout(refresh, every * 2);
      });
  }
  window.setTimeout(refresh, every);
})();
