// The workspace's state, apart from any rendering: the user's rooms with their summaries
// (preview, unread, read position), each room's position in its event stream, the messages kept
// while the page lives, the pending ones and the draft.
import { mentionsMe } from "./rich.js";

// What the server rendered the page with: the user, their rooms, the open room, form addresses.
export const pageData = JSON.parse(document.getElementById("workspace-data").textContent);

export const state = {
  me: null,
  rooms: new Map(), // id -> room
  publicRooms: new Map(), // id -> {id, name, url, ...}: public rooms the user may join
  openId: null,
};

function newRoom(dict) {
  return {
    ...dict,
    pos: dict.last_pos, // the last position of the room's stream applied here
    messages: new Map(), // seq -> message: the window of the conversation kept in memory
    loaded: false, // the window holds the latest messages (history was fetched)
    hasMore: false, // older messages exist before the window
    detached: false, // the window is around an older message (opened at ?at=<seq>)
    pending: new Map(), // client_id -> {body, attachments, created_at, failed}
    draft: "",
    members: null, // the first members (a large room's list is cut; memberCount says how many)
    memberCount: null,
    syncing: false,
    scrollTop: null,
    liveUnread: new Set(), // seqs of others' messages that arrived after the snapshot
    liveMentions: new Set(), // those of them that mention me or the room
    replyTo: null, // the message the composer answers in this room
    snapSeq: dict.last_seq, // unread was counted by the server up to this seq
    readSent: dict.last_read_seq, // the read position the server knows of
    countedFrom: dict.last_read_seq, // the read position `unread` was counted from
  };
}

// A room's summary from the server (hello, rooms, room.added): kept rooms keep their messages.
// True when the server's stream is ahead of what this page applied (the caller syncs).
export function roomUpsert(dict) {
  const room = state.rooms.get(dict.id);
  if (!room) {
    state.rooms.set(dict.id, newRoom(dict));
    return false;
  }
  const { last_pos: serverPos } = dict;
  Object.assign(room, dict, {
    pos: room.pos,
    snapSeq: dict.last_seq,
    countedFrom: dict.last_read_seq,
    readSent: Math.max(room.readSent, dict.last_read_seq),
    last_read_seq: Math.max(room.last_read_seq, dict.last_read_seq),
  });
  for (const seq of room.liveUnread) if (seq <= dict.last_seq) room.liveUnread.delete(seq);
  for (const seq of room.liveMentions) if (seq <= dict.last_seq) room.liveMentions.delete(seq);
  return serverPos > room.pos;
}

export function roomsReplace(dicts) {
  const ahead = [];
  const seen = new Set();
  for (const dict of dicts) {
    seen.add(dict.id);
    if (roomUpsert(dict)) ahead.push(dict.id);
  }
  const gone = [...state.rooms.keys()].filter((id) => !seen.has(id));
  return { ahead, gone };
}

export function unreadOf(room) {
  const base = room.last_read_seq >= room.snapSeq ? 0 : room.unread;
  let live = 0;
  for (const seq of room.liveUnread) if (seq > room.last_read_seq) live += 1;
  return base + live;
}

// Unread messages that mention me or the room: the server's count, then what arrived live.
export function mentionsOf(room) {
  const base = room.last_read_seq >= room.snapSeq ? 0 : room.mentions || 0;
  let live = 0;
  for (const seq of room.liveMentions) if (seq > room.last_read_seq) live += 1;
  return base + live;
}

export function totalUnread() {
  let total = 0;
  for (const room of state.rooms.values()) total += unreadOf(room);
  return total;
}

// The rooms, most recently active first (those never active last, as the server ordered them).
export function roomsInOrder() {
  const rooms = [...state.rooms.values()];
  return rooms
    .map((room, index) => ({ room, index }))
    .sort((a, b) => {
      const at = a.room.last_message_at || "";
      const bt = b.room.last_message_at || "";
      if (at !== bt) return at < bt ? 1 : -1;
      return a.index - b.index;
    })
    .map(({ room }) => room);
}

// A message stored or changed, as the stream says: the summary follows it (a deleted one stops
// counting and stops being the preview). Returns true when the summary needs the server's word
// (a deleted preview whose predecessor this page does not hold, an old unread one deleted).
export function messageNoted(room, message, { isNew }) {
  let refresh = false;
  const mine = message.author.id === state.me.id;
  if (isNew) {
    room.last_seq = Math.max(room.last_seq, message.seq);
    if (!room.last_message_at || message.created_at > room.last_message_at) {
      room.last_message_at = message.created_at;
    }
  }
  if (message.deleted) {
    room.liveMentions.delete(message.seq);
    if (room.liveUnread.has(message.seq)) room.liveUnread.delete(message.seq);
    else if (!mine && message.seq > room.last_read_seq && message.seq <= room.snapSeq) {
      refresh = true;
    }
    if (room.preview && room.preview.seq === message.seq) {
      const previous = latestStanding(room, message.seq);
      if (previous) room.preview = previewOf(previous);
      else refresh = true;
    }
  } else {
    if (!mine && message.seq > room.last_read_seq && message.seq > room.snapSeq) {
      room.liveUnread.add(message.seq);
      if (mentionsMe(message, state.me.id)) room.liveMentions.add(message.seq);
      else room.liveMentions.delete(message.seq);
    }
    if (!room.preview || message.seq >= room.preview.seq) room.preview = previewOf(message);
  }
  // Live messages are kept unless the window is around an older message (then only the shown
  // ones change); a room's first page of history is merged with those kept.
  if (!room.detached || room.messages.has(message.seq)) room.messages.set(message.seq, message);
  return refresh;
}

// The newest message before `seq` that still stands, if this page holds everything in between.
function latestStanding(room, seq) {
  for (let s = seq - 1; s > 0; s -= 1) {
    const message = room.messages.get(s);
    if (!message) return null;
    if (!message.deleted) return message;
  }
  return null;
}

function previewOf(message) {
  const { seq, author, body, created_at } = message;
  return { seq, author, body, created_at };
}

// The user's read position moved (here or in another tab). True when the count needs the
// server's word: read partly into what the server counted from an older position.
export function readMoved(room, seq) {
  room.last_read_seq = Math.max(room.last_read_seq, seq);
  return seq > room.countedFrom && seq < room.snapSeq && room.unread > 0;
}

// The messages of the window, oldest first.
export function messagesInOrder(room) {
  return [...room.messages.values()].sort((a, b) => a.seq - b.seq);
}

// A page of history: the latest page replaces the window (with what arrived live after it);
// an older page extends it; a page around a seq detaches it.
export function historyMerged(room, frame, kind) {
  const { messages } = frame;
  if (kind === "around") {
    room.messages = new Map(messages.map((m) => [m.seq, m]));
    room.detached = Boolean(frame.has_newer);
    room.loaded = true;
    room.hasMore = frame.has_more;
    return;
  }
  if (kind !== "older" || !room.loaded) {
    const newest = messages.length ? messages[messages.length - 1].seq : 0;
    const live = [...room.messages.values()].filter((m) => m.seq > newest);
    room.messages = new Map([...messages, ...live].map((m) => [m.seq, m]));
    room.detached = false;
    room.loaded = true;
  } else {
    for (const message of messages) {
      if (!room.messages.has(message.seq)) room.messages.set(message.seq, message);
    }
  }
  room.hasMore = frame.has_more;
}

// Leave a window around an older message for the latest messages (fetched next).
export function reattach(room) {
  room.detached = false;
  room.loaded = false;
  room.messages = new Map();
}

export function firstSeq(room) {
  let first = Infinity;
  for (const seq of room.messages.keys()) first = Math.min(first, seq);
  return first === Infinity ? null : first;
}
