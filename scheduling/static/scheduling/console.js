/* The console's pages: keyboard shortcuts (optional, never while typing, outcome keys
 * only on a callback one holds), choosing and confirming an outcome, call notes kept
 * across every other action on the page, and errors that take the focus.
 *
 * Shortcuts (when <meta name="console-shortcuts" content="on">): N next callback;
 * 1-8 choose an outcome (2 goes to booking); R return to queue; T write a text;
 * ? the list. The server decides "on": the user's preference, and on a callback page
 * only for the coordinator holding it. */
(function () {
  "use strict";

  var DRAFT_PREFIX = "console-notes:";

  function shortcutsOn() {
    var meta = document.querySelector('meta[name="console-shortcuts"]');
    return !!meta && meta.content === "on";
  }

  function typingIn(target) {
    if (!target || !target.closest) return false;
    if (target.isContentEditable) return true;
    return !!target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])");
  }

  // --- Dialogs: the shortcut list and the confirmation of a closing outcome ---------

  var opener = null;

  function openDialog(dialog) {
    if (!dialog || dialog.open) return;
    opener = document.activeElement;
    dialog.showModal();
  }

  function wireDialog(dialog) {
    dialog.querySelectorAll("[data-close]").forEach(function (button) {
      button.addEventListener("click", function () { dialog.close(); });
    });
    // Escape closes a modal dialog natively; either way the focus goes back.
    dialog.addEventListener("close", function () {
      if (opener && document.contains(opener)) opener.focus();
      opener = null;
    });
  }

  // --- The outcome form -----------------------------------------------------------

  function outcomeForm() { return document.getElementById("outcome-form"); }

  function chosen(form) { return form.querySelector('input[name="outcome"]:checked'); }

  function showChoice(form) {
    var radio = chosen(form);
    var button = document.getElementById("log-call");
    var person = form.dataset.person;
    if (button) button.textContent = radio ? "Log “" + radio.dataset.label + "” for " + person : "Log the call";
    var when = document.getElementById("call-back-at");
    if (when) when.required = !!radio && radio.value === "call_back_later";
  }

  function chooseOutcome(form, key) {
    if (key === "2") { goToBooking(); return true; }
    var radio = form.querySelector('input[name="outcome"][data-key="' + key + '"]');
    if (!radio) return false;
    radio.checked = true;
    showChoice(form);
    var next = radio.value === "call_back_later" ? document.getElementById("call-back-at") : document.getElementById("log-call");
    if (next) next.focus();
    return true;
  }

  function goToBooking() {
    var target = document.getElementById("slot") || document.getElementById("book-heading");
    if (!target) return;
    target.scrollIntoView({ block: "center" });
    target.focus();
  }

  function wireOutcomeForm(form) {
    form.addEventListener("change", function (event) {
      if (event.target.name === "outcome") showChoice(form);
    });
    form.querySelectorAll("a.to-booking").forEach(function (link) {
      link.addEventListener("click", function (event) { event.preventDefault(); goToBooking(); });
    });
    // Belt and braces with the disabled default button: Enter in a field never submits.
    form.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && event.target.tagName === "INPUT") event.preventDefault();
    });
    var dialog = document.getElementById("confirm-dialog");
    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (submitter && submitter.name === "confirm") return;  // confirmed
      var radio = chosen(form);
      if (!radio || !radio.dataset.consequence || !dialog) return;
      // A closing outcome: say what it does and to whom, and ask.
      event.preventDefault();
      dialog.querySelector('[data-fill="label"]').textContent = radio.dataset.label;
      dialog.querySelector('[data-fill="consequence"]').textContent = radio.dataset.consequence;
      var yes = document.getElementById("confirm-yes");
      yes.value = radio.value;
      yes.textContent = "Yes, log “" + radio.dataset.label + "”";
      openDialog(dialog);
    });
    showChoice(form);
  }

  // --- Notes drafts: kept per callback in this tab until the call is logged ---------
  // sessionStorage, not localStorage: notes about a person's health do not outlive the
  // tab on a shared workstation, yet survive every reload and round trip in it.

  function store() {
    try { return window.sessionStorage; } catch (error) { return null; }
  }

  function wireNotes() {
    var notes = document.querySelector("textarea[data-draft]");
    var storage = store();
    if (!notes) return;
    var key = DRAFT_PREFIX + notes.dataset.draft;
    if (storage) {
      var draft = storage.getItem(key);
      if (draft && !notes.value) {
        notes.value = draft;
        var note = document.getElementById("draft-note");
        if (note) note.hidden = false;
      }
      notes.addEventListener("input", function () {
        if (notes.value) storage.setItem(key, notes.value); else storage.removeItem(key);
      });
    }
    // Every other form on the page carries the notes, so a round trip keeps them.
    document.querySelectorAll("form").forEach(function (form) {
      var copy = form.querySelector("input[data-notes-copy]");
      if (!copy) return;
      form.addEventListener("submit", function () { copy.value = notes.value; });
    });
  }

  function clearLoggedDraft() {
    var logged = document.querySelector("[data-logged-callback]");
    var storage = store();
    if (logged && storage) storage.removeItem(DRAFT_PREFIX + logged.dataset.loggedCallback);
  }

  // --- Errors take the focus --------------------------------------------------------

  function focusFirstError() {
    var error = document.querySelector(".flash.error, .field-error[role=alert], #confirm-outcome");
    if (!error) return;
    if (!error.hasAttribute("tabindex")) error.setAttribute("tabindex", "-1");
    error.scrollIntoView({ block: "center" });
    error.focus({ preventScroll: true });
  }

  // --- Keys -------------------------------------------------------------------------

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (!shortcutsOn() || typingIn(event.target)) return;
    if (document.querySelector("dialog[open]")) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : "";
    if (!key) return;
    if (key === "?") { event.preventDefault(); openDialog(document.getElementById("shortcut-help")); return; }
    var form = document.querySelector('form[data-shortcut="' + key + '"]');
    if (form) { event.preventDefault(); form.requestSubmit(); return; }
    var focus = document.querySelector('[data-shortcut-focus="' + key + '"]');
    if (focus) { event.preventDefault(); focus.focus(); return; }
    var outcomes = outcomeForm();
    if (outcomes && /^[1-8]$/.test(key) && chooseOutcome(outcomes, key)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("dialog").forEach(wireDialog);
    document.querySelectorAll("[data-opens]").forEach(function (button) {
      button.addEventListener("click", function () { openDialog(document.getElementById(button.dataset.opens)); });
    });
    var form = outcomeForm();
    if (form) wireOutcomeForm(form);
    wireNotes();
    clearLoggedDraft();
    focusFirstError();
  });
})();
