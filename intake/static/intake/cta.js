/* The article call to action. Vanilla JS, no dependencies, no build step.
 * Enhances <section data-cta data-article="slug"> holding the server-rendered
 * form: posts JSON to the intake API with an Idempotency-Key, carries the
 * campaign's UTMs and the browser's time zone, and shows success or field
 * errors in place. Without JavaScript the same form posts to the server. */
(function () {
  "use strict";
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  }

  function utmFromUrl() {
    var params = new URLSearchParams(window.location.search);
    var out = {};
    UTM.forEach(function (name) {
      var value = params.get(name);
      if (value) out[name] = value.slice(0, 200);
    });
    return out;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (el) { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }

  function showErrors(form, fields, status) {
    var first = null;
    Object.keys(fields || {}).forEach(function (name) {
      var slot = form.querySelector('[data-error-for="' + name + '"]');
      var input = form.elements[name];
      if (slot) slot.textContent = fields[name].join(" ");
      if (input && input.setAttribute) {
        input.setAttribute("aria-invalid", "true");
        if (!first) first = input;
      }
    });
    status.textContent = "Please check the highlighted fields.";
    if (first) first.focus();
  }

  function enhance(section) {
    var form = section.querySelector("form");
    if (!form) return;
    var status = section.querySelector(".cta-status");
    var key = newKey();
    var tz = form.elements.timezone;
    try {
      if (tz) tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) { /* older browsers: the server falls back to the number's zone */ }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form);
      var button = form.querySelector("button[type=submit]");
      var body = {
        article: section.getAttribute("data-article") || "",
        page_url: window.location.href.slice(0, 2000),
        referrer: document.referrer.slice(0, 2000),
        sms_consent: !!(form.elements.sms_consent && form.elements.sms_consent.checked)
      };
      ["first_name", "last_name", "phone", "email", "preferred_channel", "best_time",
       "message", "timezone", "website"].forEach(function (name) {
        if (form.elements[name]) body[name] = form.elements[name].value;
      });
      var utm = utmFromUrl();
      Object.keys(utm).forEach(function (name) { body[name] = utm[name]; });

      button.disabled = true;
      status.textContent = "Sending…";
      fetch(section.getAttribute("data-endpoint") || "/api/v1/leads/", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key },
        body: JSON.stringify(body),
        credentials: "omit"
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          return { status: response.status, data: data };
        });
      }).then(function (result) {
        button.disabled = false;
        if (result.status === 201) {
          var done = document.createElement("div");
          done.className = "success";
          done.setAttribute("role", "status");
          done.setAttribute("tabindex", "-1");
          done.innerHTML = "<h3>Thank you, we received your request.</h3>" +
            "<p>A care coordinator will contact you soon. Your reference is <strong></strong>.</p>";
          done.querySelector("strong").textContent = result.data.reference || "";
          form.replaceWith(done);
          done.focus();
          return;
        }
        if (result.status === 400 && result.data.fields) {
          showErrors(form, result.data.fields, status);
          return;
        }
        if (result.status === 429) {
          status.textContent = "Too many requests. Please wait a moment or call us.";
          return;
        }
        status.textContent = (result.data && result.data.message) || "Something went wrong. Please call us.";
      }).catch(function () {
        button.disabled = false;
        status.textContent = "We could not reach the clinic. Please try again or call us.";
      });
    });
  }

  document.querySelectorAll("[data-cta]").forEach(enhance);
})();
