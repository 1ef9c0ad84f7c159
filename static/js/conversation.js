// The open conversation: its header, messages (grouped by author, with day separators and a
// "New messages" marker), members, and the composer's counter. Rendering only: what to show comes
// from state.js, what to do from the handlers workspace.js gives.
import { EmojiPicker, mentionsMe, reactionsBar, renderBody, replyQuote } from "./rich.js";
import { messagesInOrder, pageData, state } from "./state.js";
import { showGlyph } from "./sidebar.js";
import { dayKey, dayLabel, formatTime } from "./time.js";
import { fileSize } from "./uploads.js";

const GROUP_WITHIN_MS = 5 * 60 * 1000;
const THUMBNAIL_SIZE = 480; // the server's bound on a thumbnail's sides

const root = document.querySelector("[data-workspace]");
const pane = root.querySelector("[data-room-pane]");
const homePane = root.querySelector("[data-home-pane]");
const scroller = pane.querySelector("[data-scroller]");
const list = pane.querySelector("[data-messages]");
const empty = pane.querySelector("[data-empty]");
const olderButton = pane.querySelector("[data-load-older]");
const jumpButton = pane.querySelector("[data-jump-latest]");
const notice = pane.querySelector("[data-notice]");
const memberList = pane.querySelector("[data-member-list]");
const { urls } = pageData;

let handlers = {};
let lost = false; // the open room was lost: what is shown stays, nothing more can be done
let markerSeq = null; // the read position when the room was opened: "New messages" below it
let highlightSeq = null;
const picker = new EmojiPicker(root.dataset.emojiUrl);

export function init(given) {
  handlers = given;
  // On a phone the member list starts folded, so the conversation gets the screen.
  if (matchMedia("(max-width: 760px)").matches) pane.querySelector("[data-members]").open = false;
  olderButton.addEventListener("click", () => handlers.loadOlder());
  jumpButton.addEventListener("click", () => handlers.jumpToLatest());
  let lastTop = 0;
  scroller.addEventListener("scroll", () => {
    // Only a person scrolling up near the top asks for older messages, not the page placing
    // the "New messages" marker at the top.
    const up = scroller.scrollTop < lastTop;
    lastTop = scroller.scrollTop;
    if (up && scroller.scrollTop < 40 && !olderButton.hidden) handlers.loadOlder();
    if (nearBottom() && !currentRoom()?.detached) jumpButton.hidden = true;
  });
}

function currentRoom() {
  return state.rooms.get(state.openId);
}

function clone(name) {
  return root.querySelector(`template[data-template="${name}"]`).content.firstElementChild.cloneNode(true);
}

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

export function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
}

function messageElement(message, { pending = false } = {}) {
  const item = clone("message");
  item.classList.toggle("pending", pending);
  if (message.id) item.dataset.id = message.id;
  else delete item.dataset.id;
  if (message.seq) item.dataset.seq = message.seq;
  else delete item.dataset.seq;
  item.dataset.clientId = message.client_id;
  item.dataset.authorId = message.author.id;
  item.dataset.createdAt = message.created_at;
  const avatar = item.querySelector("[data-message-avatar]");
  avatar.src = message.author.avatar_url;
  item.querySelector("[data-message-author]").textContent = message.author.display_name;
  const time = item.querySelector("[data-message-time]");
  time.dateTime = message.created_at;
  const date = new Date(message.created_at);
  time.textContent = formatTime(date);
  time.title = date.toLocaleString();
  if (pending) {
    const state = item.querySelector("[data-message-state]");
    state.hidden = false;
    state.textContent = "Sending…";
  }
  showText(item, message, { pending });
  item
    .querySelector("[data-message-attachments]")
    .replaceChildren(...(message.deleted ? [] : message.attachments || []).map(attachmentElement));
  if (!pending) addActions(item, message);
  return item;
}

// A picture as its thumbnail, opening full size; any other file as a card that downloads.
function attachmentElement(attachment) {
  if (attachment.kind === "image") {
    const item = clone("attachment-image");
    const link = item.querySelector("[data-attachment-link]");
    link.href = attachment.url;
    link.setAttribute("aria-label", `${attachment.name} (open full size)`);
    const image = item.querySelector("[data-attachment-thumbnail]");
    image.src = attachment.thumbnail_url;
    image.alt = attachment.name;
    // The thumbnail's own size, known before it loads, so the log does not jump.
    const scale = Math.min(1, THUMBNAIL_SIZE / Math.max(attachment.width, attachment.height));
    image.width = Math.round(attachment.width * scale);
    image.height = Math.round(attachment.height * scale);
    return item;
  }
  const item = clone("attachment-file");
  const link = item.querySelector("[data-attachment-link]");
  link.href = attachment.url;
  link.setAttribute("aria-label", `Download ${attachment.name}`);
  item.querySelector("[data-attachment-name]").textContent = attachment.name;
  item.querySelector("[data-attachment-meta]").textContent =
    `${fileSize(attachment.size)} · ${attachment.content_type.split(";")[0]}`;
  return item;
}

// A stored message as the server rendered it (its sanitised HTML, or the tombstone of a deleted
// one), with the quote of what it answers, its reactions and an "(edited)" mark; a pending one's
// text as text.
function showText(item, message, { pending = false } = {}) {
  const body = item.querySelector("[data-message-body]");
  item.dataset.body = message.body || "";
  if (pending) {
    body.classList.remove("formatted");
    body.textContent = message.body;
  } else {
    renderBody(body, message, state.me.id);
  }
  item.classList.toggle("deleted", Boolean(message.deleted));
  item.classList.toggle("mentions-me", !message.deleted && mentionsMe(message, state.me.id));
  item.querySelector("[data-message-edited]").textContent =
    message.edited_at && !message.deleted ? "(edited)" : "";
  item.querySelector(".reply-quote")?.remove();
  if (message.reply_to) body.before(replyQuote(message.reply_to, (reply) => handlers.jumpTo(reply)));
  showReactions(item, message, { pending });
  if (message.deleted) item.querySelector(".message-actions")?.remove();
}

function showReactions(item, message, { pending }) {
  // A keyboard user who just toggled a reaction keeps the focus on it when the bar is redrawn.
  const old = item.querySelector(".reactions");
  const focused = old?.contains(document.activeElement)
    ? document.activeElement.dataset.emoji || "add"
    : null;
  old?.remove();
  if (pending || message.deleted) return;
  const bar = reactionsBar(message, state.me.id, {
    canReact: !lost,
    onToggle: (emoji, add) => handlers.react(message.id, emoji, add),
    onPick: (opener) => picker.open(opener, (emoji) => handlers.react(message.id, emoji, true)),
  });
  item.querySelector("[data-message-body]").after(bar);
  if (focused) {
    const again = [...bar.querySelectorAll(".reaction")].find(
      (button) => (button.dataset.emoji || "add") === focused,
    );
    (again || bar.querySelector(".reaction-add"))?.focus();
  }
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

function canModerate() {
  const room = currentRoom();
  return room && room.role === "owner" && room.kind !== "direct";
}

function addActions(item, message) {
  const mine = message.author.id === state.me.id;
  if (message.deleted || !message.id || lost) return;
  const actions = document.createElement("div");
  actions.className = "message-actions";
  const id = message.id;
  item.append(actions);
  actions.append(actionButton("Reply", `Reply to message ${id}`, () => handlers.reply(message)));
  if (mine) actions.append(actionButton("Edit", `Edit message ${id}`, () => startEdit(item)));
  if (!(mine || canModerate())) return;
  // Deleting asks once more in place (no browser dialog): the button becomes "Delete for everyone".
  const remove = actionButton("Delete", `Delete message ${id}`, () => {
    if (remove.dataset.armed) {
      handlers.deleteMessage(id);
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
}

export function startEdit(item) {
  if (item.querySelector(".message-edit")) return;
  const body = item.querySelector("[data-message-body]");
  const editor = document.createElement("form");
  editor.className = "message-edit";
  const field = document.createElement("textarea");
  field.value = item.dataset.body;
  field.setAttribute("aria-label", "Edit message");
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "btn btn-small btn-primary";
  save.textContent = "Save";
  const cancel = actionButton("Cancel", "Cancel editing", () => finish());
  editor.append(field, save, cancel);
  body.hidden = true;
  body.after(editor);
  field.focus();
  function finish() {
    editor.remove();
    body.hidden = false;
    handlers.editFinished();
  }
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = field.value.trim();
    if (text.length > handlers.maxLength) {
      field.setCustomValidity(`A message is at most ${handlers.maxLength} characters.`);
      field.reportValidity();
      return;
    }
    if (text && text !== item.dataset.body) handlers.editMessage(Number(item.dataset.id), text);
    finish();
  });
  field.addEventListener("input", () => field.setCustomValidity(""));
  field.addEventListener("keydown", (event) => {
    if (event.key === "Escape") finish();
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      editor.requestSubmit();
    }
  });
}

// The last message of one's own that can still be edited, for ↑ in an empty composer.
export function lastOwnMessage() {
  const own = list.querySelectorAll(
    `.message[data-author-id="${state.me.id}"]:not(.deleted):not(.pending)`,
  );
  return own[own.length - 1] || null;
}

// Show a room: header, members, its kept messages (and pending ones after them).
export function show(room, { at = null } = {}) {
  homePane.hidden = true;
  pane.hidden = false;
  lost = false;
  pane.dataset.roomId = room.id;
  notice.hidden = true;
  pane.querySelector("[data-head-title]").textContent = room.name;
  nameConversation(pane.querySelector("[data-head-title]"));
  const avatar = pane.querySelector("[data-head-avatar]");
  const glyph = pane.querySelector("[data-head-glyph]");
  avatar.hidden = !room.avatar_url;
  glyph.hidden = Boolean(room.avatar_url);
  if (room.avatar_url) avatar.src = room.avatar_url;
  showGlyph(glyph, room.kind);
  showMembers(room);
  markerSeq = room.last_read_seq;
  highlightSeq = at;
  renderMessages(room);
  if (at !== null) {
    showMessageAt(at);
  } else if (room.scrollTop !== null) {
    scroller.scrollTop = room.scrollTop;
  } else {
    const marker = list.querySelector(".new-marker");
    if (marker) marker.scrollIntoView({ block: "start" });
    else scrollToBottom();
  }
  jumpButton.hidden = !room.detached;
}

// Bring the message with that seq into view and give it the focus (a reply's quote jumps here);
// false when it is not in the window shown.
export function showMessageAt(seq) {
  const target = list.querySelector(`.message[data-seq="${seq}"]:not(.pending)`);
  if (!target) return false;
  target.scrollIntoView({ block: "center" });
  target.tabIndex = -1;
  target.focus({ preventScroll: true });
  highlightSeq = seq;
  decorate();
  return true;
}

export function showHome() {
  pane.hidden = true;
  homePane.hidden = false;
  nameConversation(homePane.querySelector("[data-home-title]"));
}

// The conversation's region is named by the heading in sight (one element has the id).
function nameConversation(heading) {
  root.querySelector("#conversation-title")?.removeAttribute("id");
  heading.id = "conversation-title";
}

function kindLabel(room) {
  if (room.kind === "direct") return room.partner ? `@${room.partner.username}` : "";
  const count = room.members ? room.memberCount : null;
  const kind = room.kind === "private" ? "Private room" : "Public room";
  if (count === null) return kind;
  return `${kind} · ${count} member${count === 1 ? "" : "s"}`;
}

export function showMembers(room) {
  pane.querySelector("[data-head-subtitle]").textContent = kindLabel(room);
  pane.querySelector("[data-member-count]").textContent = room.members ? room.memberCount : "";
  const owner = room.role === "owner" && room.kind === "private";
  memberList.replaceChildren(
    ...(room.members || []).map((member) => {
      const item = clone("member");
      item.dataset.memberId = member.id;
      item.querySelector("[data-member-avatar]").src = member.avatar_url;
      item.querySelector("[data-member-name]").textContent = member.display_name;
      item.querySelector("[data-member-owner]").hidden =
        member.role !== "owner" || room.kind === "direct";
      const remove = item.querySelector("[data-member-remove]");
      remove.hidden = !owner || member.id === state.me.id;
      remove.action = urls.member_remove.replace("{room}", room.id).replace("{user}", member.id);
      remove.querySelector("button").setAttribute("aria-label", `Remove ${member.username}`);
      return item;
    }),
  );
  const invite = pane.querySelector("[data-invite-form]");
  invite.hidden = !owner;
  invite.action = urls.member_invite.replace("{room}", room.id);
  const leave = pane.querySelector("[data-leave-form]");
  leave.hidden = room.kind === "direct";
  leave.action = urls.room_leave.replace("{room}", room.id);
  handlers.membersShown?.(room);
}

function renderMessages(room) {
  const items = messagesInOrder(room).map((message) => messageElement(message));
  for (const [clientId, pending] of room.pending) items.push(pendingElement(clientId, pending));
  list.replaceChildren(...items);
  olderButton.hidden = !room.hasMore;
  decorate();
}

function pendingElement(clientId, pending) {
  const item = messageElement(
    {
      client_id: clientId,
      body: pending.body,
      attachments: pending.attachments,
      created_at: pending.created_at,
      author: state.me,
    },
    { pending: true },
  );
  if (pending.failed) showFailed(item, pending.failed);
  return item;
}

function showFailed(item, detail) {
  item.classList.add("failed");
  item.querySelector("[data-message-state]").textContent = `Not sent: ${detail}`;
}

// A message of the open room, new or changed: put in its place by seq (pending ones stay last).
export function upsertMessage(message) {
  const stick = nearBottom();
  const shown = list.querySelector(`.message[data-seq="${message.seq}"]:not(.pending)`);
  const item = messageElement(message);
  if (shown) {
    if (shown.querySelector(".message-edit")) showText(shown, message);
    else shown.replaceWith(item);
  } else {
    const pending = list.querySelector(`.message.pending[data-client-id="${message.client_id}"]`);
    const mine = Boolean(pending);
    pending?.remove();
    let after = null;
    for (const other of list.querySelectorAll(".message:not(.pending)")) {
      if (Number(other.dataset.seq) < message.seq) after = other;
      else break;
    }
    if (after) after.after(item);
    else list.prepend(item);
    decorate();
    if (stick || mine) scrollToBottom();
    else if (message.author.id !== state.me.id) jumpButton.hidden = false;
    return;
  }
  decorate();
}

export function addPending(clientId, pending) {
  list.append(pendingElement(clientId, pending));
  decorate();
  scrollToBottom();
}

export function pendingState(clientId, { failed = null } = {}) {
  const item = list.querySelector(`.message.pending[data-client-id="${clientId}"]`);
  if (!item) return;
  if (failed) showFailed(item, failed);
  else {
    item.classList.remove("failed");
    item.querySelector("[data-message-state]").textContent = "Sending…";
  }
}

export function removePending(clientId) {
  list.querySelector(`.message.pending[data-client-id="${clientId}"]`)?.remove();
  decorate();
}

// Day separators, author groups and the "New messages" marker, from the messages' order.
function decorate() {
  for (const extra of list.querySelectorAll(".day-separator, .new-marker")) extra.remove();
  let previous = null;
  let markerPlaced = false;
  for (const item of list.querySelectorAll(".message, .member-event")) {
    if (!item.classList.contains("message")) {
      previous = null;
      continue;
    }
    const date = new Date(item.dataset.createdAt);
    const seq = Number(item.dataset.seq);
    const day = dayKey(date);
    if (!previous || dayKey(new Date(previous.dataset.createdAt)) !== day) {
      const separator = document.createElement("li");
      // A plain item: a list may hold nothing else (axe-core's "list" rule), and its text reads.
      separator.className = "day-separator";
      separator.textContent = dayLabel(date);
      item.before(separator);
      previous = null;
    }
    const others = Number(item.dataset.authorId) !== state.me.id;
    let marker = false;
    if (!markerPlaced && markerSeq !== null && seq > markerSeq && others && !item.classList.contains("pending")) {
      const line = document.createElement("li");
      line.className = "new-marker";
      line.textContent = "New messages";
      item.before(line);
      markerPlaced = true;
      marker = true;
    }
    const grouped =
      previous &&
      !marker &&
      previous.dataset.authorId === item.dataset.authorId &&
      date - new Date(previous.dataset.createdAt) < GROUP_WITHIN_MS;
    item.classList.toggle("grouped", Boolean(grouped));
    item.classList.toggle("highlight", highlightSeq !== null && seq === highlightSeq);
    previous = item;
  }
  empty.hidden = list.querySelector(".message") !== null;
  handlers.decorated?.();
}

export function memberEvent(text) {
  const stick = nearBottom();
  const item = document.createElement("li");
  item.className = "member-event muted";
  item.textContent = text;
  list.append(item);
  if (stick) scrollToBottom();
}

export function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
}

// The room was lost (removed, left, deleted): say so; what was shown stays, but nothing more
// can be done with it.
export function showLost(text) {
  lost = true;
  showNotice(text);
  for (const actions of list.querySelectorAll(".message-actions, .reaction-add")) actions.remove();
  for (const reaction of list.querySelectorAll(".reaction")) reaction.disabled = true;
  olderButton.hidden = true;
  jumpButton.hidden = true;
  memberList.replaceChildren();
  pane.querySelector("[data-invite-form]").hidden = true;
  pane.querySelector("[data-leave-form]").hidden = true;
}

export function rememberScroll(room) {
  room.scrollTop = nearBottom() ? null : scroller.scrollTop;
}

export function olderLoaded(room) {
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  renderMessages(room);
  scroller.scrollTop = scroller.scrollHeight - fromBottom;
}

export function hideJump() {
  jumpButton.hidden = true;
}
