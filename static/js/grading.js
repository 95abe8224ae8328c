// Rubric forms: letter keys (a, b, c, ... as shown beside each level, from the rubric's
// data-keys) pick a level of the highlighted criterion, and the total is shown live. Digits are
// deliberately not shortcuts: on a rubric whose points are small integers, "4" would read as
// "4 points" while picking the fourth level. The server computes the authoritative total; without JS the radio
// buttons work as they are.
(function () {
  "use strict";
  var rubric = document.querySelector(".rubric");
  if (!rubric) { return; }
  var criteria = Array.prototype.slice.call(rubric.querySelectorAll("fieldset.criterion"));
  var output = document.getElementById("live-total");
  var levelKeys = rubric.getAttribute("data-keys") || "";

  function total() {
    var sum = 0, scored = 0;
    criteria.forEach(function (fieldset) {
      var checked = fieldset.querySelector("input[type=radio]:checked");
      if (checked) { sum += parseFloat(checked.value); scored += 1; }
    });
    if (output) {
      output.textContent = String(Math.round(sum * 100) / 100) +
        (scored < criteria.length ? " (" + (criteria.length - scored) + " to score)" : "");
    }
  }

  var current = 0;
  function focusCriterion(index) {
    criteria.forEach(function (fieldset) { fieldset.classList.remove("active"); });
    current = Math.max(0, Math.min(index, criteria.length - 1));
    if (criteria[current]) { criteria[current].classList.add("active"); }
  }

  criteria.forEach(function (fieldset, index) {
    fieldset.addEventListener("focusin", function () { focusCriterion(index); });
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    // Typing in a field (comment, reason, adjustment, a select's type-ahead) is never a shortcut.
    if (target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable ||
        (target.tagName === "INPUT" && target.type !== "radio" && target.type !== "checkbox"))) {
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    // On a radio button the arrow keys keep their native meaning (move within the criterion).
    if (target && target.type === "radio" && event.key.indexOf("Arrow") === 0) { return; }
    var level = event.key.length === 1 ? levelKeys.indexOf(event.key.toLowerCase()) : -1;
    if (level >= 0) {
      var radios = criteria[current] ? criteria[current].querySelectorAll("input[type=radio]") : [];
      if (radios[level]) {
        radios[level].checked = true;
        total();
        focusCriterion(current + 1);
        if (criteria[current] && criteria[current].scrollIntoView) { criteria[current].scrollIntoView({ block: "nearest" }); }
        event.preventDefault();
      }
    } else if (event.key === "ArrowDown" || event.key === "j") {
      focusCriterion(current + 1);
    } else if (event.key === "ArrowUp" || event.key === "k") {
      focusCriterion(current - 1);
    }
  });

  var hint = document.getElementById("keyboard-hint");
  if (hint) { hint.hidden = false; }
  Array.prototype.forEach.call(rubric.querySelectorAll(".shortcut"), function (key) { key.hidden = false; });

  rubric.addEventListener("change", total);
  focusCriterion(0);
  total();
})();
