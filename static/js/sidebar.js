// The sidebar: the user's rooms and direct chats (avatar, preview, time, unread and mention
// counts), most recently active first, and the public rooms they may join. Markup comes from the
// page's <template> elements, which the server renders from the same partials.
import { mentionsOf, pageData, roomsInOrder, state, unreadOf } from "./state.js";
import { formatListTime } from "./time.js";

const root = document.querySelector("[data-workspace]");
const list = root.querySelector("[data-room-list]");
const noRooms = root.querySelector("[data-no-rooms]");
const publicSection = root.querySelector("[data-public-section]");
const publicList = root.querySelector("[data-public-list]");
const { urls } = pageData;

function clone(name) {
  return root.querySelector(`template[data-template="${name}"]`).content.firstElementChild.cloneNode(true);
}

function fill(item, room) {
  item.dataset.roomId = room.id;
  const link = item.querySelector("[data-room-link]");
  link.href = room.url;
  if (room.id === state.openId) link.setAttribute("aria-current", "page");
  else link.removeAttribute("aria-current");
  const avatar = item.querySelector("[data-room-avatar]");
  const glyph = item.querySelector("[data-room-glyph]");
  avatar.hidden = !room.avatar_url;
  glyph.hidden = Boolean(room.avatar_url);
  if (room.avatar_url && avatar.getAttribute("src") !== room.avatar_url) avatar.src = room.avatar_url;
  showGlyph(glyph, room.kind);
  item.querySelector("[data-room-name]").textContent = room.name;
  const preview = room.preview;
  // A standing message without text carries files.
  item.querySelector("[data-room-last]").textContent = preview
    ? `${preview.author.display_name}: ${preview.body || "Shared a file"}`
    : "No messages yet";
  const time = item.querySelector("[data-room-time]");
  time.dateTime = preview ? preview.created_at : "";
  time.textContent = preview ? formatListTime(new Date(preview.created_at)) : "";
  const mentions = item.querySelector("[data-room-mentions]");
  const count = mentionsOf(room);
  mentions.hidden = count === 0;
  mentions.textContent = count > 0 ? `${count} mention${count === 1 ? "" : "s"}` : "";
  const unread = unreadOf(room);
  const badge = item.querySelector("[data-room-unread]");
  badge.hidden = unread === 0;
  const word = document.createElement("span");
  word.className = "visually-hidden";
  word.textContent = " unread";
  badge.replaceChildren(...(unread ? [String(unread), word] : []));
  item.classList.toggle("has-unread", unread > 0);
}

export function showGlyph(slot, kind) {
  const glyph = slot.querySelector("[data-glyph]");
  glyph.className = `room-glyph room-glyph-${kind}`;
  glyph.querySelector("[data-glyph-public]").hidden = kind === "private";
  glyph.querySelector("[data-glyph-private]").toggleAttribute("hidden", kind !== "private");
}

// The whole list, in order; items are reused so that focus stays where it was.
export function renderSidebar() {
  const items = new Map([...list.children].map((item) => [Number(item.dataset.roomId), item]));
  const rooms = roomsInOrder();
  rooms.forEach((room, index) => {
    const item = items.get(room.id) || clone("room-item");
    items.delete(room.id);
    fill(item, room);
    if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
  });
  for (const item of items.values()) item.remove();
  noRooms.hidden = rooms.length > 0;
  renderPublicRooms();
}

function renderPublicRooms() {
  const rooms = [...state.publicRooms.values()].sort((a, b) => a.name.localeCompare(b.name));
  const items = new Map([...publicList.children].map((i) => [Number(i.dataset.publicRoomId), i]));
  rooms.forEach((room, index) => {
    let item = items.get(room.id);
    items.delete(room.id);
    if (!item) {
      item = clone("public-room");
      item.dataset.publicRoomId = room.id;
      item.querySelector("[data-join-form]").action = urls.room_join.replace("{room}", room.id);
      item.querySelector("[data-public-room-link]").href = room.url;
      item.querySelector("[data-public-room-name]").textContent = room.name;
      item.querySelector("[data-join-button]").setAttribute("aria-label", `Join ${room.name}`);
    }
    if (publicList.children[index] !== item) publicList.insertBefore(item, publicList.children[index] || null);
  });
  for (const item of items.values()) item.remove();
  publicSection.hidden = rooms.length === 0;
}

// The room to open with Alt+↑/↓: the one above or below the open one in the list.
export function neighbour(step) {
  const rooms = roomsInOrder();
  const index = rooms.findIndex((room) => room.id === state.openId);
  if (!rooms.length) return null;
  if (index < 0) return rooms[step > 0 ? 0 : rooms.length - 1];
  return rooms[Math.min(rooms.length - 1, Math.max(0, index + step))];
}

export function onRoomClick(handler) {
  list.addEventListener("click", (event) => {
    const link = event.target.closest("[data-room-link]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    handler(Number(link.closest("[data-room-id]").dataset.roomId));
  });
}
