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
