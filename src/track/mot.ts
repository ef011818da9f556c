/**
 * MOTChallenge text I/O: `frame,id,x,y,w,h,score,...` (1-based frames, top-left x/y, width/height in
 * pixels). Detection files use id -1. Also seqinfo.ini parsing. Pure string in/out: callers read files.
 */
import type { BoxXyxy } from '../shared/messages.ts';

/** One MOTChallenge row. */
export interface MotRow {
  /** 1-based frame number. */
  readonly frame: number;
  /** Object/track id; -1 in detection files. */
  readonly id: number;
  /** Top-left corner and size, pixels. */
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
  /**
   * Column 7: detector score (det), "consider" flag (gt: 0 = ignore, per the MOT devkit), -1 or 1 (res).
   * Defaults to 1 when the column is absent.
   */
  readonly score: number;
}

/** Parses MOTChallenge text. Blank lines are skipped; errors name `source:line`. */
export function parseMot(text: string, source = 'mot'): MotRow[] {
  const rows: MotRow[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    const cells = line.split(/\s*,\s*|\s+/);
    const at = `${source}:${i + 1}`;
    if (cells.length < 6) throw new Error(`${at}: expected at least 6 comma-separated columns (frame,id,x,y,w,h), got ${cells.length}: "${line}"`);
    const nums = cells.slice(0, 7).map((c, k) => {
      const v = Number(c);
      if (c === '' || !Number.isFinite(v)) throw new Error(`${at}: column ${k + 1} (${COLUMN_NAMES[k]}) is not a finite number: "${c}"`);
      return v;
    });
    const [frame, id, x, y, w, h, score = 1] = nums as [number, number, number, number, number, number, number?];
    if (!Number.isInteger(frame) || frame < 0) throw new Error(`${at}: frame must be a non-negative integer, got ${frame}`);
    if (!Number.isInteger(id)) throw new Error(`${at}: id must be an integer, got ${id}`);
    if (w < 0 || h < 0) throw new Error(`${at}: width/height must be >= 0, got w=${w} h=${h}`);
    rows.push({ frame, id, x, y, w, h, score });
  }
  return rows;
}

const COLUMN_NAMES = ['frame', 'id', 'x', 'y', 'w', 'h', 'score'];

/** Writes rows as `frame,id,x,y,w,h,score,-1,-1,-1` lines (3 decimals for coordinates), sorted as given. */
export function formatMot(rows: readonly MotRow[]): string {
  let out = '';
  for (const r of rows) out += `${r.frame},${r.id},${fmt(r.x)},${fmt(r.y)},${fmt(r.w)},${fmt(r.h)},${fmt(r.score)},-1,-1,-1\n`;
  return out;
}

function fmt(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

/** Corner-form box of a row. */
export function motRowBox(r: MotRow): BoxXyxy {
  return [r.x, r.y, r.x + r.w, r.y + r.h];
}

/** Builds a row from a corner-form box. */
export function motRowFromBox(frame: number, id: number, box: BoxXyxy, score: number): MotRow {
  return { frame, id, x: box[0], y: box[1], w: box[2] - box[0], h: box[3] - box[1], score };
}

/** Groups rows by frame number (frames in ascending order, rows in input order). */
export function groupByFrame(rows: readonly MotRow[]): Map<number, MotRow[]> {
  const byFrame = new Map<number, MotRow[]>();
  for (const r of rows) {
    const list = byFrame.get(r.frame);
    if (list) list.push(r);
    else byFrame.set(r.frame, [r]);
  }
  return new Map([...byFrame.entries()].sort((a, b) => a[0] - b[0]));
}

/** The `[Sequence]` section of a MOTChallenge seqinfo.ini. */
export interface SeqInfo {
  readonly name: string;
  /** Frames per second (> 0). */
  readonly frameRate: number;
  /** Number of frames. */
  readonly seqLength: number;
  /** Frame size, pixels. */
  readonly imWidth: number;
  readonly imHeight: number;
  readonly imDir?: string;
  readonly imExt?: string;
}

/** Parses seqinfo.ini; errors name the key and value (or the line). */
export function parseSeqInfo(text: string, source = 'seqinfo.ini'): SeqInfo {
  const kv = new Map<string, string>();
  let section = '';
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = (sec[1] as string).trim();
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`${source}:${i + 1}: expected key=value, got "${line}"`);
    if (section.toLowerCase() === 'sequence') kv.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const num = (key: string, integer: boolean): number => {
    const raw = kv.get(key);
    if (raw === undefined) throw new Error(`${source}: [Sequence] ${key} is missing`);
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new Error(`${source}: [Sequence] ${key} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
    return v;
  };
  const imDir = kv.get('imDir');
  const imExt = kv.get('imExt');
  return {
    name: kv.get('name') ?? '',
    frameRate: num('frameRate', false),
    seqLength: num('seqLength', true),
    imWidth: num('imWidth', true),
    imHeight: num('imHeight', true),
    ...(imDir !== undefined ? { imDir } : {}),
    ...(imExt !== undefined ? { imExt } : {}),
  };
}
