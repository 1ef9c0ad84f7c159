// Files on their way into a message: picked with the button, dropped on the conversation or
// pasted into the composer; each is uploaded at once (XMLHttpRequest, for its progress) to the
// open room and waits in the tray, with its bar, until the message is sent.

const root = document.querySelector("[data-workspace]");
const settings = JSON.parse(document.getElementById("workspace-data").textContent).uploads;

let tray = null;
let roomId = () => null;
const uploads = new Map(); // tray item -> {name, attachment, request, error}

function csrfToken() {
  const cookie = document.cookie.split("; ").find((entry) => entry.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}

export function fileSize(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KB", "MB", "GB"];
  let size = bytes / 1024;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${size.toFixed(1)} ${units[unit]}`;
}

export function init({ form, dropZone, currentRoom }) {
  tray = form.querySelector("[data-upload-tray]");
  roomId = currentRoom;
  const input = form.querySelector("[data-file-input]");
  form.querySelector("[data-attach]").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    add(input.files);
    input.value = "";
  });
  form.querySelector("[data-composer-input]").addEventListener("paste", (event) => {
    const files = event.clipboardData?.files;
    if (files && files.length) {
      event.preventDefault();
      add(files);
    }
  });
  dropZone.addEventListener("dragover", (event) => {
    if (!event.dataTransfer?.types.includes("Files")) return;
    event.preventDefault();
    dropZone.classList.add("dropping");
  });
  dropZone.addEventListener("dragleave", (event) => {
    if (!dropZone.contains(event.relatedTarget)) dropZone.classList.remove("dropping");
  });
  dropZone.addEventListener("drop", (event) => {
    dropZone.classList.remove("dropping");
    if (!event.dataTransfer?.files.length) return;
    event.preventDefault();
    add(event.dataTransfer.files);
  });
}

function add(files) {
  const room = roomId();
  if (room === null) return;
  for (const file of files) upload(file, room);
}

// A row of the tray for one file, with its bar and a button that takes it out again.
function trayItem(name, entry) {
  const item = root.querySelector('template[data-template="upload"]').content.firstElementChild.cloneNode(true);
  uploads.set(item, entry);
  item.querySelector("[data-upload-name]").textContent = name;
  item.querySelector("[data-upload-progress]").setAttribute("aria-label", `Uploading ${name}`);
  const remove = item.querySelector("[data-upload-remove]");
  remove.setAttribute("aria-label", `Remove ${name}`);
  remove.addEventListener("click", () => {
    entry.request?.abort();
    uploads.delete(item);
    item.remove();
    showTray();
  });
  tray.append(item);
  showTray();
  return item;
}

function uploaded(item, entry, attachment) {
  entry.attachment = attachment;
  const bar = item.querySelector("[data-upload-progress]");
  bar.value = 100;
  bar.setAttribute("aria-label", `${attachment.name} uploaded`);
  item.classList.add("done");
  item.querySelector("[data-upload-state]").textContent = "Ready";
}

function upload(file, room) {
  const entry = { attachment: null, request: null, error: null };
  const item = trayItem(file.name, entry);
  const bar = item.querySelector("[data-upload-progress]");
  if (uploads.size > settings.max_per_message) {
    fail(item, entry, `At most ${settings.max_per_message} files go with one message.`);
    return;
  }
  if (file.size > settings.max_bytes) {
    fail(item, entry, `Too large: a file is at most ${fileSize(settings.max_bytes)}.`);
    return;
  }
  const request = new XMLHttpRequest();
  entry.request = request;
  request.open("POST", settings.url.replace("{room}", room));
  request.setRequestHeader("X-CSRFToken", csrfToken());
  request.responseType = "json";
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
  });
  request.addEventListener("load", () => {
    entry.request = null;
    if (request.status === 201) uploaded(item, entry, request.response);
    else fail(item, entry, request.response?.detail || "The upload failed; try again.");
  });
  request.addEventListener("error", () => {
    entry.request = null;
    fail(item, entry, "The upload failed (no connection); try again.");
  });
  const form = new FormData();
  form.append("file", file);
  request.send(form);
}

function fail(item, entry, detail) {
  entry.error = detail;
  item.classList.add("failed");
  const state = item.querySelector("[data-upload-state]");
  state.textContent = detail;
  state.setAttribute("role", "alert");
  item.querySelector("[data-upload-progress]").hidden = true;
}

function showTray() {
  tray.hidden = uploads.size === 0;
}

// Still uploading: the message waits until every file is in.
export function busy() {
  return [...uploads.values()].some((entry) => entry.request !== null);
}

// The uploaded files, in the tray's order, to go with the next message.
export function ready() {
  return [...uploads.values()].filter((entry) => entry.attachment).map((entry) => entry.attachment);
}

// The message took them (or the room changed): the tray empties; uploads in flight stop.
export function clear() {
  for (const entry of uploads.values()) entry.request?.abort();
  uploads.clear();
  tray.replaceChildren();
  showTray();
}

// A message was refused for good: its files wait in the tray again (they are still unposted).
export function restore(attachments) {
  for (const attachment of attachments) {
    const entry = { attachment: null, request: null, error: null };
    uploaded(trayItem(attachment.name, entry), entry, attachment);
  }
}
