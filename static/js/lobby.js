// The lobby: previews, unread counts and order of the user's chats stay current.
import { connectChat, formatLocalTimes } from "./socket.js";

let list = document.querySelector("[data-room-list]");

// A room was added (or may have missed a message): fetch the lobby again and swap in its list. Reloading the page instead
// would cancel a navigation the person may have just started (opening that very chat).
async function refreshRooms() {
  const response = await fetch(location.href, { headers: { Accept: "text/html" } });
  if (!response.ok) return;
  const fresh = new DOMParser()
    .parseFromString(await response.text(), "text/html")
    .querySelector("[data-room-list-wrap]");
  const current = document.querySelector("[data-room-list-wrap]");
  if (!fresh || !current) return;
  current.replaceWith(document.adoptNode(fresh));
  list = document.querySelector("[data-room-list]");
  formatLocalTimes(fresh);
}

function onFrame(frame) {
  // room.stale: the server may have failed to carry something.
  // An edit or deletion may change a preview; the page's own list is the truth.
  if (frame.type === "room.added" || frame.type === "room.stale" || frame.type === "message.updated") {
    refreshRooms();
    return;
  }
  if (frame.type !== "message" || !list) return;
  const item = list.querySelector(`[data-room-id="${frame.room}"]`);
  if (!item) return;
  const message = frame.message;
  item.querySelector("[data-room-last]").textContent =
    `${message.author.username}: ${message.body.slice(0, 80)}`;
  const unread = item.querySelector("[data-room-unread]");
  if (message.author.id !== myId) {
    unread.textContent = String(Number(unread.textContent || 0) + 1);
    unread.classList.remove("hidden");
  }
  let time = item.querySelector("time");
  if (!time) {
    time = document.createElement("time");
    time.className = "muted";
    time.dataset.localTime = "";
    item.querySelector(".room-meta").prepend(time);
  }
  time.dateTime = message.created_at;
  formatLocalTimes(item);
  list.prepend(item);
}

let myId = null;
connectChat({
  onFrame,
  onOpen: (hello) => (myId = hello.user.id),
  statusElement: document.querySelector("[data-conn-status]"),
});
formatLocalTimes(document);
