// Small behaviours every page shares, kept out of the HTML so the Content-Security-Policy
// can refuse inline scripts and event handler attributes (onclick=, onsubmit=).
//
//   <form data-confirm="Delete this?">   asks first; Cancel stops the submit (htmx too)
//   <button data-copy="#payload">        copies that element's text, then says "Copied"
//
// Both listen on the document, so content that htmx swaps in works without set-up.
(() => {
  "use strict";

  // Capture phase: runs before htmx's own submit listener on the form.
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target.closest("form[data-confirm]");
      if (form && !window.confirm(form.dataset.confirm)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true,
  );

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent).then(() => {
      button.textContent = "Copied";
    });
  });
})();
