// The example kiosk screen. It is opened as /kiosk/#token=...&lane=...
// (gateagent kiosk url prints the address); the token stays in the fragment,
// which the browser never sends, and goes out only in the Authorization header
// of this page's own calls to the local API.
"use strict";
(function () {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token") || "";
  const lane = params.get("lane") || "";
  const $ = (id) => document.getElementById(id);

  function call(op, body) {
    return fetch("/v1/" + op, {
      method: "POST",
      headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then((r) => r.json().then((j) => {
      if (!r.ok) { throw new Error(j.error || r.statusText); }
      return j.result;
    }));
  }

  function status(text, cls) {
    $("status-ja").textContent = text.ja;
    $("status-en").textContent = text.en;
    $("status-panel").className = cls || "";
  }

  function showPIN(m) {
    $("pin-panel").hidden = false;
    $("pin").value = "";
    $("tries").textContent = "残り " + m.tries_left + " 回 / " + m.tries_left + " tries left";
    $("tries").className = m.warning ? "warning" : "";
    $("pin").focus();
  }

  function hidePIN() {
    $("pin").value = "";
    $("pin-panel").hidden = true;
  }

  function addResult(m) {
    const li = document.createElement("li");
    li.className = m.outcome === "denied" ? "denied" : "ok";
    li.dataset.outcome = m.outcome;
    li.dataset.reason = m.reason || "";
    li.textContent = m.text.ja + " / " + m.text.en;
    $("results").prepend(li);
  }

  function handle(m) {
    if (m.lane !== lane) { return; }
    switch (m.type) {
      case "card":
        if (m.state === "removed") { hidePIN(); }
        status(m.text);
        break;
      case "pin":
        status(m.text, m.warning ? "warning" : "");
        showPIN(m);
        break;
      case "result":
        hidePIN();
        status(m.text, m.outcome === "denied" ? "denied" : "ok");
        addResult(m);
        break;
      case "pending":
        $("pending").textContent = m.pending && m.pending.length
          ? "登録待ち / waiting: " + m.service_id + " " + m.pending.filter(Boolean).join(", ")
          : "";
        status(m.text);
        break;
    }
  }

  // Server-sent events over fetch, so the token goes in a header.
  function stream() {
    fetch("/v1/kiosk_events", { headers: { "Authorization": "Bearer " + token } }).then((r) => {
      if (!r.ok) { throw new Error("status " + r.status); }
      $("conn").textContent = "接続しました（レーン " + lane + "） / connected (lane " + lane + ")";
      $("conn").dataset.connected = "1";
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      function pump() {
        return reader.read().then(({ done, value }) => {
          if (done) { throw new Error("stream ended"); }
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
            if (data) { handle(JSON.parse(data)); }
          }
          return pump();
        });
      }
      return pump();
    }).catch(() => {
      $("conn").textContent = "再接続中… / reconnecting…";
      $("conn").dataset.connected = "";
      setTimeout(stream, 2000);
    });
  }

  for (const d of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "", "0", "⌫"]) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = d;
    if (d === "") { b.disabled = true; }
    b.addEventListener("click", () => {
      const p = $("pin");
      p.value = d === "⌫" ? p.value.slice(0, -1) : (p.value + d).slice(0, 4);
    });
    $("keypad").append(b);
  }

  $("pin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const pin = $("pin").value;
    $("pin").value = "";
    call("kiosk_pin", { lane: lane, pin: pin }).catch((e) => status({ ja: "送信できませんでした", en: String(e.message) }, "denied"));
  });

  $("bind-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const seats = $("seats").value.split(",").map((s) => s.trim()).filter(Boolean);
    call("kiosk_bind", { lane: lane, service_id: $("service-id").value.trim(), seats: seats, grant: { kind: "ticket" } })
      .catch((e) => status({ ja: "受付内容を確認してください", en: String(e.message) }, "denied"));
  });

  $("cancel").addEventListener("click", () => { call("kiosk_cancel", { lane: lane }); });

  stream();
})();
