/* The supervisor board refreshes its live part every 5 s (htmx). A refresh never
 * lands while a supervisor is using one of its forms: typing a reason, choosing a
 * time or a coordinator, or reading a refused form's error. The fields also carry
 * hx-preserve. */
(function () {
  "use strict";
  function changed(live) {
    if (live.querySelector('[aria-invalid="true"]')) return true; // an error being read
    var fields = live.querySelectorAll("textarea, input[type=datetime-local]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== fields[i].defaultValue) return true;
    }
    var options = live.querySelectorAll("select option");
    for (var j = 0; j < options.length; j++) {
      if (options[j].selected !== options[j].defaultSelected) return true;
    }
    return false;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var live = document.getElementById("board-live");
    if (!live || event.detail.elt !== live) return;
    var active = document.activeElement;
    if ((active && live.contains(active) && active.closest("form")) || changed(live)) {
      event.preventDefault();
    }
  });
})();
