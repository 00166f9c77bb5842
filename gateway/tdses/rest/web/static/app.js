// Small enhancements; every page works without them.

// The cost of n calls, as the buyer types n.
const calls = document.querySelector("input[name=calls][data-price]");
if (calls) {
  const price = Number(calls.dataset.price);
  const cost = document.getElementById("cost");
  const show = () => {
    const n = Number(calls.value);
    cost.textContent = Number.isInteger(n) && n > 0 ? `${n} × ${price} = ${n * price} SToken` : "";
  };
  calls.addEventListener("input", show);
  show();
}

// The components' total while they are picked.
const picks = document.querySelectorAll("input[name=component][data-price]");
const total = document.getElementById("mashup-total");
if (picks.length && total) {
  const sum = () => {
    const chosen = [...picks].filter((p) => p.checked);
    total.textContent = `${chosen.length} component(s): ${chosen.reduce((t, p) => t + Number(p.dataset.price), 0)} SToken`;
  };
  picks.forEach((p) => p.addEventListener("change", sum));
  sum();
}

// A transaction waits for its block: say so, and keep the button from sending it twice.
for (const form of document.querySelectorAll("form[data-progress]")) {
  form.addEventListener("submit", () => {
    form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
    document.getElementById("progress").hidden = false;
  });
}

// The network's live activity (server-sent events).
const feed = document.getElementById("feed");
if (feed && feed.dataset.source && "EventSource" in window) {
  const source = new EventSource(feed.dataset.source);
  source.addEventListener("activity", (event) => {
    const a = JSON.parse(event.data);
    const item = document.createElement("li");
    item.textContent = `block ${a.blockNumber}: ${a.kind.replaceAll("_", " ")}` +
      (a.service ? ` ${a.service}` : "") + (a.user ? ` by ${a.user}` : "") + (a.amount ? `, ${a.amount} SToken` : "");
    feed.prepend(item);
  });
  window.addEventListener("pagehide", () => source.close());
}
