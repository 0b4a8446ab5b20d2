// The console's few live parts without inline script: copy buttons and the environment switcher.
"use strict";
document.addEventListener("click", function (event) {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.value !== undefined ? source.value : source.textContent;
  navigator.clipboard.writeText(text.trim()).then(
    function () { button.textContent = "Copied"; },
    function () { button.textContent = "Select and copy"; }
  );
});
document.addEventListener("change", function (event) {
  const select = event.target.closest("select[data-autosubmit]");
  if (select) select.form.submit();
});
// A form with data-enable-when-filled="a,b" keeps its submit button disabled until those fields have values.
// Without JavaScript the button stays enabled and the server fills what it can.
function syncFilled(form) {
  const names = form.dataset.enableWhenFilled.split(",");
  const filled = names.every(function (name) {
    const input = form.elements.namedItem(name);
    return input && input.value.trim() !== "";
  });
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = !filled;
}
document.addEventListener("input", function (event) {
  const form = event.target.closest("form[data-enable-when-filled]");
  if (form) syncFilled(form);
});
document.addEventListener("htmx:afterSettle", function () {
  document.querySelectorAll("form[data-enable-when-filled]").forEach(syncFilled);
});
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-enable-when-filled]").forEach(syncFilled);
});
