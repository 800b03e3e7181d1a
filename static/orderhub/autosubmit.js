// Submits the form of any <select data-autosubmit> when its value changes (the language
// switch). A file, not an inline handler: the Content-Security-Policy allows no inline script.
document.addEventListener("change", function (event) {
  var target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
    target.form.submit();
  }
});
