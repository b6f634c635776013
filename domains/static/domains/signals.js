// The domain claim page: fill each signals preview from the signals API (so the admin shows exactly what crawlers
// get) and wire its copy button. A static file, not an inline script: the admin's Content-Security-Policy runs
// scripts from the registry's own origin only.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  document.querySelectorAll("pre[data-kyodaku-signal]").forEach(function (pre) {
    fetch(pre.dataset.kyodakuSignal, {credentials: "same-origin"})
      .then(function (r) { return r.text(); })
      .then(function (t) { pre.textContent = t; });
  });
  document.querySelectorAll("button[data-kyodaku-copy]").forEach(function (b) {
    b.addEventListener("click", function () { navigator.clipboard.writeText(b.previousElementSibling.textContent); });
  });
});
