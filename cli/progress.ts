/**
 * Whether stderr ends at a terminal: directly, or through bin/thaw.mjs, which filters the CLI's
 * stderr through a pipe and passes the terminal's width in THAW_STDERR_COLUMNS.
 */
function stderrIsTty(): boolean {
  return !!process.stderr.isTTY || !!process.env.THAW_STDERR_COLUMNS;
}

function stderrColumns(): number {
  return process.stderr.columns || Number(process.env.THAW_STDERR_COLUMNS) || 101;
}

/** A one-line progress bar with ETA on stderr (plain lines when stderr is not a terminal). */
export class ProgressBar {
  private start = performance.now();
  private lastPrint = 0;
  constructor(private label: string, private total: number, private width = 24) {}

  update(done: number, info = ''): void {
    const now = performance.now();
    const tty = stderrIsTty();
    if (!tty && now - this.lastPrint < 5000 && done < this.total) return;
    if (tty && now - this.lastPrint < 100 && done < this.total) return;
    this.lastPrint = now;
    const frac = Math.min(1, done / Math.max(1, this.total));
    const elapsed = (now - this.start) / 1000;
    const eta = frac > 0 ? elapsed * (1 / frac - 1) : NaN;
    const bar = '█'.repeat(Math.round(frac * this.width)).padEnd(this.width, '░');
    const line = `${this.label} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ${done}/${this.total} ` +
      `${fmt(elapsed)} elapsed, ETA ${Number.isFinite(eta) ? fmt(eta) : '?'} ${info}`;
    if (tty) process.stderr.write(`\r${line.padEnd(stderrColumns() - 1)}`);
    else process.stderr.write(line + '\n');
  }

  done(): void { if (stderrIsTty()) process.stderr.write('\n'); }
}

function fmt(s: number): string {
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}
