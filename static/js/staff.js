// The staff pages' small behaviours. Loaded from base.html (script-src 'self': no inline
// script anywhere); every page works without it, these only add convenience.
(function () {
  "use strict";

  // Show/hide on the secret inputs of an integration's form (not on login or password
  // pages). Only what is being typed can be shown: a stored secret is never sent to the page
  // (its input is always empty). Hidden again before the form is sent, so that no browser
  // keeps the value in its history of plain text inputs.
  document.querySelectorAll(".form-card .field input[type=password]").forEach(function (input) {
    var label = document.querySelector('label[for="' + input.id + '"]');
    var name = label ? label.firstChild.textContent.trim() : "value";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button small reveal";
    button.textContent = "Show";
    button.setAttribute("aria-controls", input.id);
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-label", "Show " + name + " while typing");
    var wrapper = document.createElement("div");
    wrapper.className = "secret-input";
    input.parentNode.insertBefore(wrapper, input);
    wrapper.appendChild(input);
    wrapper.appendChild(button);

    function show(visible) {
      input.type = visible ? "text" : "password";
      button.textContent = visible ? "Hide" : "Show";
      button.setAttribute("aria-pressed", String(visible));
      button.setAttribute("aria-label", (visible ? "Hide " : "Show ") + name + " while typing");
    }
    button.addEventListener("click", function () {
      show(input.type === "password");
      input.focus();
    });
    if (input.form) {
      input.form.addEventListener("submit", function () { show(false); });
    }
  });

  // Copy buttons ([data-copy]: a non-secret value already shown beside the button). They are
  // hidden in the HTML and shown here, where the clipboard can be reached.
  if (!(navigator.clipboard && window.isSecureContext)) {
    return;
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var idle = button.textContent;
    var timer = null;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(button.dataset.copy).then(
        function () { button.textContent = "Copied"; button.classList.add("copied"); },
        function () { button.textContent = "Copy failed"; }
      ).then(function () {
        clearTimeout(timer);
        timer = setTimeout(function () {
          button.textContent = idle;
          button.classList.remove("copied");
        }, 1500);
      });
    });
  });
})();
