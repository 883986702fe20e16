/**
 * Hand-written SVG charts for the benchmark (no dependencies): grouped bars
 * per workload, and line charts for the sweeps.
 */

export interface Series {
  label: string;
  color: string;
  /** One value per group or x position; null where there is none. */
  values: (number | null)[];
  /** Why a value is missing, per group (shown in place of the bar). */
  missing?: (string | null)[];
}

export interface BarChart {
  title: string;
  subtitle?: string;
  yLabel: string;
  /** One group per workload: a label and smaller lines under it. */
  groups: { label: string; sublabels?: string[] }[];
  series: Series[];
  /** A dashed reference line (e.g. 1.0 = redis-benchmark). */
  reference?: { value: number; label: string };
  format: (v: number) => string;
}

export interface LineChart {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  /** X positions, equally spaced (sizes on a log scale). */
  xs: number[];
  xFormat: (v: number) => string;
  yFormat: (v: number) => string;
  yLog?: boolean;
  series: Series[];
}

const FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\"";

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function n(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** A "nice" step for about `count` ticks up to `max`. */
function niceStep(max: number, count: number): number {
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
}

/** Compact numbers for axes: 1.2M, 850k, 12k, 0.5. */
export function compact(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(a >= 1e4 ? 0 : 1)}k`;
  return `${+v.toFixed(2)}`;
}

/** Legend items in rows: colour swatches, and a dashed line for a reference (`dashed`). */
function legend(
  series: { label: string; color: string; dashed?: boolean }[],
  x: number,
  y: number,
  width: number,
): { svg: string; height: number } {
  const out: string[] = [];
  let cx = x, cy = y;
  for (const s of series) {
    const w = 22 + s.label.length * 7 + 18;
    if (cx + w > x + width) {
      cx = x;
      cy += 20;
    }
    out.push(
      s.dashed
        ? `<line x1="${n(cx)}" x2="${n(cx + 16)}" y1="${n(cy - 3)}" y2="${
          n(cy - 3)
        }" stroke="${s.color}" stroke-width="1.5" stroke-dasharray="4 3"/>`
        : `<rect x="${n(cx)}" y="${n(cy - 10)}" width="14" height="14" rx="2" fill="${s.color}"/>`,
    );
    out.push(`<text x="${n(cx + 20)}" y="${n(cy + 1)}" font-size="13" fill="#222">${esc(s.label)}</text>`);
    cx += w;
  }
  return { svg: out.join("\n"), height: cy - y + 20 };
}

function header(title: string, subtitle: string | undefined, width: number): string {
  return [
    `<text x="${width / 2}" y="28" text-anchor="middle" font-size="19" font-weight="600" fill="#111">${
      esc(title)
    }</text>`,
    subtitle
      ? `<text x="${width / 2}" y="48" text-anchor="middle" font-size="12.5" fill="#555">${esc(subtitle)}</text>`
      : "",
  ].join("\n");
}

function wrap(width: number, height: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>
<rect width="100%" height="100%" fill="#ffffff"/>
${body}
</svg>
`;
}

/** Grouped bars: one group per workload, one bar per series, value labels on top. */
export function barChart(c: BarChart): string {
  const width = 1100;
  const left = 70, right = 20;
  const plotW = width - left - right;
  const items = c.reference ? [...c.series, { label: c.reference.label, color: "#333", dashed: true }] : c.series;
  const leg = legend(items, left, 74, plotW);
  const top = 74 + leg.height + 22;
  const plotH = 360;
  const bottom = top + plotH;
  const lines = Math.max(0, ...c.groups.map((g) => g.sublabels?.length ?? 0));
  const height = bottom + 34 + lines * 15 + 10;
  const values = c.series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const max0 = Math.max(c.reference?.value ?? 0, ...values, 1e-9) * 1.12;
  const step = niceStep(max0, 6);
  const max = Math.ceil(max0 / step) * step;
  const y = (v: number) => bottom - (v / max) * plotH;
  const out: string[] = [header(c.title, c.subtitle, width), leg.svg];

  for (let t = 0; t <= max + step / 1000; t += step) {
    out.push(`<line x1="${left}" x2="${width - right}" y1="${n(y(t))}" y2="${n(y(t))}" stroke="#e3e3e3"/>`);
    out.push(
      `<text x="${left - 8}" y="${n(y(t) + 4)}" text-anchor="end" font-size="12" fill="#444">${c.format(t)}</text>`,
    );
  }
  out.push(
    `<text transform="translate(18 ${
      n(top + plotH / 2)
    }) rotate(-90)" text-anchor="middle" font-size="13" fill="#333">${esc(c.yLabel)}</text>`,
  );

  if (c.reference) {
    const ry = y(c.reference.value);
    out.push(
      `<line x1="${left}" x2="${width - right}" y1="${n(ry)}" y2="${
        n(ry)
      }" stroke="#333" stroke-dasharray="6 4" stroke-width="1.2"/>`,
    );
  }
  const groupW = plotW / c.groups.length;
  const pad = Math.min(24, groupW * 0.12);
  const barW = (groupW - 2 * pad) / c.series.length;
  c.groups.forEach((g, gi) => {
    const gx = left + gi * groupW;
    if (gi > 0) out.push(`<line x1="${n(gx)}" x2="${n(gx)}" y1="${top}" y2="${bottom}" stroke="#f0f0f0"/>`);
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      const bx = gx + pad + si * barW;
      const cx = bx + barW / 2;
      if (v === null || v === undefined || !Number.isFinite(v)) {
        const why = s.missing?.[gi];
        if (why) {
          out.push(
            `<text transform="translate(${n(cx + 4)} ${n(bottom - 6)}) rotate(-90)" font-size="10.5" fill="#888">${
              esc(why)
            }</text>`,
          );
        }
        return;
      }
      const h = Math.max(1, bottom - y(v));
      out.push(
        `<rect x="${n(bx + 1)}" y="${n(bottom - h)}" width="${n(Math.max(1, barW - 2))}" height="${
          n(h)
        }" fill="${s.color}"><title>${esc(`${s.label}, ${g.label}: ${c.format(v)}`)}</title></rect>`,
      );
      out.push(
        `<text transform="translate(${n(cx + 4)} ${
          n(bottom - h - 4)
        }) rotate(-90)" font-size="10.5" fill="#222" stroke="#fff" stroke-width="3" paint-order="stroke">${
          c.format(v)
        }</text>`,
      );
    });
    out.push(
      `<text x="${n(gx + groupW / 2)}" y="${
        bottom + 20
      }" text-anchor="middle" font-size="14" font-weight="600" fill="#111">${esc(g.label)}</text>`,
    );
    (g.sublabels ?? []).forEach((line, li) => {
      out.push(
        `<text x="${n(gx + groupW / 2)}" y="${bottom + 37 + li * 15}" text-anchor="middle" font-size="11.5" fill="${
          li === 0 ? "#333" : "#666"
        }">${esc(line)}</text>`,
      );
    });
  });
  out.push(`<line x1="${left}" x2="${width - right}" y1="${bottom}" y2="${bottom}" stroke="#888"/>`);
  return wrap(width, height, out.join("\n"));
}

/** Lines over equally spaced x positions; a log or linear y axis. */
export function lineChart(c: LineChart): string {
  const width = 900;
  const left = 78, right = 30;
  const plotW = width - left - right;
  const leg = legend(c.series, left, 74, plotW);
  const top = 74 + leg.height + 16;
  const plotH = 340;
  const bottom = top + plotH;
  const height = bottom + 58;
  const values = c.series.flatMap((s) => s.values).filter((v): v is number => v !== null && v > 0);
  const out: string[] = [header(c.title, c.subtitle, width), leg.svg];

  let y: (v: number) => number;
  const ticks: number[] = [];
  if (c.yLog) {
    // From the 1-2-5 tick at or below the smallest value to the one at or above the largest.
    const steps = (e: number) => [1, 2, 5].map((m) => m * 10 ** e);
    const all: number[] = [];
    for (
      let e = Math.floor(Math.log10(Math.min(...values))) - 1;
      e <= Math.ceil(Math.log10(Math.max(...values)));
      e++
    ) {
      all.push(...steps(e));
    }
    const lo = Math.max(...all.filter((t) => t <= Math.min(...values)));
    const hi = Math.min(...all.filter((t) => t >= Math.max(...values)));
    const span = Math.max(1e-9, Math.log10(hi) - Math.log10(lo));
    y = (v) => bottom - ((Math.log10(v) - Math.log10(lo)) / span) * plotH;
    ticks.push(...all.filter((t) => t >= lo && t <= hi));
  } else {
    const max0 = Math.max(...values) * 1.1;
    const step = niceStep(max0, 6);
    const max = Math.ceil(max0 / step) * step;
    y = (v) => bottom - (v / max) * plotH;
    for (let t = 0; t <= max + step / 1000; t += step) ticks.push(t);
  }
  for (const t of ticks) {
    const major = !c.yLog || Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;
    out.push(
      `<line x1="${left}" x2="${width - right}" y1="${n(y(t))}" y2="${n(y(t))}" stroke="${
        major ? "#dcdcdc" : "#f0f0f0"
      }"/>`,
    );
    out.push(
      `<text x="${left - 8}" y="${n(y(t) + 4)}" text-anchor="end" font-size="${major ? 12 : 10.5}" fill="${
        major ? "#333" : "#888"
      }">${c.yFormat(t)}</text>`,
    );
  }
  const x = (i: number) => left + 30 + (i / Math.max(1, c.xs.length - 1)) * (plotW - 60);
  c.xs.forEach((xv, i) => {
    out.push(`<line x1="${n(x(i))}" x2="${n(x(i))}" y1="${top}" y2="${bottom}" stroke="#f3f3f3"/>`);
    out.push(
      `<text x="${n(x(i))}" y="${bottom + 18}" text-anchor="middle" font-size="12" fill="#333">${
        esc(c.xFormat(xv))
      }</text>`,
    );
  });
  out.push(
    `<text x="${left + plotW / 2}" y="${bottom + 42}" text-anchor="middle" font-size="13" fill="#333">${
      esc(c.xLabel)
    }</text>`,
  );
  out.push(
    `<text transform="translate(18 ${
      n(top + plotH / 2)
    }) rotate(-90)" text-anchor="middle" font-size="13" fill="#333">${esc(c.yLabel)}</text>`,
  );
  for (const s of c.series) {
    const pts = s.values.map((v, i) => (v !== null && v > 0 ? [x(i), y(v), v] as const : null));
    let d = "";
    let pen = false;
    for (const p of pts) {
      if (p === null) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${n(p[0])} ${n(p[1])} `;
      pen = true;
    }
    out.push(`<path d="${d.trim()}" fill="none" stroke="${s.color}" stroke-width="2.2"/>`);
    for (const p of pts) {
      if (p === null) continue;
      out.push(
        `<circle cx="${n(p[0])}" cy="${n(p[1])}" r="3.6" fill="${s.color}"><title>${
          esc(`${s.label}: ${c.yFormat(p[2])}`)
        }</title></circle>`,
      );
    }
  }
  out.push(`<line x1="${left}" x2="${width - right}" y1="${bottom}" y2="${bottom}" stroke="#888"/>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${bottom}" stroke="#888"/>`);
  return wrap(width, height, out.join("\n"));
}
