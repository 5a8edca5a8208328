/**
 * Progress on stderr while the benchmark runs: a bar redrawn in place when
 * stderr is a terminal, otherwise a line per step and an occasional line
 * within a long step (so logs stay short).
 */

const BAR_WIDTH = 24;
const REDRAW_MS = 100;
const LOG_EVERY_MS = 15_000;

export class Progress {
  readonly #total: number;
  readonly #tty = process.stderr.isTTY === true;
  readonly #started = Date.now();
  #step = 0;
  #label = '';
  #detail = '';
  #fraction = 0;
  #lastDraw = 0;
  #lastLog = 0;

  constructor(totalSteps: number) {
    this.#total = Math.max(1, totalSteps);
  }

  /** Start the next step. */
  step(label: string): void {
    this.#step++;
    this.#label = label;
    this.#detail = '';
    this.#fraction = 0;
    if (this.#tty) this.#draw(true);
    else process.stderr.write(`[${this.#step}/${this.#total} ${elapsed(this.#started)}] ${label}\n`);
    this.#lastLog = Date.now();
  }

  /** How far the current step is. */
  detail(done: number, total: number, unit = 'rows'): void {
    this.#fraction = total > 0 ? Math.min(1, done / total) : 0;
    this.#detail = `${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} ${unit}`;
    if (this.#tty) this.#draw(false);
    else if (Date.now() - this.#lastLog >= LOG_EVERY_MS) {
      this.#lastLog = Date.now();
      process.stderr.write(`  … ${this.#detail}\n`);
    }
  }

  /** What the current step is doing now (a CLI command, a baseline): shown until the next detail. */
  activity(what: string): void {
    this.#detail = what;
    if (this.#tty) this.#draw(true);
    else process.stderr.write(`  … ${what}\n`);
    this.#lastLog = Date.now();
  }

  /** Print a line without breaking the bar. */
  note(line: string): void {
    if (this.#tty) process.stderr.write('\r\x1b[K');
    process.stderr.write(line + '\n');
    if (this.#tty) this.#draw(true);
  }

  done(): void {
    if (this.#tty) process.stderr.write('\r\x1b[K');
    process.stderr.write(`bench: ${this.#step} steps in ${elapsed(this.#started)}\n`);
  }

  #draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.#lastDraw < REDRAW_MS) return;
    this.#lastDraw = now;
    const overall = (this.#step - 1 + this.#fraction) / this.#total;
    const filled = Math.round(overall * BAR_WIDTH);
    const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
    const line = `${bar} ${this.#step}/${this.#total} ${elapsed(this.#started)}  ${this.#label}${this.#detail ? ` · ${this.#detail}` : ''}`;
    const width = process.stderr.columns || 100;
    process.stderr.write(`\r\x1b[K${line.slice(0, width - 1)}`);
  }
}

function elapsed(since: number): string {
  const s = Math.floor((Date.now() - since) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
