// One chat socket per tab: connects, says its status, reconnects with backoff.
// Usage: const socket = connectChat({onFrame, onOpen, statusElement}); socket.send({...}).

const STATUS_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Signed out — reload the page",
};

export function connectChat({ onFrame, onOpen, statusElement }) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/ws/chat/`;
  let ws = null;
  let attempt = 0;
  let stopped = false;
  let retriedAuth = false;
  const queue = [];

  function setStatus(state) {
    if (!statusElement) return;
    statusElement.textContent = STATUS_TEXT[state];
    statusElement.dataset.state = state;
  }

  function open() {
    setStatus(attempt === 0 ? "connecting" : "reconnecting");
    ws = new WebSocket(url);
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "hello") {
        attempt = 0;
        retriedAuth = false;
        setStatus("connected");
        onOpen?.(frame);
        while (queue.length) ws.send(queue.shift());
      }
      onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      // 4401 closes every socket of a user whose password changed, this tab's too, although
      // this tab's session may still be valid: try once more. A second 4401, a refused Origin
      // (4403) or no session at all (4408) means the credentials are gone.
      const refused = event.code === 4403 || event.code === 4408;
      if (event.code === 4401 && !stopped && !retriedAuth) {
        retriedAuth = true;
        setStatus("reconnecting");
        setTimeout(open, 500);
        return;
      }
      if (event.code === 4401 || refused || stopped) {
        stopped = true;
        setStatus("closed");
        return;
      }
      attempt += 1;
      setStatus("reconnecting");
      const delay = Math.min(10000, 500 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2);
      setTimeout(open, delay);
    });
  }

  // The browser knows the network is gone long before TCP notices: say so and start over.
  window.addEventListener("offline", () => {
    if (stopped || !ws || ws.readyState !== WebSocket.OPEN) return;
    setStatus("reconnecting");
    ws.close();
  });
  window.addEventListener("online", () => {
    if (ws && ws.readyState === WebSocket.CLOSED && !stopped) open();
  });
  open();

  return {
    send(frame) {
      const text = JSON.stringify(frame);
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(text);
      else queue.push(text);
    },
    get connected() {
      return ws !== null && ws.readyState === WebSocket.OPEN;
    },
  };
}

export function formatLocalTimes(root) {
  for (const el of root.querySelectorAll("time[data-local-time]")) {
    const date = new Date(el.dateTime);
    el.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    el.title = date.toLocaleString();
  }
}
