"""Style and script of the offline run page (inline, allowed by the page's CSP nonce).

The script polls the page's JSON endpoint while the run is active: it replaces the summary,
error, usage and attachment sections, appends new steps to the timeline (re-rendering the last
one shown, which may have gained its tool's answer), and stops once the run is terminal. A
shorter history than shown (the run was retried and started over) reloads the page.
"""

from __future__ import annotations

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:64rem;padding:1rem 1.5rem;
color:#1d2330;background:#fafbfc}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin:1.4rem 0 .4rem;border-bottom:1px solid #dde}
code{font:13px ui-monospace,monospace;background:#eef0f4;padding:0 .25rem;border-radius:3px}
table{border-collapse:collapse}th{text-align:left;padding:.15rem 1rem .15rem 0;color:#556;
font-weight:500}td{padding:.15rem 0}
.muted{color:#667}.badge{padding:.1rem .55rem;border-radius:1rem;font-weight:600;color:#fff}
.ok{background:#1f8a4c}.bad{background:#c0392b}.off{background:#7f8c8d}
.live{background:#2468c9}.wait{background:#b9770e}
.tag{font-size:12px;background:#e4e7ee;border-radius:3px;padding:0 .3rem}
#steps{padding-left:0;list-style:none}
.step{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:.5rem .8rem;
margin:.5rem 0}.step time{color:#778;font-size:13px;margin-left:.5rem}
.line{margin:.3rem 0}
.shot{max-width:20rem;border:1px solid #ccd;border-radius:4px;margin:.2rem .4rem 0 0}
.errors li{color:#a52a1a;font-weight:500}
"""

SCRIPT = """
(() => {
  const tag = document.getElementById("live");
  const url = tag.dataset.url;
  const interval = Number(tag.dataset.interval);
  const timeline = document.getElementById("steps");
  const sections = new Map();
  let lastStep = null;

  function showSteps(first, items) {
    items.forEach((html, offset) => {
      const index = first + offset;
      const current = timeline.children[index];
      if (current === undefined) {
        timeline.insertAdjacentHTML("beforeend", html);
      } else if (index === first && html !== lastStep) {
        current.outerHTML = html;
      }
    });
    if (items.length) lastStep = items[items.length - 1];
  }

  async function refresh() {
    const shown = timeline.children.length;
    let data;
    try {
      const response = await fetch(url + "?after=" + shown, {cache: "no-store"});
      if (!response.ok) throw new Error(String(response.status));
      data = await response.json();
    } catch (error) {
      setTimeout(refresh, interval * 2);
      return;
    }
    if (data.step_count < shown) {
      location.reload();
      return;
    }
    for (const [id, html] of Object.entries(data.sections)) {
      const element = document.getElementById(id);
      if (element && sections.get(id) !== html) {
        element.innerHTML = html;
        sections.set(id, html);
      }
    }
    showSteps(data.first, data.steps);
    document.title = data.title;
    if (!data.terminal) setTimeout(refresh, interval);
  }

  setTimeout(refresh, interval);
})();
"""
