// People around a conversation: presence (dots with words), who is typing, "Seen by …" read
// receipts, and profile cards. It keeps what the server said about people and renders it into
// the views conversation.js and sidebar.js drew; workspace.js routes the frames here.
import { state } from "./state.js";

// After this long without input the person counts as idle (the server is told; others see it).
const IDLE_AFTER_MS = 3 * 60 * 1000;
// A typist who sends no new `typing` frame for this long has stopped (clients send one every 3 s).
const TYPING_FOR_MS = 5000;
const PRESENCE_ASK_MAX = 100;
const WORDS = { online: "Online", idle: "Idle", offline: "Offline" };

const root = document.querySelector("[data-workspace]");
const typingLine = root.querySelector("[data-typing]");
const dialog = root.querySelector("[data-person-card]");
const presence = new Map(); // user id -> {status, last_seen}
const typists = new Map(); // room id -> Map(user id -> {name, timer})
const receipts = new Map(); // room id -> Map(user id -> seq), for rooms where they are shown
const asked = new Set(); // people whose presence was asked for on this connection
let send = () => {};
let active = true;
let lastInput = Date.now();
let cardFor = null;

export function init(sender) {
  send = sender;
  for (const kind of ["keydown", "pointerdown", "wheel", "touchstart"]) {
    document.addEventListener(kind, noteInput, { passive: true, capture: true });
  }
  setInterval(() => {
    if (active && Date.now() - lastInput > IDLE_AFTER_MS) tellActivity(false);
  }, 15000);
  setInterval(showPresence, 60000); // "last seen 5 minutes ago" grows older

  root.addEventListener("click", (event) => {
    const person = event.target.closest("[data-person]");
    if (!person || person.closest("[data-person-card]")) return;
    const id = Number(person.closest("[data-author-id]")?.dataset.authorId)
      || Number(person.closest("[data-member-id]")?.dataset.memberId)
      || Number(person.dataset.person);
    if (id) {
      event.preventDefault();
      openCard(id);
    }
  });
  dialog.querySelector("[data-card-close]").addEventListener("click", () => dialog.close());
}

function noteInput() {
  lastInput = Date.now();
  if (!active) tellActivity(true);
}

function tellActivity(isActive, extra = {}) {
  active = isActive;
  send({ type: "activity", state: isActive ? "active" : "idle", ...extra });
}

// A (re)connected socket: say whether the person is here, where their clock is, and ask
// about the people on screen.
export function connected() {
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  tellActivity(Date.now() - lastInput <= IDLE_AFTER_MS, timeZone ? { time_zone: timeZone } : {});
  asked.clear(); // changes made while away were not told: ask again about everyone shown
  receipts.clear();
  const room = state.rooms.get(state.openId);
  if (room) roomShown(room);
  showPresence();
}

// Ask about people on screen once per connection; after that, changes are told (or, for
// members of large rooms, asked again when the room is opened again).
function ask(userIds) {
  const ids = [...new Set(userIds)].filter((id) => id !== state.me.id && !asked.has(id));
  for (const id of ids) asked.add(id);
  for (let start = 0; start < ids.length; start += PRESENCE_ASK_MAX) {
    send({ type: "presence", users: ids.slice(start, start + PRESENCE_ASK_MAX) });
  }
}

// Frames about people; true when this module took the frame.
export function onFrame(frame) {
  switch (frame.type) {
    case "presence":
      for (const person of frame.users) presence.set(person.id, person);
      showPresence();
      return true;
    case "receipts":
      receipts.set(frame.room, new Map(frame.receipts.map((r) => [r.user, r.seq])));
      if (!frame.shown) receipts.delete(frame.room);
      if (frame.room === state.openId) showReceipts();
      return true;
    case "receipt": {
      const seen = receipts.get(frame.room);
      if (seen && (seen.get(frame.user) || 0) < frame.seq) seen.set(frame.user, frame.seq);
      if (frame.room === state.openId) showReceipts();
      return true;
    }
    case "typing":
      typing(frame);
      return true;
    case "card":
      showCard(frame.user);
      return true;
  }
  return false;
}

// --- Presence ---------------------------------------------------------------------------------

const RELATIVE = new Intl.RelativeTimeFormat([], { numeric: "auto" });

function lastSeenWords(iso) {
  const minutes = Math.round((Date.now() - new Date(iso)) / 60000);
  if (minutes < 1) return "last seen just now";
  if (minutes < 60) return `last seen ${RELATIVE.format(-minutes, "minute")}`;
  if (minutes < 24 * 60) return `last seen ${RELATIVE.format(-Math.round(minutes / 60), "hour")}`;
  return `last seen on ${new Date(iso).toLocaleDateString([], { day: "numeric", month: "long" })}`;
}

export function presenceWords(userId) {
  const known = presence.get(userId);
  if (!known) return null;
  if (known.status === "offline" && known.last_seen) {
    return `Offline, ${lastSeenWords(known.last_seen)}`;
  }
  return WORDS[known.status];
}

// A dot right after a person's name, whose words a screen reader reads (and a pointer shows).
function dot(name, userId) {
  const next = name.nextElementSibling;
  let mark = next?.classList.contains("presence") ? next : null;
  const words = presenceWords(userId);
  if (!words) {
    mark?.remove();
    return;
  }
  if (!mark) {
    mark = document.createElement("span");
    mark.className = "presence";
    const text = document.createElement("span");
    text.className = "visually-hidden";
    mark.append(text);
    name.after(mark);
  }
  mark.dataset.status = presence.get(userId).status;
  mark.title = words;
  mark.firstChild.textContent = `, ${words}`;
}

// Dots beside direct chats in the sidebar and beside the open room's members.
export function showPresence() {
  ask([...state.rooms.values()].map((room) => room.partner?.id).filter(Boolean));
  for (const item of root.querySelectorAll("[data-room-list] [data-room-id]")) {
    const room = state.rooms.get(Number(item.dataset.roomId));
    if (room?.partner) dot(item.querySelector("[data-room-name]"), room.partner.id);
  }
  for (const item of root.querySelectorAll("[data-member-list] [data-member-id]")) {
    dot(item.querySelector("[data-member-name]"), Number(item.dataset.memberId));
  }
  if (cardFor !== null && dialog.open) cardPresence(cardFor);
}

// --- The open room ------------------------------------------------------------------------------

// A room was opened (or its members arrived): ask who of them is around, and its receipts.
export function roomShown(room) {
  const headAvatar = root.querySelector("[data-head-avatar]");
  if (room.partner) headAvatar.dataset.person = room.partner.id;
  else delete headAvatar.dataset.person;
  if (room.members) {
    // Changes in large rooms are not told live: what is shown is asked for again.
    for (const member of room.members) asked.delete(member.id);
    ask(room.members.map((member) => member.id));
  }
  if (!receipts.has(room.id)) send({ type: "receipts", room: room.id });
  showTyping();
  showPresence();
  showReceipts();
}

export function membersShown(room) {
  if (room.members) ask(room.members.map((member) => member.id));
  showPresence();
  showReceipts();
}

// Under the latest message each member has read: their avatars, and words for screen readers.
export function showReceipts() {
  const list = root.querySelector("[data-messages]");
  for (const old of list.querySelectorAll(".seen-by")) old.remove();
  const room = state.rooms.get(state.openId);
  const seen = room && receipts.get(room.id);
  if (!seen || !room.members) return;
  const messages = [...list.querySelectorAll(".message[data-seq]:not(.pending)")];
  const readers = new Map(); // message element -> members who read up to it
  for (const member of room.members) {
    const seq = seen.get(member.id);
    if (member.id === state.me.id || !seq) continue;
    const upTo = messages.filter((item) => Number(item.dataset.seq) <= seq).pop();
    if (upTo) readers.set(upTo, [...(readers.get(upTo) || []), member]);
  }
  for (const [item, members] of readers) {
    const line = document.createElement("p");
    line.className = "seen-by";
    const words = document.createElement("span");
    words.className = "visually-hidden";
    words.textContent = `Seen by ${namesList(members.map((m) => m.display_name))}`;
    line.append(words);
    for (const member of members) {
      const avatar = document.createElement("img");
      avatar.className = "avatar avatar-xs";
      avatar.alt = "";
      avatar.src = member.avatar_url;
      avatar.title = `Seen by ${member.display_name}`;
      line.append(avatar);
    }
    item.querySelector(".message-content").append(line);
  }
}

function namesList(names) {
  if (names.length === 1) return names[0];
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

// --- Typing -------------------------------------------------------------------------------------

function typing(frame) {
  if (frame.user === state.me.id) return;
  const room = typists.get(frame.room) || new Map();
  typists.set(frame.room, room);
  clearTimeout(room.get(frame.user)?.timer);
  const timer = setTimeout(() => stopped(frame.room, frame.user), TYPING_FOR_MS);
  room.set(frame.user, { name: frame.display_name, timer });
  if (frame.room === state.openId) showTyping();
}

function stopped(roomId, userId) {
  const room = typists.get(roomId);
  if (!room?.has(userId)) return;
  clearTimeout(room.get(userId).timer);
  room.delete(userId);
  if (roomId === state.openId) showTyping();
}

// A message from someone ends their typing.
export function messageArrived(roomId, message) {
  stopped(roomId, message.author.id);
}

function showTyping() {
  const names = [...(typists.get(state.openId)?.values() || [])]
    .map((typist) => typist.name)
    .sort((a, b) => a.localeCompare(b));
  let words = "";
  if (names.length === 1) words = `${names[0]} is typing…`;
  else if (names.length === 2) words = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) words = "Several people are typing…";
  if (typingLine.textContent !== words) typingLine.textContent = words;
}

// --- Profile cards ------------------------------------------------------------------------------

export function openCard(userId) {
  cardFor = userId;
  send({ type: "card", user: userId });
}

function showCard(card) {
  if (card.id !== cardFor) return;
  presence.set(card.id, card.presence);
  const name = [card.first_name, card.last_name].filter(Boolean).join(" ") || card.username;
  dialog.setAttribute("aria-label", `Profile of ${card.display_name}`);
  const picture = dialog.querySelector("[data-card-avatar]");
  picture.src = card.avatar_url;
  picture.alt = `Picture of ${card.display_name}`;
  dialog.querySelector("[data-card-name]").textContent = name;
  dialog.querySelector("[data-card-username]").textContent = `@${card.username}`;
  cardPresence(card.id);
  const time = dialog.querySelector("[data-card-time]");
  time.hidden = !card.time_zone;
  if (card.time_zone) {
    const local = new Date().toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
      timeZone: card.time_zone,
    });
    time.textContent = `Local time ${local} (${card.time_zone.replaceAll("_", " ")})`;
  }
  const message = dialog.querySelector("[data-card-message]");
  message.hidden = card.id === state.me.id;
  message.action = card.direct_url;
  message.querySelector("button").setAttribute("aria-label", `Message ${card.display_name}`);
  if (!dialog.open) dialog.showModal();
}

function cardPresence(userId) {
  const line = dialog.querySelector("[data-card-presence]");
  line.textContent = presenceWords(userId) || "";
  line.dataset.status = presence.get(userId)?.status || "";
}
