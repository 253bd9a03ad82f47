// oncall web UI: a few lines of progressive enhancement. Every page works without it.
(function () {
  "use strict";

  // Auto-refresh: re-fetch the same URL (query string and all, so filters stay) and
  // swap the regions marked data-live. Skipped while the tab is hidden or the user is
  // busy in a form or an open menu, so nothing is yanked away under the cursor.
  function busy() {
    var active = document.activeElement;
    if (active && active.closest && active.closest("[data-live] form, [data-live] details")) return true;
    return document.querySelector("[data-live] details[open]") !== null;
  }

  function refresh() {
    return fetch(window.location.href, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
    }).then(function (response) {
      if (response.redirected || !response.ok) {
        // Logged out (redirected to the login page) or an error: a full load shows why.
        if (response.redirected) window.location.reload();
        return;
      }
      return response.text().then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (old) {
          var replacement = fresh.getElementById(old.id);
          if (replacement) old.replaceWith(replacement);
        });
        document.dispatchEvent(new CustomEvent("oncall:refreshed"));
      });
    });
  }

  // The rotation timeline's positions come as data attributes: the Content-Security-Policy
  // refuses inline style attributes, but allows setting styles from this script.
  function place() {
    document.querySelectorAll("[data-left]").forEach(function (element) {
      element.style.left = element.getAttribute("data-left") + "%";
      var width = element.getAttribute("data-width");
      if (width !== null) element.style.width = width + "%";
    });
  }
  place();
  document.addEventListener("oncall:refreshed", place);

  var region = document.querySelector("[data-refresh]");
  if (region) {
    var seconds = parseInt(region.getAttribute("data-refresh"), 10) || 30;
    setInterval(function () {
      if (!document.hidden && !busy()) refresh().catch(function () {});
    }, seconds * 1000);
  }

  document.addEventListener("change", function (event) {
    // Filters apply as soon as a select changes.
    var form = event.target.closest && event.target.closest("form[data-autosubmit]");
    if (form && event.target.tagName === "SELECT") form.submit();
  });

  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy"));
    input.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard) navigator.clipboard.writeText(input.value).then(done, function () {});
    else if (document.execCommand("copy")) done();
  });

  // Close an open mute menu when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.mute[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  window.oncall = { refresh: refresh };
})();
