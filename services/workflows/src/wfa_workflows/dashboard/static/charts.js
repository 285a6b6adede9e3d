// Charts over the vendored uPlot (static/vendor/uplot): executions per time bucket by status, durations over time.
// Each function draws into `el`, follows its width, and returns a function that removes the chart.

const COLOURS = { succeeded: "#1f8a4c", failed: "#c62f2f", cancelled: "#7a8394", running: "#2457d6", p50: "#2457d6", p95: "#b86e00" };

function sized(el, make) {
  const width = () => Math.max(260, el.clientWidth);
  const chart = make(width());
  const observer = new ResizeObserver(() => chart.setSize({ width: width(), height: 220 }));
  observer.observe(el);
  return () => {
    observer.disconnect();
    chart.destroy();
  };
}

// Stacked bars: each status is drawn as the running total up to it, tallest first, so the bars read stacked;
// the legend shows each status's own count.
export function barsChart(el, xs, counts) {
  const names = Object.keys(counts);
  const totals = [];
  let running = new Array(xs.length).fill(0);
  for (const name of names) {
    running = running.map((sum, i) => sum + counts[name][i]);
    totals.push(running);
  }
  const order = names.map((_, i) => i).reverse();
  const bars = uPlot.paths.bars({ size: [0.7, 40] });
  return sized(el, (width) =>
    new uPlot(
      {
        width,
        height: 220,
        legend: { live: true },
        cursor: { points: { show: false } },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{}, { size: 40, values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? t : "")) }],
        series: [
          {},
          ...order.map((i) => ({
            label: names[i],
            stroke: COLOURS[names[i]],
            fill: COLOURS[names[i]],
            paths: bars,
            points: { show: false },
            value: (_u, _v, _s, idx) => (idx === null ? "—" : counts[names[i]][idx]),
          })),
        ],
      },
      // An empty bucket draws nothing rather than a flat stub.
      [xs, ...order.map((i) => totals[i].map((total, j) => (counts[names[i]][j] ? total : null)))],
      el,
    ),
  );
}

export function linesChart(el, xs, lines) {
  const names = Object.keys(lines);
  return sized(el, (width) =>
    new uPlot(
      {
        width,
        height: 220,
        scales: { y: { range: (_u, _min, max) => [0, Math.max(10, max * 1.1)] } },
        axes: [{}, { size: 60, values: (_u, ticks) => ticks.map((t) => (t >= 1000 ? `${t / 1000} s` : `${t} ms`)) }],
        series: [
          {},
          ...names.map((name) => ({
            label: name,
            stroke: COLOURS[name],
            width: 2,
            spanGaps: true,
            points: { show: true, size: 6 },
            value: (_u, v) => (v === null || v === undefined ? "—" : `${Math.round(v)} ms`),
          })),
        ],
      },
      [xs, ...names.map((name) => lines[name])],
      el,
    ),
  );
}
