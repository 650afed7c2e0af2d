/* The article call to action; vanilla JS, no dependencies, no build. Paste
 * <div data-cta data-article="slug"></div><script src="https://clinic/static/intake/cta.js" defer></script>
 * anywhere: an empty div gets the form (GET /api/v1/cta/), a server-rendered one
 * (intake/_cta_form.html, same names) is enhanced. Talks only to this script's
 * origin (or data-api), never with cookies. A started form left unsent sends one
 * form_abandon beacon naming the field touched last (a name from TOUCHED, never a value). */
(function () {
  "use strict";
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
  var FIELDS = ["first_name", "last_name", "phone", "email", "preferred_channel", "best_time",
    "interest", "message", "website", "consent_version", "insurance_payer", "insurance_member_id"];
  // The names a form_abandon beacon may carry (intake.models.CtaFormField); the two
  // contact-preference boxes are one.
  var TOUCHED = ["first_name", "last_name", "phone", "email", "sms_consent", "in_crisis",
    "preferred_channel", "best_time", "interest", "message", "contact_preferences"];
  var PREFERENCES = { voicemail_ok: 1, mention_clinic_ok: 1 };
  var CRISIS = [
    { name: "988 Suicide & Crisis Lifeline", description: "free and confidential, any time", phone: "988", sms: "988" },
    { name: "Emergency", description: "if you or someone else is in danger now", phone: "911" }
  ];
  var me = document.currentScript || document.querySelector('script[src*="intake/cta"]');
  var BASE = me && me.src ? new URL(me.src, location.href).origin : location.origin;
  var seq = 0, sent = {};

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
  }
  function newKey() {
    return window.crypto && crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random().toString(36).slice(2);
  }
  function call(root, path, init) {
    init.credentials = "omit";
    return fetch((root.getAttribute("data-api") || BASE) + path, init);
  }

  // Last touch goes in utm_*, the first (kept 90 days in this site's localStorage) in first_touch.
  function touches() {
    var q = new URLSearchParams(location.search), now = {}, any = false, s = {};
    UTM.forEach(function (n) { var v = q.get(n); if (v) { now[n] = v.slice(0, 200); any = true; } });
    try { s = JSON.parse(localStorage.getItem("clinic-cta-touch")) || {}; } catch (e) { /* no storage */ }
    ["first", "last"].forEach(function (k) { if (s[k] && !(Date.parse(s[k].at) > Date.now() - 7776e6)) delete s[k]; });
    if (any) {
      now.at = new Date().toISOString();
      s.first = s.first || now;
      s.last = now;
      try { localStorage.setItem("clinic-cta-touch", JSON.stringify(s)); } catch (e) { /* no storage */ }
    }
    return s;
  }

  // Once per page view and type. keepalive lets it outlive the page (pagehide), like
  // navigator.sendBeacon, which cannot leave the cookies out.
  function beacon(root, type, field) {
    var slug = root.getAttribute("data-article") || "", body = { article: slug, type: type };
    if (sent[slug + type]) return;
    sent[slug + type] = 1;
    if (field) body.field = field;
    call(root, "/api/v1/events/", {
      // text/plain (JSON inside) is a simple request: no CORS preflight from other sites.
      method: "POST", keepalive: true, headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(body)
    }).catch(function () {});
  }

  function resources(list) {
    return "<ul>" + list.map(function (r) {
      return r && typeof r === "object" ? "<li><strong>" + esc(r.name || r.label) + "</strong>" +
        (r.description ? ": " + esc(r.description) : "") + "." +
        (r.phone ? ' Call <a href="tel:' + esc(r.phone) + '">' + esc(r.phone) + "</a>" : "") +
        (r.sms ? ' or text <a href="sms:' + esc(r.sms) + '">' + esc(r.sms) + "</a>" : "") + "</li>" : "<li>" + esc(r) + "</li>";
    }).join("") + "</ul>";
  }

  // A config choice is "value", ["value", "Label"] or {value, label}.
  function pair(o) { return Array.isArray(o) ? o : o && typeof o === "object" ? [o.value, o.label] : [o]; }

  // The form of _cta_form.html, for pages the clinic does not render.
  function render(root, cfg) {
    var p = "cta" + ++seq + "-", c = cfg.consent, opt = ' <span class="optional">(optional)</span>';
    function slot(n) { return '<p class="error" id="' + p + n + '-e" data-error-for="' + n + '"></p></div>'; }
    function attrs(n) { return ' id="' + p + n + '" name="' + n + '" aria-describedby="' + p + n + '-e"'; }
    function field(n, label, type, extra) {
      return '<div class="field"><label for="' + p + n + '">' + label + "</label>" + (type ? "<input type=" + type +
        attrs(n) + " " + (extra || "") + ">" : "<textarea" + attrs(n) + ' rows="3" maxlength="2000"></textarea>') + slot(n);
    }
    function select(n, label, list, first) {
      return '<div class="field"><label for="' + p + n + '">' + label + "</label><select" + attrs(n) + ">" + (first || "") +
        list.map(function (o) {
          var v = String(pair(o)[0]);
          return '<option value="' + esc(v) + '">' + esc(pair(o)[1] || v.charAt(0).toUpperCase() + v.slice(1).replace(/-/g, " ")) + "</option>";
        }).join("") + "</select>" + slot(n);
    }
    function check(n, label) {
      return '<div class="field check"><input type=checkbox id="' + p + n + '" name="' + n + '" value="true"> <label for="' + p + n + '">' + label + "</label></div>";
    }
    root.innerHTML = "<style>[data-cta] .cta{padding:clamp(1rem,4vw,1.5rem)}[data-cta] fieldset{border:0;padding:0;margin:0 0 .75rem;min-width:0}" +
      "[data-cta] summary{cursor:pointer;padding:.5rem 0}[data-cta] .field{margin-bottom:.75rem}[data-cta] label{display:block}[data-cta] .check{display:flex;gap:.5rem}[data-cta] .error{color:#b42318}" +
      "[data-cta] input:not([type=checkbox]),[data-cta] select,[data-cta] textarea{width:100%;max-width:32rem;box-sizing:border-box;font:inherit;padding:.4rem}" +
      "[data-cta] .hp{position:absolute;left:-9999px;width:1px;height:1px;overflow:hidden}</style>" +
      '<section class="cta" aria-labelledby="' + p + 'h"><h2 id="' + p + 'h">Start your path to healing today!</h2>' +
      "<p>Leave a phone number or an email address and a care coordinator will get back to you, usually within minutes during opening hours.</p>" +
      '<form method="post" novalidate><div class="cta-status" role="status" aria-live="polite"></div>' +
      '<p class="error" role="alert" data-error-for="non_field_errors"></p>' +
      field("first_name", "First name", "text", 'autocomplete="given-name" maxlength="100" required') +
      '<fieldset class="reach"><legend>Phone or email <span class="optional">(one is enough)</span></legend>' +
      field("phone", "Phone", "tel", 'autocomplete="tel"') + field("email", "Email", "email", 'autocomplete="email"') + "</fieldset>" +
      check("in_crisis", "<strong>I need help right now</strong>") + '<div class="crisis-now" data-crisis-now role="alert"></div>' +
      (c ? check("sms_consent", esc(c.text)) + '<input type=hidden name="consent_version" value="' + esc(c.version) + '">' : "") +
      // The optional rest, one tap away (same names as the short form's page).
      '<details class="more" data-cta-more><summary>More options <span class="optional">(optional: how and when to reach you, a message, your insurance)</span></summary>' +
      field("last_name", "Last name" + opt, "text", 'autocomplete="family-name" maxlength="100"') +
      select("preferred_channel", "How should we reach you?", (cfg.preferred_channels || ["call", "sms", "email"])
        .filter(function (o) { return c || pair(o)[0] !== "sms"; })) + // no consent text shown: no SMS
      select("best_time", "Best time", cfg.best_times || ["anytime", "morning", "afternoon", "evening"]) +
      (cfg.interests && cfg.interests.length ? select("interest", "What would you like help with?" + opt, cfg.interests,
        '<option value="">Prefer not to say</option>') : "") +
      field("message", "Anything you'd like us to know?" + opt) +
      // Insurance, optional and never required: a coordinator checks it with the person.
      (cfg.insurance_payers && cfg.insurance_payers.length ? "<fieldset><legend>Your insurance" + opt + "</legend>" +
        select("insurance_payer", "Insurance company", cfg.insurance_payers, '<option value="">Prefer not to say</option>') +
        field("insurance_member_id", "Member ID" + opt, "text", 'autocomplete="off" maxlength="40"') + "</fieldset>" : "") +
      "<fieldset><legend>When we contact you" + opt + "</legend>" +
      check("voicemail_ok", "You may leave a voicemail if I don't answer.") +
      check("mention_clinic_ok", "You may say the clinic's name if someone else answers.") + "</fieldset></details>" +
      '<input type=hidden name="timezone"><div class="hp" aria-hidden="true"><label for="' + p + 'website">Leave this empty</label>' +
      '<input type=text id="' + p + 'website" name="website" tabindex="-1" autocomplete="off"></div>' +
      '<button type="submit">Request a callback</button><p class="crisis">In crisis? Call or text <a href="tel:988">988</a>' +
      ' (Suicide &amp; Crisis Lifeline), or call <a href="tel:911">911</a> in an emergency.</p></form></section>';
  }

  function enhance(root) {
    var form = root.querySelector("form"), el = form.elements, key = newKey(), busy = false;
    var last = "", submitted = false; // the field touched last, by name; a request went
    var status = form.querySelector(".cta-status"), crisisBox = form.querySelector("[data-crisis-now]");
    function say(text) { status.textContent = text; }
    function crisis() {
      if (crisisBox) crisisBox.innerHTML = el.in_crisis.checked ? "<p><strong>If you are in danger right now, call 911.</strong>" +
        " To talk to someone now:</p>" + resources(CRISIS) + "<p>You can still send this form; we will treat it as urgent.</p>" : "";
    }
    if (el.in_crisis) { el.in_crisis.addEventListener("change", crisis); crisis(); }

    function showErrors(fields) {
      var first = null, other = [];
      Object.keys(fields).forEach(function (name) {
        var n = el[name] ? name : name.split(".").pop(), input = el[n], text = [].concat(fields[name]).join(" ");
        var slot = form.querySelector('[data-error-for="' + n + '"]');
        if (slot) slot.textContent = text; else other.push(text);
        if (input && input.setAttribute) { input.setAttribute("aria-invalid", "true"); first = first || input; }
      });
      say(first ? "Please check the highlighted fields. " + other.join(" ") : other.join(" ") || "Please check the form.");
      if (first) {
        var more = first.closest && first.closest("details");
        if (more) more.open = true; // an error behind "More options" is shown, not hidden
        first.focus();
      }
    }
    function done(data) {
      var box = document.createElement("div"), help = data.crisis_resources;
      if (!(help && help.length) && el.in_crisis && el.in_crisis.checked) help = CRISIS;
      box.className = "success";
      box.tabIndex = -1;
      box.innerHTML = (help && help.length ? '<div class="crisis-now" role="alert"><h3>Help is available right now</h3>' +
        resources(help) + "</div>" : "") + "<h3>Thank you, we received your request.</h3>" +
        // When and how, in words the server made from the callback window (the same
        // as the page without JavaScript and the confirmations say).
        '<p class="next-contact">' + esc((data.next_contact || {}).text || "A care coordinator will be in touch.") +
        "</p><p>Your reference is <strong>" + esc(data.reference) + "</strong>.</p>";
      submitted = true;
      // Asked already: the page's "Request a call" button has nothing more to offer.
      document.querySelectorAll("[data-cta-jump]").forEach(function (b) { b.classList.add("is-done"); });
      form.hidden = true;
      form.reset();
      form.parentNode.insertBefore(box, form);
      key = newKey(); // another request from this form is another submission
      box.focus();
    }

    function submit(retried) {
      var t = TOUCH, body = {
        article: root.getAttribute("data-article") || "",
        page_url: location.href.split("#")[0].slice(0, 2000),
        referrer: document.referrer.slice(0, 2000)
      };
      FIELDS.forEach(function (n) { if (el[n]) body[n] = el[n].value; });
      try { body.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* old browser */ }
      ["sms_consent", "in_crisis"].forEach(function (n) { if (el[n]) body[n] = el[n].checked; });
      if (el.voicemail_ok) {
        body.contact_preferences = { voicemail_ok: el.voicemail_ok.checked, mention_clinic_ok: !!(el.mention_clinic_ok || {}).checked };
      }
      UTM.forEach(function (n) { if (t.last && t.last[n]) body[n] = t.last[n]; });
      if (t.first) body.first_touch = t.first;

      return call(root, "/api/v1/leads/", {
        method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", "Idempotency-Key": key }
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          var wait = Math.ceil((+r.headers.get("Retry-After") || 0) / 60);
          if (r.status < 300) return done(data);
          if (r.status === 422 && data.code === "idempotency_key_reused" && !retried) {
            key = newKey(); // an earlier, different request used this key
            return submit(true);
          }
          if (r.status === 400 && data.fields) return showErrors(data.fields);
          say(r.status === 429 ? "Too many requests from this connection. Please try again " +
            (wait ? "in about " + wait + " min" : "in a little while") + ", or call us."
            : data.message || "Something went wrong on our side. Please try again, or call us.");
        });
      });
    }

    form.addEventListener("submit", function (event) {
      var button = form.querySelector("[type=submit]");
      event.preventDefault();
      if (busy) return;
      busy = button.disabled = true;
      form.querySelectorAll("[data-error-for]").forEach(function (s) { s.textContent = ""; });
      form.querySelectorAll("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
      say("Sending…");
      submit(false).catch(function () { // the key is kept: trying again cannot submit twice
        say("We could not reach the clinic. Please check your connection and try again, or call us.");
      }).then(function () { busy = button.disabled = false; });
    });

    form.addEventListener("focusin", function () { beacon(root, "form_start"); });
    function touch(event) {
      var name = event.target && event.target.name;
      name = PREFERENCES[name] ? "contact_preferences" : name;
      if (TOUCHED.indexOf(name) >= 0) last = name;
    }
    form.addEventListener("focusin", touch);
    form.addEventListener("change", touch);
    // Leaving, or hidden (a phone may never fire pagehide): a started form not sent.
    function leave() { if (last && !submitted) beacon(root, "form_abandon", last); }
    window.addEventListener("pagehide", leave);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") leave();
    });
    beacon(root, "article_view");
    if (!window.IntersectionObserver) return beacon(root, "cta_view");
    var seen = new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) { beacon(root, "cta_view"); seen.disconnect(); }
    }, { threshold: 0.3 });
    seen.observe(root);
  }

  function start(root) {
    if (root.getAttribute("data-cta-ready")) return; // the script was pasted twice
    root.setAttribute("data-cta-ready", "1");
    if (root.querySelector("form")) return enhance(root);
    if (root.childElementCount) return;
    call(root, "/api/v1/cta/?article=" + encodeURIComponent(root.getAttribute("data-article") || ""), {})
      .then(function (r) { return r.ok ? r.json() : {}; })
      .catch(function () { return {}; }) // no config endpoint: a form without SMS consent
      .then(function (cfg) {
        if (root.childElementCount) return;
        render(root, cfg && typeof cfg === "object" ? cfg : {});
        enhance(root);
      });
  }

  // "Request a call" on an article at phone width: jumps to the form and puts the focus
  // in its first field (smoothly unless the reader asked for less motion); hidden while
  // the form is in view. Without JavaScript it is a plain link to #cta.
  function jump(box) {
    var link = box.querySelector("a[href^='#']"), target = link && document.getElementById(link.hash.slice(1));
    if (!target || box.getAttribute("data-cta-ready")) return;
    box.setAttribute("data-cta-ready", "1");
    link.addEventListener("click", function (event) {
      var field = target.querySelector("input:not([type=hidden]):not([tabindex='-1']), select, textarea");
      var still = window.matchMedia && matchMedia("(prefers-reduced-motion: reduce)").matches;
      event.preventDefault();
      target.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "start" });
      if (field) field.focus({ preventScroll: true }); else { target.tabIndex = -1; target.focus({ preventScroll: true }); }
      if (history.replaceState) history.replaceState(null, "", link.hash);
    });
    if (!window.IntersectionObserver) return;
    new IntersectionObserver(function (entries) {
      box.classList.toggle("is-hidden", entries[entries.length - 1].isIntersecting);
    }).observe(target);
  }

  // Read once: a retry must send the same body as the first try (same Idempotency-Key).
  var TOUCH = touches(); // and a campaign's first touch is kept even if no form is sent
  function all() {
    document.querySelectorAll("[data-cta]").forEach(start);
    document.querySelectorAll("[data-cta-jump]").forEach(jump);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all); else all();
})();
