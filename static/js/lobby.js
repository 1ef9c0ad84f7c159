// The lobby: previews, unread counts and order of the user's chats stay current.
import { connectChat, formatLocalTimes } from "./socket.js";

const list = document.querySelector("[data-room-list]");

function onFrame(frame) {
  if (frame.type === "room.added") {
    location.reload();
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
