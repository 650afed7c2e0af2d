/* The console's browser softphone: "Call from this browser" on a callback page, only
 * where the softphone is configured (the page then loads the vendored Twilio Voice
 * SDK, vendor/twilio-voice/). It asks the app for an access token
 * (POST /api/v1/me/voice-token/) and to store the call for the browser
 * (POST /api/v1/callbacks/{id}/call/ with {"via": "browser"}), then connects through
 * the clinic's TwiML App passing only the call's id: the app reads the person's number
 * from the lead, never from here. Without JavaScript, or without the SDK, the button
 * stays hidden and "Call from the clinic's number" does the same from one's phone. */
(function () {
  "use strict";

  var active = null;

  function csrfToken() {
    var input = document.querySelector('#call-panel input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.message || "The call was not placed.");
        return data;
      });
    });
  }

  function say(text) {
    var status = document.getElementById("softphone-status");
    if (status) status.textContent = text;
  }

  function reveal() {
    var ready = !!(window.Twilio && window.Twilio.Device);
    document.querySelectorAll("[data-softphone-call]").forEach(function (button) {
      button.hidden = !ready;
    });
    var hangUp = document.getElementById("softphone-hang-up");
    if (hangUp) hangUp.hidden = !active;
  }

  function start(button) {
    button.disabled = true;
    say("Connecting from this browser…");
    var tokenUrl = button.getAttribute("data-token-url");
    var callUrl = button.getAttribute("data-call-url");
    post(tokenUrl)
      .then(function (token) {
        return post(callUrl, { via: "browser" }).then(function (placed) {
          var device = new window.Twilio.Device(token.token, { closeProtection: true });
          return device.connect({ params: { call: placed.call } }).then(function (call) {
            active = { device: device, call: call };
            reveal();
            say("Calling from this browser…");
            call.on("accept", function () { say("Connected from this browser."); });
            call.on("disconnect", function () {
              say("Call ended.");
              device.destroy();
              active = null;
              button.disabled = false;
              reveal();
            });
          });
        });
      })
      .catch(function (error) {
        say(error.message);
        button.disabled = false;
      });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-softphone-call]") : null;
    if (button) {
      start(button);
      return;
    }
    if (event.target.id === "softphone-hang-up" && active) active.call.disconnect();
  });
  document.addEventListener("DOMContentLoaded", reveal);
  document.body && document.body.addEventListener("htmx:afterSwap", reveal);
  reveal();
})();
