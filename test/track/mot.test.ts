import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatMot, groupByFrame, motRowBox, motRowFromBox, parseMot, parseSeqInfo } from '../../src/track/mot.ts';

const SEQ = '../shared/data/mot/MOT15-train/TUD-Campus';

describe('parseMot', () => {
  it('reads real MOT15 gt and det files', () => {
    const det = parseMot(readFileSync(`${SEQ}/det.txt`, 'utf8'), 'det.txt');
    const gt = parseMot(readFileSync(`${SEQ}/gt.txt`, 'utf8'), 'gt.txt');
    expect(det.length).toBe(readFileSync(`${SEQ}/det.txt`, 'utf8').trim().split('\n').length);
    expect(det.every((r) => r.id === -1 && r.score > 0 && r.score <= 1)).toBe(true);
    expect(gt.every((r) => r.id > 0 && r.frame >= 1)).toBe(true);
    expect(det[0]).toEqual({ frame: 1, id: -1, x: 281.931, y: 187.466, w: 79.93, h: 209.537, score: 0.997784 });
  });

  it('round-trips through formatMot', () => {
    const rows = [motRowFromBox(3, 7, [10.5, 20, 30.25, 60], 0.9), motRowFromBox(4, 7, [11, 21, 31, 61], 1)];
    const text = formatMot(rows);
    expect(text).toBe('3,7,10.5,20,19.75,40,0.9,-1,-1,-1\n4,7,11,21,20,40,1,-1,-1,-1\n');
    expect(parseMot(text).map(motRowBox)).toEqual([[10.5, 20, 30.25, 60], [11, 21, 31, 61]]);
  });

  it('accepts 6-column rows (score defaults to 1), blank lines and CRLF', () => {
    expect(parseMot('1,2,3,4,5,6\r\n\r\n2,2,3,4,5,6,0.5\r\n')).toEqual([
      { frame: 1, id: 2, x: 3, y: 4, w: 5, h: 6, score: 1 },
      { frame: 2, id: 2, x: 3, y: 4, w: 5, h: 6, score: 0.5 },
    ]);
  });

  it('names the line and the column of bad input', () => {
    expect(() => parseMot('1,1,0,0,5,5\n1,2,0,0\n', 'a.txt')).toThrow(/a\.txt:2: expected at least 6/);
    expect(() => parseMot('1,1,0,zero,5,5\n', 'b.txt')).toThrow(/b\.txt:1: column 4 \(y\).*"zero"/);
    expect(() => parseMot('\n1.5,1,0,0,5,5\n', 'c.txt')).toThrow(/c\.txt:2: frame must be a non-negative integer, got 1\.5/);
    expect(() => parseMot('1,1,0,0,-5,5\n', 'd.txt')).toThrow(/d\.txt:1: width\/height/);
  });

  it('groups rows by ascending frame', () => {
    const g = groupByFrame(parseMot('2,1,0,0,1,1\n1,1,0,0,1,1\n2,2,0,0,1,1\n'));
    expect([...g.keys()]).toEqual([1, 2]);
    expect(g.get(2)?.map((r) => r.id)).toEqual([1, 2]);
  });
});

describe('parseSeqInfo', () => {
  it('reads a real seqinfo.ini', () => {
    expect(parseSeqInfo(readFileSync(`${SEQ}/seqinfo.ini`, 'utf8'))).toEqual({
      name: 'TUD-Campus', frameRate: 25, seqLength: 71, imWidth: 640, imHeight: 480, imDir: 'img1', imExt: '.jpg',
    });
  });

  it('names the missing or bad key', () => {
    expect(() => parseSeqInfo('[Sequence]\nframeRate=25\nseqLength=10\nimWidth=4\n')).toThrow(/imHeight is missing/);
    expect(() => parseSeqInfo('[Sequence]\nframeRate=fast\nseqLength=10\nimWidth=4\nimHeight=4\n')).toThrow(/frameRate must be a positive number, got "fast"/);
    expect(() => parseSeqInfo('[Sequence]\nframeRate 25\n', 's.ini')).toThrow(/s\.ini:2: expected key=value/);
  });
});
