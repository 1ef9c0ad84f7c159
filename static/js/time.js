// Times and days in the reader's locale and time zone.

const DAY = 24 * 60 * 60 * 1000;

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

export function formatTime(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// A day separator's words: "Today", "Yesterday", or the date.
export function dayLabel(date) {
  const days = Math.round((startOfDay(new Date()) - startOfDay(date)) / DAY);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const sameYear = date.getFullYear() === new Date().getFullYear();
  return date.toLocaleDateString([], {
    weekday: "long",
    day: "numeric",
    month: "long",
    ...(sameYear ? {} : { year: "numeric" }),
  });
}

export function dayKey(date) {
  return startOfDay(date);
}

// The time beside a chat in the list: the hour today, the date before.
export function formatListTime(date) {
  if (startOfDay(date) === startOfDay(new Date())) return formatTime(date);
  return date.toLocaleDateString([], { day: "numeric", month: "short" });
}
