// credo console: progressive enhancement only; every page works without it.
// Sign-in links printed by `credo serve` carry the token in the fragment
// (#token=...), which browsers never send to the server: fill the form,
// drop the fragment from the address bar and history, and submit.
(function () {
  "use strict";
  var form = document.getElementById("signin");
  if (form && location.hash.indexOf("#token=") === 0) {
    var token = decodeURIComponent(location.hash.slice(7));
    history.replaceState(null, "", location.pathname);
    document.getElementById("token").value = token;
    form.submit();
  }
  // A page waiting for background work (a rules impact job) reloads
  // itself; without the script it has a refresh link.
  var waiting = document.querySelector("[data-refresh]");
  if (waiting) {
    window.setTimeout(function () { location.reload(); }, 1000 * Number(waiting.getAttribute("data-refresh")));
  }
  var cancel = document.getElementById("cancel");
  if (cancel) {
    cancel.addEventListener("submit", function (e) {
      if (!window.confirm(cancel.querySelector("button").textContent + "?")) e.preventDefault();
    });
  }
})();
