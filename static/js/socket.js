// One chat socket per tab: connects, says its status, reconnects with backoff, and tells the
// page at once when the user signed out (here or in another tab).
// Usage: const socket = connectChat({onFrame, onOpen, onSignedOut, statusElement, sessionCheckUrl}).

const STATUS_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Signed out — reload the page",
};

export function connectChat({ onFrame, onOpen, onSignedOut, statusElement, sessionCheckUrl }) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/ws/chat/`;
  let ws = null;
  let attempt = 0;
  let stopped = false;
  let retriedAuth = false; // a 4401 since the last hello: a second one means signed out
  let retryTimer = null;
  const queue = [];

  function setStatus(state) {
    if (!statusElement) return;
    statusElement.textContent = STATUS_TEXT[state];
    statusElement.dataset.state = state;
  }

  function stop() {
    stopped = true;
    queue.length = 0;
    setStatus("closed");
    onSignedOut?.();
  }

  // 4401 closes every socket of a user whose password changed, this tab's too, although this
  // tab's session may still be valid. Ask the server at once rather than reconnect blindly: a
  // socket without a session would wait seconds for a ticket before it is refused.
  async function sessionStillValid() {
    // A password change closes the sockets just before it renews this tab's session: wait a moment.
    await new Promise((resolve) => setTimeout(resolve, 500));
    try {
      const response = await fetch(sessionCheckUrl, { credentials: "same-origin" });
      return response.ok;
    } catch {
      return true; // the network, not the session: reconnecting will tell
    }
  }

  function open() {
    clearTimeout(retryTimer);
    if (stopped) return; // signed out meanwhile: a pending retry must not undo it
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
    ws.addEventListener("close", async (event) => {
      if (stopped || event.target !== ws) return; // signed out, or an older socket
      if (event.code === 4403 || event.code === 4408) {
        stop();
        return;
      }
      if (event.code === 4401) {
        setStatus("reconnecting");
        if (!retriedAuth && (await sessionStillValid())) {
          retriedAuth = true;
          open();
        } else stop();
        return;
      }
      attempt += 1;
      setStatus("reconnecting");
      const delay = Math.min(10000, 500 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2);
      retryTimer = setTimeout(open, delay);
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
      if (stopped) return;
      const text = JSON.stringify(frame);
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(text);
      else queue.push(text);
    },
    get connected() {
      return ws !== null && ws.readyState === WebSocket.OPEN;
    },
    get stopped() {
      return stopped;
    },
  };
}
