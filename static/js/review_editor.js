// Review editor: autosave drafts, live gentle checks, server-rendered preview; and j/k
// navigation in the reading view. The pages work without this file.
(function () {
  "use strict";

  function sentences(text) {
    text = text.trim();
    if (!text) return 0;
    var ends = (text.match(/[.!?]+(?=\s|$)/g) || []).length;
    return ends + (/[.!?]$/.test(text) ? 0 : 1);
  }

  function setupEditor(form) {
    var csrf = form.querySelector("input[name=csrf_token]");
    var versionInput = form.querySelector("#review-version");
    var status = document.getElementById("save-status");
    var autosaveOn = form.dataset.autosave === "on";
    var maxSection = parseInt(form.dataset.maxSection, 10);
    var maxTotal = parseInt(form.dataset.maxTotal, 10);
    var textareas = Array.prototype.slice.call(form.querySelectorAll("textarea[data-section]"));
    var questions = Array.prototype.slice.call(form.querySelectorAll("input[data-question]"));
    var lastSent = null;
    var timer = null;
    var inFlight = false;
    var conflict = false;

    function payload() {
      var data = {};
      textareas.forEach(function (t) { data[t.dataset.section] = t.value; });
      data.questions = questions.map(function (q) { return q.value; });
      return data;
    }

    // A copy of the text in this browser (localStorage), kept until the server has the same
    // text: if a save fails (the site down, the database busy, a lost connection), reopening
    // the editor offers it back. It is dropped as soon as the server holds what it holds.
    var draftKey = "review-draft:" + form.dataset.autosaveUrl;

    function readDraft() {
      try { return JSON.parse(window.localStorage.getItem(draftKey) || "null"); } catch (e) { return null; }
    }

    function keepDraft() {
      try {
        window.localStorage.setItem(draftKey, JSON.stringify({ saved: new Date().toISOString(), data: payload() }));
      } catch (e) { /* storage full or disabled: the server copy is all there is */ }
    }

    function dropDraft() {
      try { window.localStorage.removeItem(draftKey); } catch (e) { /* nothing kept */ }
    }

    function fill(data) {
      textareas.forEach(function (t) { t.value = data[t.dataset.section] || ""; });
      questions.forEach(function (q, i) { q.value = (data.questions || [])[i] || ""; });
    }

    function offerDraft() {
      var draft = readDraft();
      if (!draft || !draft.data) return;
      if (JSON.stringify(draft.data) === JSON.stringify(payload())) { dropDraft(); return; }
      var box = document.createElement("div");
      box.className = "flash flash-info draft-offer";
      box.setAttribute("role", "status");
      var when = new Date(draft.saved);
      box.appendChild(document.createTextNode(
        "This browser kept a copy of your text from " + when.toLocaleString() +
        " that may not have been saved. "));
      var restore = document.createElement("button");
      restore.type = "button";
      restore.textContent = "Restore it";
      restore.id = "restore-draft";
      var discard = document.createElement("button");
      discard.type = "button";
      discard.className = "link";
      discard.textContent = "Discard it";
      restore.addEventListener("click", function () {
        fill(draft.data);
        box.remove();
        schedule();
        showStatus("Restored the copy kept in this browser; saving…");
      });
      discard.addEventListener("click", function () { dropDraft(); box.remove(); });
      box.appendChild(restore);
      box.appendChild(document.createTextNode(" "));
      box.appendChild(discard);
      form.parentNode.insertBefore(box, form);
    }

    function showStatus(text, isError) {
      if (!status) return;
      status.textContent = text;
      status.classList.toggle("error", !!isError);
    }

    function check() {
      var total = 0;
      textareas.forEach(function (t) {
        var out = document.getElementById(t.dataset.section + "-check");
        var v = t.value.trim();
        total += v.length;
        var msg = "", cls = "";
        if (!v) { msg = "This section is empty; it is needed to submit."; cls = "bad"; }
        else if (v.length > maxSection) { msg = v.length + " characters; the limit is " + maxSection + "."; cls = "bad"; }
        else if (t.dataset.section === "summary" && sentences(v) > 2) {
          msg = "The summary has " + sentences(v) + " sentences; one or two are enough."; cls = "warn";
        }
        if (out) { out.textContent = msg; out.className = "live-check hint " + cls; }
      });
      var asked = questions.filter(function (q) { total += q.value.trim().length; return q.value.trim(); }).length;
      var qOut = document.getElementById("questions-check");
      if (qOut) {
        var qmsg = asked ? "" : "Add at least one discussion question.";
        if (total > maxTotal) qmsg = (qmsg ? qmsg + " " : "") + "The review has " + total + " characters; the limit is " + maxTotal + ".";
        qOut.textContent = qmsg;
        qOut.className = "live-check hint " + (qmsg ? "warn" : "");
      }
    }

    function save() {
      if (!autosaveOn || conflict || inFlight) return;
      var data = payload();
      var body = JSON.stringify(data);
      if (body === lastSent) return;
      data.version = versionInput && versionInput.value ? versionInput.value : null;
      inFlight = true;
      showStatus("Saving…");
      fetch(form.dataset.autosaveUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.value : "" },
        body: JSON.stringify(data)
      }).then(function (response) {
        return response.json().then(function (json) { return { status: response.status, json: json }; });
      }).then(function (result) {
        inFlight = false;
        if (result.json.ok) {
          lastSent = body;
          if (body === JSON.stringify(payload())) dropDraft();
          if (versionInput) versionInput.value = result.json.version;
          // "clean" only when what the server has is what the page shows.
          form.dataset.dirty = JSON.stringify(payload()) === lastSent ? "no" : "yes";
          showStatus("Last saved " + result.json.saved_text + ".");
        } else {
          if (result.status === 409) conflict = true;
          showStatus(result.json.error || "Not saved.", true);
        }
      }).catch(function () {
        inFlight = false;
        showStatus("Not saved: the server could not be reached. Your text is still here; it will be saved when the connection is back.", true);
      });
    }

    function schedule() {
      form.dataset.dirty = "yes";
      keepDraft();
      check();
      if (timer) clearTimeout(timer);
      timer = setTimeout(save, 2000);
    }

    lastSent = JSON.stringify(payload());
    offerDraft();
    form.addEventListener("submit", keepDraft);
    textareas.concat(questions).forEach(function (el) {
      el.addEventListener("input", schedule);
      el.addEventListener("blur", save);
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") save();
    });
    setInterval(save, 10000);
    check();

    // Preview without reloading: ask the server to render (and sanitize) each section.
    var previewButton = form.querySelector("input[name=preview]");
    if (previewButton) {
      previewButton.addEventListener("click", function (event) {
        event.preventDefault();
        textareas.forEach(function (t) {
          var box = document.getElementById("preview-" + t.dataset.section);
          if (!box) {
            box = document.createElement("div");
            box.id = "preview-" + t.dataset.section;
            box.className = "preview card";
            t.parentNode.appendChild(box);
          }
          fetch(form.dataset.previewUrl, {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.value : "" },
            body: JSON.stringify({ text: t.value })
          }).then(function (r) { return r.json(); }).then(function (json) {
            // The server returns HTML sanitized against an allow-list (nh3).
            box.innerHTML = json.html || "";
          });
        });
      });
    }
  }

  function setupReading() {
    var articles = Array.prototype.slice.call(document.querySelectorAll("article.reading"));
    if (!articles.length) return;
    // Start from the review the address names (a link from another page of the list).
    var current = articles.findIndex(function (a) { return "#" + a.id === location.hash; });
    if (current >= 0) articles[current].classList.add("current");
    function go(index) {
      if (index < 0 || index >= articles.length) {
        // Past either end of the page: the review's own link to the next or previous page.
        var edge = articles[index < 0 ? 0 : articles.length - 1];
        var link = edge.querySelector(index < 0 ? "a[rel=prev]" : "a[rel=next]");
        if (link && link.search !== location.search) location.href = link.href;
        return;
      }
      if (current >= 0) articles[current].classList.remove("current");
      current = index;
      articles[current].classList.add("current");
      articles[current].scrollIntoView({ block: "start" });
      history.replaceState(null, "", "#" + articles[current].id);
    }
    document.addEventListener("keydown", function (event) {
      var tag = (event.target.tagName || "").toLowerCase();
      if (tag === "input" || tag === "textarea" || tag === "select" || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "j") go(current + 1);
      else if (event.key === "k") go(current - 1);
    });
  }

  var form = document.getElementById("review-form");
  if (form) setupEditor(form);
  setupReading();
})();
