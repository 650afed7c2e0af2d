/* The text inbox: optional single-key shortcuts, never while typing (WCAG 2.1.4:
 * they can be turned off, and are off when <meta name="console-shortcuts"> says so).
 *
 * Inbox: 1-4 all, mine, unassigned, unread; J the next conversation in the list.
 * Thread: R focus the reply box; I back to the inbox. An error next to the reply box
 * takes the focus when the page loads. */
(function () {
  "use strict";

  function shortcutsOn() {
    var meta = document.querySelector('meta[name="console-shortcuts"]');
    return !!meta && meta.content === "on";
  }

  function typingIn(target) {
    if (!target || !target.closest) return false;
    if (target.isContentEditable) return true;
    return !!target.closest("input, textarea, select, button, [contenteditable]:not([contenteditable=false])");
  }

  function nextThread() {
    var links = Array.prototype.slice.call(document.querySelectorAll("a[data-thread-link]"));
    if (!links.length) return;
    var at = links.indexOf(document.activeElement);
    links[(at + 1) % links.length].focus();
  }

  document.addEventListener("keydown", function (event) {
    if (!shortcutsOn() || event.defaultPrevented) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typingIn(event.target)) return;
    var key = event.key.toLowerCase();
    var filter = document.querySelector('[data-shortcut-filter="' + key + '"]');
    if (filter) { event.preventDefault(); filter.click(); return; }
    if (key === "j") { event.preventDefault(); nextThread(); return; }
    if (key === "r") {
      var box = document.querySelector('[data-shortcut-focus="r"]');
      if (box) { event.preventDefault(); box.focus(); }
      return;
    }
    if (key === "i") {
      var back = document.querySelector("a[data-shortcut-back]");
      if (back) { event.preventDefault(); back.click(); }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var error = document.getElementById("reply-error");
    if (error) error.focus();
  });
})();
