// The workspace: wires the socket to the state and the views, follows the address (history API),
// and handles the composer and the keyboard. One socket carries every room, so switching rooms
// never reloads the page.
import * as attention from "./attention.js";
import * as conversation from "./conversation.js";
import * as people from "./people.js";
import { MentionAutocomplete, mentionsMe } from "./rich.js";
import { renderSidebar, neighbour, onRoomClick } from "./sidebar.js";
import { connectChat } from "./socket.js";
import {
  firstSeq,
  historyMerged,
  messageNoted,
  pageData as data,
  readMoved,
  reattach,
  roomUpsert,
  roomsReplace,
  state,
  totalUnread,
} from "./state.js";
import { formatTime } from "./time.js";
import * as uploads from "./uploads.js";

const root = document.querySelector("[data-workspace]");
const maxLength = Number(root.dataset.messageMaxLength);
const pageSize = Number(root.dataset.historyPage);
const composer = root.querySelector("[data-composer]");
const input = root.querySelector("[data-composer-input]");
const counter = root.querySelector("[data-counter]");
const composerError = root.querySelector("[data-composer-error]");
const replyBar = root.querySelector("[data-reply]");
const HOME_URL = root.querySelector("[data-home-link]").getAttribute("href");

// Errors after which the same frame is sent again (after retry_after seconds).
const RETRYABLE = new Set(["rate_limited", "unavailable", "overloaded"]);
const LOST = {
  left: "You left this room.",
  deleted: "This room was deleted.",
  removed: "You were removed from this room.",
};

state.me = data.me;
let connectedOnce = false;
let signedOut = false;
let readTimer = null;
let roomsTimer = null;
let lastTypingSent = 0;

function send(frame) {
  socket.send(frame);
}

// A pending message as its `send` frame (the first time, and every time it is sent again).
function sendPending(room, clientId, pending) {
  send({
    type: "send",
    room: room.id,
    body: pending.body,
    client_id: clientId,
    attachments: pending.attachments.map((attachment) => attachment.id),
    reply_to: pending.replyTo,
  });
}

// Ask the server for every room's summary (after a reconnect, or when a count or preview cannot
// be worked out here); a burst of reasons asks once.
function refreshRooms() {
  clearTimeout(roomsTimer);
  roomsTimer = setTimeout(() => send({ type: "rooms" }), 200);
}

function openRoomObject() {
  return state.rooms.get(state.openId) || null;
}

function updateAttention() {
  renderSidebar();
  people.showPresence();
  attention.showUnread(totalUnread());
}

// --- Reading -----------------------------------------------------------------------------

function visibleRoom() {
  const room = openRoomObject();
  if (!room || document.hidden || !room.loaded || room.detached) return null;
  return room;
}

// The open room, shown to a person looking at it, is read up to its last message.
function markRead() {
  const room = visibleRoom();
  if (!room || room.last_seq <= room.last_read_seq) return;
  readMoved(room, room.last_seq);
  updateAttention();
  if (readTimer) return;
  readTimer = setTimeout(flushRead, 500);
}

function flushRead() {
  clearTimeout(readTimer);
  readTimer = null;
  for (const room of state.rooms.values()) {
    if (room.readSent < room.last_read_seq) {
      room.readSent = room.last_read_seq;
      send({ type: "read", room: room.id, seq: room.last_read_seq });
    }
  }
}

// --- The stream of each room -------------------------------------------------------------

function requestSync(room) {
  if (room.syncing) return;
  room.syncing = true;
  send({ type: "sync", room: room.id, after: room.pos });
}

function requestHistory(room, kind, extra = {}) {
  if (room.awaiting) return;
  room.awaiting = kind;
  send({ type: "history", room: room.id, limit: pageSize, ...extra });
}

// The next event of a room's stream is applied; a repeat is ignored; a gap asks for what is missing.
function inOrder(room, pos) {
  if (pos <= room.pos) return false;
  if (pos > room.pos + 1) {
    requestSync(room);
    return false;
  }
  room.pos = pos;
  return true;
}

const MEMBER_CHANGES = {
  "member.joined": "joined",
  "member.left": "left",
  "member.removed": "was removed",
};

function applyEvent(room, event) {
  if (event.message) applyMessage(room, event.message);
  else if (event.type in MEMBER_CHANGES) applyMemberChange(room, event);
}

function applyMessage(room, message) {
  const isNew = message.seq > room.last_seq;
  const confirmed = room.pending.delete(message.client_id);
  if (messageNoted(room, message, { isNew })) refreshRooms();
  if (room.id === state.openId && room.messages.has(message.seq)) {
    conversation.upsertMessage(message);
  } else if (room.id === state.openId && confirmed) {
    conversation.removePending(message.client_id);
  }
  if (!isNew) followQuotes(room, message);
  if (isNew) {
    people.messageArrived(room.id, message);
    const mentioned = { ...message, mentions_me: mentionsMe(message, state.me.id) };
    attention.notify({ room, message: mentioned, me: state.me, onClick: () => openRoom(room.id) });
  }
  markRead();
  updateAttention();
}

// The replies kept here quote the message as it is now: its edit or deletion redraws them. The
// excerpt is the server's (white space collapsed, 140 characters at most).
function followQuotes(room, original) {
  let excerpt = original.deleted ? "" : original.body.split(/\s+/).filter(Boolean).join(" ");
  if (excerpt.length > 140) excerpt = `${excerpt.slice(0, 139)}…`;
  for (const message of room.messages.values()) {
    if (message.reply_to?.id !== original.id) continue;
    message.reply_to = { ...message.reply_to, excerpt, deleted: Boolean(original.deleted) };
    if (room.id === state.openId) conversation.upsertMessage(message);
  }
}

function applyMemberChange(room, event) {
  if (room.members) {
    const before = room.members.length;
    room.members = room.members.filter((member) => member.id !== event.user.id);
    if (event.type === "member.joined") {
      if (room.members.length === before) room.memberCount += 1;
      room.members.push({ ...event.user, role: "member" });
    } else {
      room.memberCount -= 1;
    }
  }
  if (room.id === state.openId) {
    conversation.showMembers(room);
    conversation.memberEvent(`${event.user.display_name} ${MEMBER_CHANGES[event.type]}.`);
  }
}

// A room the user no longer belongs to: say so if it is open, and drop it from the list.
function loseRoom(roomId, reason) {
  const room = state.rooms.get(roomId);
  if (!room) return;
  state.rooms.delete(roomId);
  if (room.kind === "public" && reason !== "deleted") {
    state.publicRooms.set(room.id, { id: room.id, kind: room.kind, name: room.name, slug: room.slug, url: room.url });
  }
  if (roomId === state.openId) {
    conversation.showLost(LOST[reason] || LOST.removed);
    setComposerEnabled(false);
  }
  updateAttention();
}

// --- Frames --------------------------------------------------------------------------------

// After a (re)connect: catch up on what changed while away, resend what is unconfirmed.
function onHello(hello) {
  for (const room of state.rooms.values()) {
    room.syncing = false;
    room.awaiting = null;
  }
  const { ahead, gone } = roomsReplace(hello.rooms);
  for (const id of gone) loseRoom(id);
  for (const id of ahead) requestSync(state.rooms.get(id));
  for (const room of state.rooms.values()) {
    for (const [clientId, pending] of room.pending) sendPending(room, clientId, pending);
  }
  if (connectedOnce) refreshRooms(); // the public rooms may have changed while away
  connectedOnce = true;
  const room = openRoomObject();
  if (room && !room.loaded) requestHistory(room, "latest");
  people.connected();
  markRead();
  updateAttention();
}

function onFrame(frame) {
  const room = frame.room !== undefined ? state.rooms.get(frame.room) : null;
  if (frame.pos !== undefined && frame.type !== "sync") {
    if (room && inOrder(room, frame.pos)) applyEvent(room, frame);
    return;
  }
  if (people.onFrame(frame)) return;
  switch (frame.type) {
    case "room.stale":
      // The server may have failed to carry something of this room to us: catch up.
      if (room) requestSync(room);
      break;
    case "sync":
      if (!room) break;
      room.syncing = false;
      for (const event of frame.events) {
        if (event.pos > room.pos) applyEvent(room, event);
      }
      room.pos = Math.max(room.pos, frame.last_pos);
      if (frame.has_more) requestSync(room);
      break;
    case "history":
      if (room) onHistory(room, frame);
      break;
    case "members":
      if (!room) break;
      room.members = frame.members;
      room.memberCount = frame.count;
      if (room.id === state.openId) conversation.showMembers(room);
      break;
    case "read":
      if (!room) break;
      if (readMoved(room, frame.seq)) refreshRooms();
      room.readSent = Math.max(room.readSent, frame.seq);
      updateAttention();
      break;
    case "rooms":
      onRooms(frame);
      break;
    case "room.added":
      roomUpsert(frame.room);
      state.publicRooms.delete(frame.room.id);
      updateAttention();
      break;
    case "room.removed":
      loseRoom(frame.room, frame.reason);
      break;
    case "public_room.added":
      if (!state.rooms.has(frame.room.id)) state.publicRooms.set(frame.room.id, frame.room);
      updateAttention();
      break;
    case "public_room.removed":
      state.publicRooms.delete(frame.room);
      updateAttention();
      break;
    case "error":
      onError(frame);
      break;
  }
}

function onRooms(frame) {
  const { ahead, gone } = roomsReplace(frame.rooms);
  for (const id of gone) loseRoom(id);
  for (const id of ahead) requestSync(state.rooms.get(id));
  state.publicRooms = new Map(frame.public_rooms.map((room) => [room.id, room]));
  updateAttention();
}

function onHistory(room, frame) {
  const kind = room.awaiting || "older";
  room.awaiting = null;
  historyMerged(room, frame, kind);
  if (room.id !== state.openId) return;
  if (kind === "older") conversation.olderLoaded(room);
  else {
    room.scrollTop = null;
    conversation.show(room, { at: kind === "around" ? frame.around : null });
  }
  markRead();
}

function onError(frame) {
  const room = [...state.rooms.values()].find((r) => r.pending.has(frame.client_id));
  if (frame.client_id && room) {
    const pending = room.pending.get(frame.client_id);
    if (RETRYABLE.has(frame.code)) {
      pending.failed = frame.detail;
      if (room.id === state.openId) conversation.pendingState(frame.client_id, { failed: frame.detail });
      setTimeout(() => resend(room, frame.client_id), (frame.retry_after || 1) * 1000);
    } else {
      // Refused for good: the text goes back to the composer, nothing is lost.
      room.pending.delete(frame.client_id);
      room.draft = [pending.body, room.draft].filter(Boolean).join("\n");
      if (room.id === state.openId) {
        conversation.removePending(frame.client_id);
        input.value = room.draft;
        uploads.restore(pending.attachments);
        showComposerError(frame.detail);
      }
    }
  } else if (frame.code === "unavailable") {
    // A frame met a server fault: whatever it was about, catch up once the server is back.
    setTimeout(() => {
      for (const r of state.rooms.values()) {
        r.syncing = false;
        requestSync(r);
      }
    }, (frame.retry_after || 1) * 1000);
  } else if (frame.code !== "unauthenticated") {
    conversation.showNotice(frame.detail);
  }
}

function resend(room, clientId) {
  const pending = room.pending.get(clientId);
  if (!pending || signedOut) return;
  pending.failed = null;
  if (room.id === state.openId) conversation.pendingState(clientId);
  sendPending(room, clientId, pending);
}

// Signed out here or in another tab: nothing more can be sent; unsent text goes back to drafts.
function onSignedOut() {
  signedOut = true;
  for (const room of state.rooms.values()) {
    const texts = [...room.pending.values()].map((pending) => pending.body);
    if (room.id === state.openId) room.draft = input.value;
    room.draft = [...texts, room.draft].filter(Boolean).join("\n");
    for (const clientId of room.pending.keys()) {
      if (room.id === state.openId) conversation.removePending(clientId);
    }
    room.pending.clear();
  }
  const room = openRoomObject();
  if (room) {
    input.value = room.draft;
    conversation.showNotice("You were signed out. Sign in again to go on; your unsent text is kept in the message box.");
  }
  setComposerEnabled(false);
}

// --- Rooms and the address -----------------------------------------------------------------

function saveDraft() {
  const room = openRoomObject();
  if (room && composer) {
    room.draft = input.value;
    conversation.rememberScroll(room);
  }
}

function openRoom(roomId, { push = true, at = null } = {}) {
  const room = state.rooms.get(roomId);
  if (!room) return;
  if (!composer) {
    location.assign(room.url); // a visitor's preview page has no composer: load the room
    return;
  }
  flushRead();
  saveDraft();
  if (roomId !== state.openId) uploads.clear(); // uploads belong to the room they went to
  state.openId = roomId;
  if (push) history.pushState({ room: roomId }, "", room.url);
  root.dataset.view = "conversation";
  attention.setTitle(`${room.name} · Parley`);
  if (at !== null) {
    room.loaded = false;
    requestHistory(room, "around", { around: at });
  } else if (!room.loaded || room.detached) {
    if (room.detached) reattach(room);
    requestHistory(room, "latest");
  }
  if (room.members === null) send({ type: "members", room: room.id });
  conversation.show(room);
  people.roomShown(room);
  setComposerEnabled(!signedOut);
  input.value = room.draft;
  input.placeholder = `Message ${room.name}`;
  showReplyBar(room);
  updateCounter();
  hideComposerError();
  input.focus();
  markRead();
  updateAttention();
}

function showList({ push = true } = {}) {
  flushRead();
  saveDraft();
  state.openId = null;
  if (push) history.pushState({ room: null }, "", HOME_URL);
  root.dataset.view = "list";
  conversation.showHome();
  attention.setTitle("Chats · Parley");
  updateAttention();
}

function roomAtAddress() {
  const path = decodeURI(location.pathname);
  return [...state.rooms.values()].find((room) => room.url === path) || null;
}

window.addEventListener("popstate", () => {
  const room = roomAtAddress();
  const at = Number(new URLSearchParams(location.search).get("at")) || null;
  if (room) openRoom(room.id, { push: false, at });
  else if (location.pathname === HOME_URL && !location.search) showList({ push: false });
  else location.reload();
});

// --- The composer ----------------------------------------------------------------------------

function setComposerEnabled(enabled) {
  if (!composer) return;
  input.disabled = !enabled;
  composer.querySelector("button[type=submit]").disabled = !enabled;
}

function length(text) {
  return [...text.trim()].length; // characters as the server counts them, not UTF-16 units
}

// Near the limit, how many characters are left (or how many too many).
function updateCounter() {
  const left = maxLength - length(input.value);
  counter.hidden = left > maxLength / 10;
  counter.textContent = left >= 0 ? `${left} characters left` : `${-left} characters too many`;
  counter.classList.toggle("over", left < 0);
  if (left >= 0) hideComposerError();
}

// "Replying to …" above the composer, while a reply is being written in the room.
function showReplyBar(room) {
  if (!replyBar) return;
  const reply = room?.replyTo;
  replyBar.hidden = !reply;
  if (!reply) return;
  const excerpt = reply.body.split(/\s+/).filter(Boolean).join(" ").slice(0, 140);
  replyBar.querySelector("[data-reply-text]").textContent =
    `Replying to ${reply.author.display_name}: ${excerpt}`;
}

function showComposerError(text) {
  composerError.textContent = text;
  composerError.hidden = false;
  input.setAttribute("aria-invalid", "true");
}

function hideComposerError() {
  composerError.hidden = true;
  input.removeAttribute("aria-invalid");
}

// From a window around an older message (?at=<seq>) back to the latest messages.
function showLatest(room) {
  history.replaceState({ room: room.id }, "", room.url);
  reattach(room);
  requestHistory(room, "latest");
}

function sendComposer() {
  const room = openRoomObject();
  const body = input.value.trim();
  const attachments = uploads.ready();
  if (!room || !(body || attachments.length) || signedOut || input.disabled) return;
  if (uploads.busy()) {
    showComposerError("Wait until the files are uploaded, then send.");
    return;
  }
  if (length(body) > maxLength) {
    showComposerError(
      `A message is at most ${maxLength} characters; this one has ${length(body)}. Shorten it or split it in two.`,
    );
    return;
  }
  if (room.detached) showLatest(room); // what one sends goes below the latest messages
  const clientId = crypto.randomUUID();
  const replyTo = room.replyTo?.id ?? null;
  const pending = { body, attachments, created_at: new Date().toISOString(), failed: null, replyTo };
  room.pending.set(clientId, pending);
  conversation.addPending(clientId, pending);
  sendPending(room, clientId, pending);
  uploads.clear();
  hideComposerError();
  lastTypingSent = 0; // the next keystroke says "typing" again, at once
  room.replyTo = null;
  showReplyBar(room);
  input.value = "";
  room.draft = "";
  input.style.height = "";
  updateCounter();
}

if (composer) {
  uploads.init({
    form: composer,
    dropZone: root.querySelector("[data-room-pane]"),
    currentRoom: () => state.openId,
  });
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    sendComposer();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendComposer();
    } else if (event.key === "ArrowUp" && !input.value && !event.altKey) {
      const mine = conversation.lastOwnMessage();
      if (mine) {
        event.preventDefault();
        conversation.startEdit(mine);
      }
    }
  });
  input.addEventListener("input", () => {
    input.style.height = "";
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
    const room = openRoomObject();
    if (room) room.draft = input.value;
    updateCounter();
    const now = Date.now();
    if (room && now - lastTypingSent > 3000 && socket.connected) {
      lastTypingSent = now;
      send({ type: "typing", room: room.id });
    }
  });
}

// --- Keyboard ----------------------------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
  const next = neighbour(event.key === "ArrowUp" ? -1 : 1);
  if (next) {
    event.preventDefault();
    openRoom(next.id);
  }
});

// --- Start -------------------------------------------------------------------------------------

conversation.init({
  maxLength,
  loadOlder() {
    const room = openRoomObject();
    if (room && room.hasMore) requestHistory(room, "older", { before: firstSeq(room) });
  },
  jumpToLatest() {
    const room = openRoomObject();
    if (!room) return;
    if (room.detached) showLatest(room);
    else {
      conversation.scrollToBottom();
      conversation.hideJump();
    }
  },
  editMessage(id, body) {
    send({ type: "edit", room: state.openId, id, body });
  },
  deleteMessage(id) {
    send({ type: "delete", room: state.openId, id });
  },
  editFinished() {
    input?.focus();
  },
  membersShown: people.membersShown,
  decorated: people.showReceipts,
  react(id, emoji, add) {
    send({ type: add ? "react" : "unreact", room: state.openId, id, emoji });
  },
  reply(message) {
    const room = openRoomObject();
    if (!room || !composer) return;
    room.replyTo = message;
    showReplyBar(room);
    input.focus();
  },
  // A reply's quote: the original if it is shown, else the room opened around it.
  jumpTo(reply) {
    if (!conversation.showMessageAt(reply.seq)) openRoom(state.openId, { at: reply.seq });
  },
});
people.init(send);

if (composer) {
  replyBar.querySelector("[data-reply-cancel]").addEventListener("click", () => {
    const room = openRoomObject();
    if (room) room.replyTo = null;
    showReplyBar(room);
    input.focus();
  });
  new MentionAutocomplete(input, {
    members: () => openRoomObject()?.members || [],
    myId: state.me.id,
  });
}

for (const dict of data.rooms) roomUpsert(dict);
state.publicRooms = new Map(data.public_rooms.map((room) => [room.id, room]));
onRoomClick((roomId) => openRoom(roomId));
for (const back of root.querySelectorAll("[data-back]")) {
  back.addEventListener("click", (event) => {
    if (!composer) return;
    event.preventDefault();
    showList();
  });
}
attention.initNotifyButton(root.querySelector("[data-notify-button]"));
for (const flash of document.querySelectorAll(".flash")) {
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "btn btn-small btn-ghost flash-dismiss";
  dismiss.textContent = "Dismiss";
  dismiss.setAttribute("aria-label", `Dismiss: ${flash.textContent.trim()}`);
  dismiss.addEventListener("click", () => flash.remove());
  flash.append(dismiss);
}
for (const time of root.querySelectorAll("time[data-message-time]")) {
  time.textContent = formatTime(new Date(time.dateTime));
}

const socket = connectChat({
  onFrame,
  onOpen: onHello,
  onSignedOut,
  statusElement: root.querySelector("[data-conn-status]"),
  sessionCheckUrl: root.dataset.sessionCheckUrl,
});

const open = data.open;
if (open && open.joined && state.rooms.has(open.room)) {
  const room = state.rooms.get(open.room);
  historyMerged(room, open, open.at ? "around" : "latest");
  room.members = open.members;
  room.memberCount = open.member_count;
  state.openId = room.id;
  history.replaceState({ room: room.id }, "", location.href);
  conversation.show(room, { at: open.at });
  input.placeholder = `Message ${room.name}`;
  input.focus();
}
document.addEventListener("visibilitychange", () => {
  markRead();
  if (document.hidden) flushRead();
});
window.addEventListener("pagehide", flushRead);
updateAttention();
