/** A small SVG line chart of loss and accuracy per epoch, readable in any browser or image viewer. */
export interface Series { name: string; values: number[]; color: string; axis: 'left' | 'right' }

/** Renders series over epochs 1..n: loss on the left axis, accuracy (0..1) on the right. */
export function lineChartSvg(title: string, series: Series[], width = 640, height = 360): string {
  const m = { l: 56, r: 56, t: 36, b: 40 };
  const W = width - m.l - m.r, H = height - m.t - m.b;
  const n = Math.max(...series.map((s) => s.values.length), 2);
  const leftMax = Math.max(1e-6, ...series.filter((s) => s.axis === 'left').flatMap((s) => s.values.filter(Number.isFinite))) * 1.1;
  const x = (i: number) => m.l + (n === 1 ? 0 : (i / (n - 1)) * W);
  const y = (v: number, axis: 'left' | 'right') => m.t + H - (axis === 'left' ? v / leftMax : v) * H;
  const esc = (s: string) => s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<line x1="${m.l}" y1="${m.t + H}" x2="${m.l + W}" y2="${m.t + H}" stroke="#333"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${m.t + H}" stroke="#333"/>`,
    `<line x1="${m.l + W}" y1="${m.t}" x2="${m.l + W}" y2="${m.t + H}" stroke="#333"/>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const v = k / 4;
    parts.push(`<text x="${m.l - 6}" y="${y(v * leftMax, 'left') + 4}" text-anchor="end">${(v * leftMax).toFixed(2)}</text>`);
    parts.push(`<text x="${m.l + W + 6}" y="${y(v, 'right') + 4}">${(v * 100).toFixed(0)}%</text>`);
    parts.push(`<line x1="${m.l}" y1="${y(v, 'right')}" x2="${m.l + W}" y2="${y(v, 'right')}" stroke="#eee"/>`);
  }
  for (let i = 0; i < n; i++) parts.push(`<text x="${x(i)}" y="${m.t + H + 16}" text-anchor="middle">${i + 1}</text>`);
  parts.push(`<text x="${m.l + W / 2}" y="${height - 6}" text-anchor="middle">epoch</text>`);
  parts.push(`<text x="14" y="${m.t + H / 2}" transform="rotate(-90 14 ${m.t + H / 2})" text-anchor="middle">loss</text>`);
  parts.push(`<text x="${width - 10}" y="${m.t + H / 2}" transform="rotate(90 ${width - 10} ${m.t + H / 2})" text-anchor="middle">accuracy</text>`);
  series.forEach((s, si) => {
    const pts = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v, s.axis).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts}"/>`);
    s.values.forEach((v, i) => parts.push(`<circle cx="${x(i).toFixed(1)}" cy="${y(v, s.axis).toFixed(1)}" r="3" fill="${s.color}"/>`));
    parts.push(`<rect x="${m.l + 10}" y="${m.t + 8 + si * 16}" width="12" height="3" fill="${s.color}"/><text x="${m.l + 28}" y="${m.t + 13 + si * 16}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
