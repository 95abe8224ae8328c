// The live view follows the session without reloading. The page works without this file (the
// forms post and redirect); with it, the page polls live.json about once a second with the last
// ETag (an unchanged state answers 304 and costs a few indexed queries), counts the clock down
// locally between polls, and catches up with the whole state after a lost connection.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root) { return; }
  var jsonUrl = root.getAttribute("data-json-url");
  var POLL_MS = 750;           // a change reaches every view within about a second
  var MAX_BACKOFF_MS = 5000;
  var etag = null;
  var state = null;
  var receivedAt = 0;           // performance.now() when state.remaining_seconds was true
  var failures = 0;
  var renderedSegment = root.getAttribute("data-segment");
  var renderedControl = root.getAttribute("data-can-control");

  function byId(id) { return document.getElementById(id); }

  function setText(id, text) {
    var node = byId(id);
    if (node && node.textContent !== text) { node.textContent = text; }
  }

  function show(id, visible) {
    var node = byId(id);
    if (node) { node.hidden = !visible; }
  }

  function formatClock(seconds) {
    var over = seconds < 0;
    var left = Math.abs(seconds);
    var minutes = Math.floor(left / 60);
    var rest = left % 60;
    return (over ? "+" : "") + minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function remainingNow() {
    if (!state || state.remaining_seconds === null) { return null; }
    if (state.paused) { return state.remaining_seconds; }
    var passed = Math.floor((performance.now() - receivedAt) / 1000);
    return state.remaining_seconds - passed;
  }

  function tick() {
    var clock = byId("live-clock");
    var remaining = remainingNow();
    if (!clock) { return; }
    clock.textContent = remaining === null ? "" : formatClock(remaining);
    clock.classList.toggle("overtime", remaining !== null && remaining < 0);
  }

  function renderQuestions(questions) {
    var list = byId("live-questions");
    var template = byId("question-template");
    if (!list || !template) { return; }
    var existing = {};
    Array.prototype.forEach.call(list.querySelectorAll("li[data-question-id]"), function (item) {
      existing[item.getAttribute("data-question-id")] = item;
    });
    var empty = list.querySelector("li.empty");
    if (empty && questions.length) { empty.remove(); }
    questions.forEach(function (question) {
      var key = String(question.id);
      var item = existing[key];
      if (!item) {
        item = template.content.firstElementChild.cloneNode(true);
        item.setAttribute("data-question-id", key);
        Array.prototype.forEach.call(item.querySelectorAll("input[name=question_id]"), function (input) {
          input.value = key;
        });
      }
      delete existing[key];
      item.querySelector(".votes").textContent = String(question.votes);
      item.querySelector(".text").textContent = question.text;
      item.querySelector(".asked").textContent = question.asked > 1 ? "asked by " + question.asked : "";
      var asker = item.querySelector(".asker");
      if (asker) { asker.textContent = question.asker || ""; }
      var status = question.status === "open" ? "" : question.status +
        (question.credited ? " (" + question.credited + ")" : "");
      item.querySelector(".status").textContent = status;
      item.classList.toggle("handled", question.status !== "open");
      var mark = item.querySelector("form.mark");
      if (mark && question.status !== "open") { mark.remove(); }
      var vote = item.querySelector(".vote-button");
      if (vote) {
        vote.setAttribute("aria-pressed", question.voted ? "true" : "false");
        vote.textContent = question.voted ? "Voted" : "Upvote";
      }
      list.appendChild(item);   // appending in order moves each item into its ranked place
    });
    Object.keys(existing).forEach(function (key) { existing[key].remove(); });
  }

  function render(data) {
    state = data;
    receivedAt = performance.now();
    var started = data.segment !== null;
    show("live-waiting", !started);
    show("live-finished", data.finished);
    setText("live-role", data.role || "");
    setText("live-group", data.group || "");
    setText("live-presenters", (data.presenters || []).join(", "));
    setText("live-next", data.next || "nothing");
    show("live-paused", data.paused);
    var peer = byId("live-peer-link");
    if (peer && data.peer_rating_url) { peer.setAttribute("href", data.peer_rating_url); }
    show("live-peer", !!data.peer_rating_url);
    Array.prototype.forEach.call(document.querySelectorAll("input.expected-segment"), function (input) {
      input.value = started ? String(data.segment) : "";
    });
    Array.prototype.forEach.call(document.querySelectorAll("form.live-control"), function (form) {
      var action = form.getAttribute("data-action");
      if (action === "pause") { form.hidden = data.paused; }
      if (action === "resume") { form.hidden = !data.paused; }
    });
    renderQuestions(data.questions || []);
    tick();
    // Who may control, and which forms apply, change with the segment: the server renders those.
    var segment = started ? String(data.segment) : "";
    var control = data.can_control && root.getAttribute("data-projector") !== "yes" ? "yes" : "no";
    if ((control !== renderedControl || (segment === "") !== (renderedSegment === "") ||
         (data.finished && renderedSegment !== "" && document.querySelector(".live-control")))) {
      window.location.reload();
    }
  }

  function schedule() {
    var delay = failures ? Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, failures)) : POLL_MS;
    window.setTimeout(poll, delay);
  }

  function poll() {
    var headers = { "Accept": "application/json" };
    if (etag) { headers["If-None-Match"] = etag; }
    fetch(jsonUrl, { headers: headers, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 304) { failures = 0; return null; }
        if (!response.ok) { throw new Error("status " + response.status); }
        etag = response.headers.get("ETag");
        failures = 0;
        return response.json();
      })
      .then(function (data) { if (data) { render(data); } })
      .catch(function () {
        // Offline or the server restarting: keep counting locally; the next successful poll
        // (without the old ETag, so the whole state) brings the view up to date.
        failures += 1;
        etag = null;
      })
      .then(schedule);
  }

  // Controls, votes and marks: post in the background and poll at once, so the tapping phone
  // sees the result immediately; a refusal (stale segment, ...) is shown as the page would.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.closest || !form.closest("#live")) { return; }
    event.preventDefault();
    var data = new FormData(form);
    if (event.submitter && event.submitter.name) {
      data.append(event.submitter.name, event.submitter.value);
    }
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin",
                         headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (result) {
        if (!result.ok) { window.alert(result.message); }
        if (form.classList.contains("live-ask") && result.ok) { form.reset(); }
        if (!form.classList.contains("live-control") || result.ok) { etag = null; }
        if (form.getAttribute("action").indexOf("/live/start") !== -1) { window.location.reload(); }
      })
      .catch(function () { form.submit(); });
  });

  window.setInterval(tick, 250);
  poll();
}());
