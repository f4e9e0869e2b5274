// The dashboard's only script (served as a file: the CSP allows no inline code). Everything
// works without it; it adds charts, live preview reload and the import's progress bar.

function drawCharts() {
  if (typeof Chart === "undefined") return;
  const css = getComputedStyle(document.documentElement);
  const colours = ["--chart1", "--chart2", "--chart3"].map((v) => css.getPropertyValue(v).trim());
  const text = css.getPropertyValue("--text").trim();
  const grid = css.getPropertyValue("--border").trim();
  for (const data of document.querySelectorAll("script.chart-data")) {
    const canvas = document.getElementById(data.dataset.for);
    if (!canvas) continue;
    const spec = JSON.parse(data.textContent);
    new Chart(canvas, {
      type: spec.type || "line",
      data: {
        labels: spec.labels,
        datasets: spec.series.map((s, i) => ({ label: s.label, data: s.data, borderColor: colours[i % 3], backgroundColor: colours[i % 3], tension: 0.2 })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { ticks: { color: text }, grid: { color: grid } }, y: { beginAtZero: true, ticks: { color: text, precision: 0 }, grid: { color: grid } } },
        plugins: { legend: { labels: { color: text } } },
      },
    });
  }
}

function watchPreview() {
  const el = document.querySelector("[data-live-version]");
  if (!el) return;
  const start = el.dataset.liveVersion;
  setInterval(async () => {
    try {
      const res = await fetch("/admin/sequences/version", { headers: { accept: "application/json" }, credentials: "same-origin" });
      if (!res.ok) return;
      const { version } = await res.json();
      if (version !== start) location.reload();
    } catch {
      // the server restarting: try again on the next beat
    }
  }, 2000);
}

function importProgress() {
  const form = document.querySelector("form#import");
  if (!form) return;
  const bar = document.querySelector("progress#import-progress");
  const status = document.querySelector("#import-status");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    bar.hidden = false;
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        bar.value = e.loaded / e.total;
        status.textContent = `Uploading: ${Math.round((100 * e.loaded) / e.total)}%`;
      }
    });
    xhr.upload.addEventListener("load", () => {
      bar.removeAttribute("value");
      status.textContent = "Importing…";
    });
    xhr.addEventListener("load", () => {
      const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      const main = doc.querySelector("main");
      if (main) document.querySelector("main").replaceWith(main);
      else status.textContent = `The import answered ${xhr.status}.`;
    });
    xhr.addEventListener("error", () => {
      status.textContent = "The upload failed: check the connection and try again.";
    });
    xhr.send(new FormData(form));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  watchPreview();
  importProgress();
});
