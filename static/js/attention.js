// What draws the eye outside the page: the unread total in the tab's title and on its icon,
// and opt-in desktop notifications for direct messages (and mentions) while the tab is hidden.

const NOTIFY_KEY = "parley.notifications";
const icon = document.querySelector('link[rel="icon"]');
const iconUrl = icon?.href;
let iconImage = null;
let shownTotal = null;
let baseTitle = document.title.replace(/^\(\d+\) /, "");

export function setTitle(title) {
  baseTitle = title;
  shownTotal = null;
}

export function showUnread(total) {
  const title = total > 0 ? `(${total}) ${baseTitle}` : baseTitle;
  if (document.title !== title) document.title = title;
  if (total === shownTotal) return;
  shownTotal = total;
  drawIcon(total);
}

// The site's icon with a badge of the count, drawn on a canvas.
function drawIcon(total) {
  if (!icon) return;
  if (!iconImage) {
    iconImage = new Image();
    iconImage.addEventListener("load", () => drawIcon(shownTotal));
    iconImage.src = iconUrl;
    return;
  }
  if (!iconImage.complete) return;
  if (total === 0) {
    icon.href = iconUrl;
    icon.type = "image/svg+xml";
    return;
  }
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 64;
  const context = canvas.getContext("2d");
  context.drawImage(iconImage, 0, 0, 64, 64);
  context.fillStyle = "#dc2626";
  context.beginPath();
  context.arc(44, 20, 20, 0, 2 * Math.PI);
  context.fill();
  context.fillStyle = "#ffffff";
  context.font = "bold 26px system-ui, sans-serif";
  context.textAlign = "center";
  context.textBaseline = "middle";
  context.fillText(total > 99 ? "99+" : String(total), 44, 21);
  icon.type = "image/png";
  icon.href = canvas.toDataURL("image/png");
  icon.dataset.unread = String(total);
}

function supported() {
  return "Notification" in window;
}

function enabled() {
  return supported() && Notification.permission === "granted" && localStorage.getItem(NOTIFY_KEY) === "on";
}

// The button that asks for permission (and turns notifications off again).
export function initNotifyButton(button) {
  if (!supported() || !button) return;
  function label() {
    button.hidden = Notification.permission === "denied";
    button.textContent = enabled() ? "Turn off notifications" : "Turn on notifications";
    button.setAttribute("aria-pressed", String(enabled()));
  }
  button.addEventListener("click", async () => {
    if (enabled()) localStorage.removeItem(NOTIFY_KEY);
    else if ((await Notification.requestPermission()) === "granted") localStorage.setItem(NOTIFY_KEY, "on");
    label();
  });
  label();
}

// A desktop notification for a message, if the person asked for them and is looking elsewhere.
export function notify({ room, message, me, onClick }) {
  if (!enabled() || !document.hidden || message.author.id === me.id || message.deleted) return;
  if (room.kind !== "direct" && !message.mentions_me) return;
  const title = room.kind === "direct" ? message.author.display_name : `${message.author.display_name} in ${room.name}`;
  const body = message.body || `Shared ${message.attachments.map((file) => file.name).join(", ")}`;
  const notification = new Notification(title, { body: body.slice(0, 200), tag: `room-${room.id}` });
  notification.addEventListener("click", () => {
    window.focus();
    onClick();
    notification.close();
  });
}
