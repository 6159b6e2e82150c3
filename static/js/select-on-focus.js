// Selects the whole value of [data-select-on-focus] inputs when they get focus (copy at once).
document.querySelectorAll("[data-select-on-focus]").forEach(function (input) {
  input.addEventListener("focus", function () { input.select(); });
  input.addEventListener("click", function () { input.select(); });
});
