// The WebSocket: events after the snapshot's head, reconnecting with ?after=<last seq> so
// nothing is lost or repeated; a heartbeat frame keeps the party's channel alive (the
// server marks a silent party DOWN for everyone).  State goes to the bus as `connection`.
export class Live {
  constructor({ token, after, bus, onEvent, heartbeatS = 30 }) {
    Object.assign(this, { token, last: after, bus, onEvent, heartbeatS });
    this.ws = null;
    this.retry = 0;
    this.stopped = false;
    this.state = "down";
  }

  start() {
    this.connect();
    this.beat = setInterval(() => this.send({ type: "heartbeat" }), this.heartbeatS * 1000);
  }

  // The agreement's heartbeat period changed (policy.changed): beat at the new pace from now on.
  setHeartbeat(seconds) {
    if (!(seconds > 0) || seconds === this.heartbeatS) return;
    this.heartbeatS = seconds;
    clearInterval(this.beat);
    this.beat = setInterval(() => this.send({ type: "heartbeat" }), this.heartbeatS * 1000);
    this.send({ type: "heartbeat" });
  }

  stop() {
    this.stopped = true;
    clearInterval(this.beat);
    this.ws?.close();
  }

  send(frame) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  setState(state) {
    if (state !== this.state) {
      this.state = state;
      this.bus.emit("connection", { state });
    }
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/v1/stream?after=${this.last}&access_token=${encodeURIComponent(this.token)}`;
    const ws = (this.ws = new WebSocket(url));
    ws.onopen = () => {
      this.retry = 0;
      this.setState("up");
      this.send({ type: "heartbeat" });
    };
    ws.onmessage = (m) => {
      const ev = JSON.parse(m.data);
      if (typeof ev.seq !== "number" || ev.seq <= this.last) return;
      this.last = ev.seq;
      this.onEvent(ev);
    };
    ws.onclose = (e) => {
      if (this.stopped) return;
      if (e.code === 4401) {
        this.setState("down");
        this.bus.emit("unauthorised", {});
        return;
      }
      this.setState(this.retry >= 3 ? "down" : "reconnecting");
      const delay = Math.min(10_000, 500 * 2 ** this.retry++);
      setTimeout(() => this.connect(), delay);
    };
  }
}
