// The chat page: one room's event stream (messages, edits, deletions, members), each event
// applied exactly once and in order of its position (`pos`).
import { connectChat, formatLocalTimes } from "./socket.js";

const root = document.querySelector("[data-chat]");
const roomId = Number(root.dataset.roomId);
const list = root.querySelector("[data-messages]");
const scroller = root.querySelector("[data-scroller]");
const olderButton = root.querySelector("[data-load-older]");
const form = root.querySelector("[data-composer]");
const input = root.querySelector("[data-composer-input]");
const typingLine = root.querySelector("[data-typing]");
const notice = root.querySelector("[data-notice]");
const empty = root.querySelector("[data-empty]");

let lastSeq = Number(root.dataset.lastSeq);
let lastPos = Number(root.dataset.lastPos); // the last position of the room's stream applied
let firstSeq = Number(list.querySelector(".message")?.dataset.seq || lastSeq + 1);
let syncing = false;
let loadingOlder = false;
let removed = false;
const pending = new Map(); // client_id -> {element, body}
let typingTimer = null;
let lastTypingSent = 0;

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
}

const myId = Number(root.dataset.userId);
const canModerate = root.dataset.isOwner === "true" && root.dataset.isDirect !== "true";

function messageElement(message, { isPending = false } = {}) {
  const item = document.createElement("li");
  item.className = isPending ? "message pending" : "message";
  if (message.id) item.dataset.id = message.id;
  if (message.seq) item.dataset.seq = message.seq;
  item.dataset.clientId = message.client_id;
  item.dataset.authorId = message.author.id;
  const avatar = document.createElement("img");
  avatar.className = "avatar avatar-sm";
  avatar.alt = "";
  avatar.src = message.author.avatar_url;
  const content = document.createElement("div");
  content.className = "message-content";
  const meta = document.createElement("div");
  meta.className = "message-meta";
  const author = document.createElement("span");
  author.className = "message-author";
  author.textContent = message.author.display_name;
  const time = document.createElement("time");
  time.dateTime = message.created_at;
  time.dataset.localTime = "";
  meta.append(author, " ", time);
  const body = document.createElement("p");
  body.className = "message-body";
  content.append(meta, body);
  if (isPending) {
    const state = document.createElement("span");
    state.className = "message-state muted";
    state.textContent = "Sending…";
    content.append(state);
  }
  item.append(avatar, content);
  showText(item, message);
  formatLocalTimes(item);
  if (!isPending) addActions(item);
  return item;
}

// The body as text (never HTML), an "(edited)" mark, or the tombstone of a deleted message.
function showText(item, message) {
  item.querySelector(".message-body").textContent = message.deleted
    ? "This message was deleted."
    : message.body;
  item.classList.toggle("deleted", Boolean(message.deleted));
  const meta = item.querySelector(".message-meta");
  if (message.edited_at && !message.deleted && !meta.querySelector(".message-edited")) {
    const mark = document.createElement("span");
    mark.className = "message-edited muted";
    mark.textContent = "(edited)";
    meta.append(" ", mark);
  }
  if (message.deleted) item.querySelector(".message-actions")?.remove();
}

function actionButton(label, name, handler) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "btn btn-small btn-ghost";
  button.textContent = label;
  button.setAttribute("aria-label", name);
  button.addEventListener("click", handler);
  return button;
}

function addActions(item) {
  const mine = Number(item.dataset.authorId) === myId;
  if (item.classList.contains("deleted") || !(mine || canModerate) || !item.dataset.id) return;
  const actions = document.createElement("div");
  actions.className = "message-actions";
  const id = Number(item.dataset.id);
  if (mine) actions.append(actionButton("Edit", `Edit message ${id}`, () => startEdit(item)));
  // Deleting asks once more in place (no browser dialog): the button becomes "Delete for everyone".
  const remove = actionButton("Delete", `Delete message ${id}`, () => {
    if (remove.dataset.armed) {
      socket.send({ type: "delete", room: roomId, id });
      return;
    }
    remove.dataset.armed = "true";
    remove.textContent = "Delete for everyone";
    remove.setAttribute("aria-label", `Confirm deleting message ${id}`);
    remove.classList.add("btn-danger");
    setTimeout(() => {
      delete remove.dataset.armed;
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", `Delete message ${id}`);
      remove.classList.remove("btn-danger");
    }, 4000);
  });
  actions.append(remove);
  item.append(actions);
}

function startEdit(item) {
  if (item.querySelector(".message-edit")) return;
  const body = item.querySelector(".message-body");
  const editor = document.createElement("form");
  editor.className = "message-edit";
  const field = document.createElement("textarea");
  field.value = body.textContent;
  field.maxLength = 4000;
  field.setAttribute("aria-label", "Edit message");
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "btn btn-small btn-primary";
  save.textContent = "Save";
  const cancel = actionButton("Cancel", "Cancel editing", () => finish());
  editor.append(field, save, cancel);
  body.classList.add("hidden");
  body.after(editor);
  field.focus();
  function finish() {
    editor.remove();
    body.classList.remove("hidden");
  }
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = field.value.trim();
    if (text && text !== body.textContent) {
      socket.send({ type: "edit", room: roomId, id: Number(item.dataset.id), body: text });
    }
    finish();
  });
  field.addEventListener("keydown", (event) => {
    if (event.key === "Escape") finish();
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      editor.requestSubmit();
    }
  });
}

// A message's latest state: new ones are appended, shown ones updated, older ones left to history.
function applyMessage(message) {
  const item = list.querySelector(`.message[data-id="${message.id}"]`);
  if (item) showText(item, message);
  else if (message.seq > lastSeq) append(message);
}

function showNotice(text) {
  notice.textContent = text;
  notice.classList.remove("hidden");
}

function append(message) {
  const stick = nearBottom() || pending.has(message.client_id);
  const mine = pending.get(message.client_id);
  if (mine) {
    mine.element.remove();
    pending.delete(message.client_id);
  }
  list.append(messageElement(message));
  if (typingLine.dataset.userId === String(message.author.id)) typingLine.textContent = "";
  lastSeq = Math.max(lastSeq, message.seq);
  if (firstSeq > message.seq) firstSeq = message.seq;
  empty.classList.add("hidden");
  if (stick) scrollToBottom();
  markRead();
}

function requestSync() {
  if (syncing) return;
  syncing = true;
  socket.send({ type: "sync", room: roomId, after: lastPos });
}

let readTimer = null;
function markRead() {
  if (document.hidden || readTimer) return;
  readTimer = setTimeout(() => {
    readTimer = null;
    socket.send({ type: "read", room: roomId, seq: lastSeq });
  }, 1000);
}

function prependHistory(messages, hasMore) {
  const before = scroller.scrollHeight - scroller.scrollTop;
  const fragment = document.createDocumentFragment();
  for (const message of messages) {
    if (message.seq >= firstSeq) continue;
    fragment.append(messageElement(message));
  }
  list.prepend(fragment);
  if (messages.length) firstSeq = Math.min(firstSeq, messages[0].seq);
  scroller.scrollTop = scroller.scrollHeight - before;
  olderButton.classList.toggle("hidden", !hasMore);
  loadingOlder = false;
}

// Errors after which the same frame is sent again (after retry_after seconds).
const RETRYABLE = new Set(["rate_limited", "unavailable"]);

// The next event of the stream is applied; a repeat is ignored; a gap asks for what is missing.
function inOrder(pos) {
  if (pos <= lastPos) return false;
  if (pos > lastPos + 1) {
    requestSync();
    return false;
  }
  lastPos = pos;
  return true;
}

const MEMBER_CHANGES = {
  "member.joined": "joined",
  "member.left": "left",
  "member.removed": "was removed",
};

function applyEvent(event) {
  if (event.message) applyMessage(event.message);
  else if (event.type in MEMBER_CHANGES) showMemberChange(event);
}

function showMemberChange(event) {
  const item = document.createElement("li");
  item.className = "member-event muted";
  item.textContent = `${event.user.display_name} ${MEMBER_CHANGES[event.type]}.`;
  list.append(item);
  if (nearBottom()) scrollToBottom();
}

function onFrame(frame) {
  if (frame.room !== undefined && frame.room !== roomId && frame.type !== "room.added") return;
  if (frame.pos !== undefined && frame.type !== "sync") {
    if (inOrder(frame.pos)) applyEvent(frame);
    return;
  }
  switch (frame.type) {
    case "room.stale":
      // The server may have failed to carry something of this room to us: catch up.
      requestSync();
      break;
    case "sync":
      syncing = false;
      for (const event of frame.events) if (event.pos > lastPos) applyEvent(event);
      lastPos = Math.max(lastPos, frame.last_pos);
      if (frame.has_more) requestSync();
      break;
    case "history":
      prependHistory(frame.messages, frame.has_more);
      break;
    case "typing":
      typingLine.textContent = `${frame.display_name} is typing…`;
      typingLine.dataset.userId = frame.user;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => (typingLine.textContent = ""), 4000);
      break;
    case "room.removed":
      removed = true;
      showNotice("You are no longer a member of this room; new messages will not arrive here.");
      form.querySelector("button").disabled = true;
      input.disabled = true;
      for (const actions of list.querySelectorAll(".message-actions")) actions.remove();
      break;
    case "error":
      if (frame.client_id && pending.has(frame.client_id)) {
        const state = pending.get(frame.client_id).element.querySelector(".message-state");
        state.textContent = `Not sent: ${frame.detail}`;
        pending.get(frame.client_id).element.classList.add("failed");
        if (!RETRYABLE.has(frame.code)) pending.delete(frame.client_id);
        else setTimeout(() => resend(frame.client_id), (frame.retry_after || 1) * 1000);
      } else if (frame.code === "unavailable") {
        // A frame met a server fault: whatever it was about, catch up once the server is back.
        syncing = false;
        setTimeout(requestSync, (frame.retry_after || 1) * 1000);
      } else {
        showNotice(frame.detail);
      }
      break;
  }
}

function resend(clientId) {
  const item = pending.get(clientId);
  if (!item) return;
  item.element.classList.remove("failed");
  item.element.querySelector(".message-state").textContent = "Sending…";
  socket.send({ type: "send", room: roomId, body: item.body, client_id: clientId });
}

function onOpen(hello) {
  const room = hello.rooms.find((r) => r.id === roomId);
  if (!room) {
    if (!removed) onFrame({ type: "room.removed", room: roomId });
    return;
  }
  // After a (re)connect: fetch whatever arrived while we were away, resend what is unconfirmed.
  syncing = false;
  if (room.last_pos > lastPos) requestSync();
  for (const clientId of pending.keys()) resend(clientId);
  if (lastSeq) markRead(); // what the page showed on load: the page view itself marks nothing
}

const socket = connectChat({
  onFrame,
  onOpen,
  statusElement: root.querySelector("[data-conn-status]"),
});

function send() {
  const body = input.value.trim();
  if (!body || removed) return;
  const clientId = crypto.randomUUID();
  const element = messageElement(
    {
      client_id: clientId,
      body,
      created_at: new Date().toISOString(),
      author: JSON.parse(document.getElementById("me").textContent),
    },
    { isPending: true },
  );
  list.append(element);
  empty.classList.add("hidden");
  pending.set(clientId, { element, body });
  scrollToBottom();
  socket.send({ type: "send", room: roomId, body, client_id: clientId });
  input.value = "";
  input.style.height = "";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

input.addEventListener("input", () => {
  input.style.height = "";
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  const now = Date.now();
  if (now - lastTypingSent > 3000 && socket.connected) {
    lastTypingSent = now;
    socket.send({ type: "typing", room: roomId });
  }
});

olderButton.addEventListener("click", () => {
  if (loadingOlder) return;
  loadingOlder = true;
  socket.send({ type: "history", room: roomId, before: firstSeq, limit: 50 });
});

scroller.addEventListener("scroll", () => {
  if (scroller.scrollTop < 40 && !olderButton.classList.contains("hidden")) olderButton.click();
});

document.addEventListener("visibilitychange", markRead);
formatLocalTimes(root);
for (const item of list.querySelectorAll(".message")) addActions(item);
// On a phone the member list starts folded, so the conversation gets the screen.
if (matchMedia("(max-width: 760px)").matches) root.querySelector("[data-members]").open = false;
scrollToBottom();
