// Joins the `workloads` channel (Phoenix V2 JSON frames) and keeps the table current.
(function () {
  const live = document.getElementById("live");
  const body = document.querySelector("#workloads tbody");
  let ref = 0;
  const cell = (text, cls) => {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (cls) td.className = cls;
    return td;
  };
  function render(w) {
    const tr = document.createElement("tr");
    tr.dataset.id = w.id;
    const exit = w.exit_code != null ? w.exit_code : (w.signal != null ? "signal " + w.signal : "");
    const code = document.createElement("code");
    code.textContent = w.command.join(" ");
    const command = cell("");
    command.appendChild(code);
    [cell(w.id), cell(w.state, "state " + w.state), cell(w.agent), command, cell(w.memory_mb),
      cell(exit), cell(w.error), cell(w.updated_at)].forEach((td) => tr.appendChild(td));
    const old = Array.from(body.rows).find((r) => r.dataset.id === w.id);
    if (old) old.replaceWith(tr); else body.appendChild(tr);
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + "/socket/websocket?vsn=2.0.0");
    let beat;
    ws.onopen = () => {
      ws.send(JSON.stringify(["1", String(++ref), "workloads", "phx_join", {}]));
      beat = setInterval(() => ws.send(JSON.stringify([null, String(++ref), "phoenix", "heartbeat", {}])), 30000);
    };
    ws.onmessage = (e) => {
      const [, , topic, event, payload] = JSON.parse(e.data);
      if (topic === "workloads" && event === "phx_reply") live.textContent = payload.status === "ok" ? "live" : "join refused";
      if (topic === "workloads" && event === "state_changed") render(payload);
    };
    ws.onclose = () => {
      clearInterval(beat);
      live.textContent = "reconnecting…";
      setTimeout(connect, 2000);
    };
  }
  connect();
})();
