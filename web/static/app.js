// crmsync: small progressive enhancements; every page works without this file.
"use strict";

// Times are written in UTC; show them in the reader's own time zone.
function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (isNaN(when)) continue;
    el.title = el.textContent;
    const short = el.textContent.length <= 15;
    el.textContent = short
      ? when.toLocaleDateString(undefined, { year: "numeric", month: "2-digit", day: "2-digit" })
      : when.toLocaleString(undefined, {
          year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
        });
  }
}

// The status page refreshes itself while nobody is typing in it.
function autoRefresh() {
  const marker = document.querySelector("[data-refresh]");
  if (!marker) return;
  const seconds = Number(marker.dataset.refresh) || 15;
  setTimeout(() => {
    const busy = document.activeElement && document.activeElement.matches("input, textarea, select");
    if (!busy) location.reload(); else autoRefresh();
  }, seconds * 1000);
}

// "Test connection" without leaving the form (and without losing the typed password).
function testConnection() {
  const button = document.getElementById("test-connection");
  const result = document.getElementById("test-result");
  if (!button || !result) return;
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    const data = new FormData(button.form);
    data.set("action", "test");
    result.className = "test-result pending";
    result.textContent = "Connecting…";
    button.disabled = true;
    try {
      // not form.action: the buttons named "action" shadow that property
      const response = await fetch(button.form.getAttribute("action") || location.href, {
        method: "POST", body: data, headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      const answer = await response.json();
      result.className = "test-result " + (answer.ok ? "ok" : "failed");
      result.replaceChildren();
      const message = document.createElement("p");
      message.textContent = answer.message;
      result.append(message);
      if (answer.folders && answer.folders.length) {
        const list = document.createElement("ul");
        list.className = "folders";
        for (const name of answer.folders) {
          const item = document.createElement("li");
          item.textContent = name;
          list.append(item);
        }
        result.append(list);
      }
    } catch (error) {
      result.className = "test-result failed";
      result.textContent = "The test could not be run: " + error;
    } finally {
      button.disabled = false;
    }
  });
}

// Forms that revoke or delete something ask first (data-confirm holds the question).
function confirmForms() {
  document.addEventListener("submit", (event) => {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  autoRefresh();
  testConnection();
  confirmForms();
});
