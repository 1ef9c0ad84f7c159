// Times as the reader's clock shows them, for server-rendered pages without the chat socket:
// the server writes UTC in <time data-local-time>, and this rewrites it in the browser's zone.
export function formatLocalTimes(root) {
  for (const el of root.querySelectorAll("time[data-local-time]")) {
    const date = new Date(el.dateTime);
    el.textContent = date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    el.title = date.toLocaleString();
  }
}
