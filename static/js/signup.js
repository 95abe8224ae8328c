// Sign-up board enhancement: disable a slot button once pressed so a double tap sends one claim.
// The page works without this file; the server decides every claim.
document.addEventListener("submit", function (event) {
  var button = event.target.querySelector("button[type=submit]");
  if (button) { window.setTimeout(function () { button.disabled = true; }, 0); }
});
