/**
 * The live training chart on a canvas: loss per step (left axis), batch accuracy smoothed and
 * held-out accuracy (right axis, 0–100 %), with epoch boundaries and changes (freeze depth) marked.
 */
import { fitCanvas } from './images.ts';

export interface ChartData {
  losses: number[];
  accs: number[];
  testAccs: [number, number][];
  epochStarts: number[];
  marks: [number, string][];
  /** The x axis reaches at least this step (the end of the run in progress). */
  planned?: number;
}

const C = { loss: '#e8590c', acc: '#1c7ed6', test: '#2b8a3e', grid: '#e9ecef', mark: '#7048e8', axis: '#868e96', text: '#495057' };

/** Exponential moving average, so a 16-image batch accuracy reads as a trend. */
function ema(xs: number[], k = 0.3): number[] {
  const out: number[] = [];
  let m = NaN;
  for (const x of xs) { m = Number.isNaN(m) ? x : m + k * (x - m); out.push(m); }
  return out;
}

/** Draws the chart into `canvas` (sized to its CSS width and `height`). */
export function drawChart(canvas: HTMLCanvasElement, d: ChartData, height = 240): void {
  const { w, h, ctx } = fitCanvas(canvas, height);
  const pad = { l: 46, r: 46, t: 26, b: 28 };
  const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  const n = d.losses.length;
  const steps = Math.max(n, d.planned ?? 0, 10);
  const finite = d.losses.filter(Number.isFinite);
  const lmax = niceCeil(Math.max(finite.length ? 0.5 : 2.4, ...finite) * 1.05);
  const x = (i: number) => pad.l + (steps <= 1 ? 0 : (i / (steps - 1)) * pw);
  const yl = (v: number) => pad.t + ph - (Math.min(v, lmax) / lmax) * ph;
  const ya = (v: number) => pad.t + ph - v * ph;

  // grid and axes
  ctx.strokeStyle = C.grid; ctx.lineWidth = 1; ctx.fillStyle = C.text;
  for (let k = 0; k <= 4; k++) {
    const y = pad.t + (ph * k) / 4;
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(pad.l + pw, y); ctx.stroke();
    ctx.textAlign = 'right'; ctx.fillStyle = C.loss;
    ctx.fillText(String(Number((lmax * (1 - k / 4)).toFixed(2))), pad.l - 6, y + 4);
    ctx.textAlign = 'left'; ctx.fillStyle = C.acc;
    ctx.fillText(`${100 - 25 * k}%`, pad.l + pw + 6, y + 4);
  }
  ctx.fillStyle = C.axis; ctx.textAlign = 'center';
  if (!n) ctx.fillText('no steps yet', pad.l + pw / 2, h - 8);
  ctx.setLineDash([3, 4]); ctx.strokeStyle = '#ced4da';
  d.epochStarts.forEach((st, e) => {
    if (st > 0) { ctx.beginPath(); ctx.moveTo(x(st - 0.5), pad.t); ctx.lineTo(x(st - 0.5), pad.t + ph); ctx.stroke(); }
    const end = d.epochStarts[e + 1] ?? Math.max(n, st + 1);
    if (x(end - 0.5) - x(st - 0.5) > 48) ctx.fillText(`epoch ${e + 1}`, (x(st - 0.5) + x(end - 0.5)) / 2, h - 8);
  });
  ctx.setLineDash([]);
  ctx.textAlign = 'left';
  for (const [st, label] of d.marks) {
    ctx.strokeStyle = C.mark; ctx.fillStyle = C.mark; ctx.lineWidth = 1.5;
    if (st > 0) { ctx.beginPath(); ctx.moveTo(x(st - 0.5), pad.t); ctx.lineTo(x(st - 0.5), pad.t + ph); ctx.stroke(); }
    ctx.fillText(label, Math.max(pad.l, x(st - 0.5)) + 4, pad.t + 11);
  }

  const line = (ys: number[], color: string, y: (v: number) => number, width = 2) => {
    if (!ys.length) return;
    ctx.strokeStyle = color; ctx.lineWidth = width; ctx.lineJoin = 'round';
    ctx.beginPath();
    ys.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
    ctx.stroke();
    if (ys.length === 1) { ctx.fillStyle = color; ctx.beginPath(); ctx.arc(x(0), y(ys[0]), 3, 0, 7); ctx.fill(); }
  };
  line(ema(d.accs), C.acc, ya, 1.5);
  line(d.losses, C.loss, yl, 2);
  for (const [s, a] of d.testAccs) {
    ctx.fillStyle = C.test; ctx.beginPath(); ctx.arc(x(Math.max(0, s - 1)), ya(a), 4.5, 0, 7); ctx.fill();
  }

  // legend
  const items: [string, string][] = [['loss', C.loss], ['batch accuracy (smoothed)', C.acc], ['held-out accuracy', C.test]];
  let lx = pad.l;
  ctx.textAlign = 'left';
  for (const [label, color] of items) {
    ctx.fillStyle = color; ctx.fillRect(lx, 8, 12, 4);
    ctx.fillStyle = C.text; ctx.fillText(label, lx + 16, 14);
    lx += ctx.measureText(label).width + 34;
  }
}

function niceCeil(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 3, 4, 5, 6, 8, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}
