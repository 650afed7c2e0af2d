/* Console keyboard shortcuts. N: next callback; 1-8: log that outcome;
 * R: return to queue; T: focus the text box. Ignored while typing in a field. */
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
    var key = event.key.toLowerCase();
    var form = document.querySelector('form[data-shortcut="' + key + '"]');
    if (form) { event.preventDefault(); form.submit(); return; }
    var focus = document.querySelector('[data-shortcut-focus="' + key + '"]');
    if (focus) { event.preventDefault(); focus.focus(); return; }
    var button = document.querySelector('#outcome-form button[data-key="' + key + '"]');
    if (button) { event.preventDefault(); button.click(); }
  });
})();
