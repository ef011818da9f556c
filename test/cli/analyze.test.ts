import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrustModel } from '../../src/infer/trust.ts';

// The real CLI, as a user runs it: bin/crowdlens.js -> tsx -> src/cli/main.ts.
const BIN = path.resolve('bin/crowdlens.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function crowdlens(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crowdlens-cli-'));
  // A folder with a subfolder, a real photo in each (small copies of the shipped samples) and a broken "jpg".
  await mkdir(path.join(dir, 'in', 'sub'), { recursive: true });
  await sharp('samples/sample1.jpg').resize(960).jpeg().toFile(path.join(dir, 'in', 'a.jpg'));
  await sharp('samples/sample6.jpg').resize(960).png().toFile(path.join(dir, 'in', 'sub', 'b.png'));
  await writeFile(path.join(dir, 'in', 'broken.jpg'), 'not an image\n');
  await writeFile(path.join(dir, 'in', 'notes.txt'), 'ignored: not an image extension\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('crowdlens analyze', () => {
  it('--json: one line per image in sorted order, an error line for a broken file, exit 1, annotations written', async () => {
    const out = path.join(dir, 'annotated');
    const r = await crowdlens(['analyze', '--json', '--annotate', out, path.join(dir, 'in')]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => path.relative(dir, l['file'] as string))).toEqual([path.join('in', 'a.jpg'), path.join('in', 'broken.jpg'), path.join('in', 'sub', 'b.png')]);
    const [a, broken, b] = lines as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    expect(Object.keys(broken).sort()).toEqual(['error', 'file']);
    expect(broken['error']).toMatch(/broken\.jpg/);
    for (const ok of [a, b]) {
      expect(Object.keys(ok).sort()).toEqual(['faces', 'file', 'height', 'width']);
      expect(ok['width']).toBe(960);
      const faces = ok['faces'] as Array<Record<string, unknown>>;
      expect(faces.length).toBeGreaterThanOrEqual(2);
      for (const f of faces) {
        expect(Object.keys(f).sort()).toEqual(['ageYears', 'box', 'gender', 'genderLabel', 'genderScore', 'maleProbability', 'quality', 'score']);
        // The label abstains (unknown) below the measured confidence, and otherwise says the model's gender.
        const pm = f['maleProbability'] as number;
        expect(f['genderLabel']).toBe(Math.max(pm, 1 - pm) >= loadTrustModel().thresholds.faceMinGenderConfidence ? f['gender'] : 'unknown');
        expect(f['quality'] as number).toBeGreaterThan(0);
        const box = f['box'] as number[];
        expect(box).toHaveLength(4);
        for (const v of box) expect(Math.round(v * 10) / 10).toBe(v);
        expect(Math.round((f['score'] as number) * 1e4) / 1e4).toBe(f['score']);
        expect(Math.round((f['ageYears'] as number) * 10) / 10).toBe(f['ageYears']);
        expect(['female', 'male']).toContain(f['gender']);
      }
    }
    // Few files: no progress lines on stderr.
    expect(r.stderr).not.toMatch(/files\/s/);
    // Annotated copies keep names, subfolders and sizes; the broken file has none.
    const annA = await sharp(path.join(out, 'a.jpg')).metadata();
    const annB = await sharp(path.join(out, 'sub', 'b.png')).metadata();
    expect([annA.format, annA.width]).toEqual(['jpeg', 960]);
    expect([annB.format, annB.width]).toEqual(['png', 960]);
    await expect(readFile(path.join(out, 'broken.jpg'))).rejects.toThrow(/ENOENT/);
  });

  it('readable output names each file and its faces; a missing path fails the run but not the others', async () => {
    const r = await crowdlens(['analyze', path.join(dir, 'in', 'a.jpg'), path.join(dir, 'nope.jpg')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/a\.jpg 960x\d+: \d+ faces/);
    expect(r.stdout).toMatch(/[FM?] \d+ \(gender 0\.\d\d, P\(male\) [01]\.\d\d, face [01]\.\d\d\)/);
    expect(r.stdout).toMatch(/nope\.jpg: error: .*no such file/);
  });

  it('--assume-face: one face per image, the whole image (age_gender multicrop by default; fused and flip on request)', async () => {
    const utk = path.resolve('../shared/data/faces/utkface-dev');
    const files = (await readFile(path.join(utk, 'labels.csv'), 'utf8')).trim().split('\n').slice(1, 3).map((l) => path.join(utk, l.split(',')[0] as string));
    const r = await crowdlens(['analyze', '--json', '--assume-face', ...files]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { width: number; height: number; faces: { box: number[]; gender: string; ageYears: number }[] });
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      expect(l.faces).toHaveLength(1);
      expect(l.faces[0]?.box).toEqual([0, 0, l.width, l.height]);
      expect(['female', 'male']).toContain(l.faces[0]?.gender);
    }
    // --tta flip and --age-gender fused are accepted and give the same shape of answer.
    const plain = await crowdlens(['analyze', '--json', '--assume-face', '--tta', 'flip', '--age-gender', 'fused', files[0] as string]);
    expect(plain.code).toBe(0);
    expect((JSON.parse(plain.stdout) as { faces: unknown[] }).faces).toHaveLength(1);
  });

  it('bad flags and values exit 2 naming the flag; unknown command exits 2', async () => {
    const [bad, score, env, cmd, tta] = await Promise.all([
      crowdlens(['analyze', '--frobnicate', 'x.jpg']),
      crowdlens(['analyze', '--min-score', '2', 'x.jpg']),
      crowdlens(['analyze', 'x.jpg'], { CROWDLENS_TILES: 'lots' }),
      crowdlens(['frobnicate']),
      crowdlens(['analyze', '--tta', 'many', 'x.jpg']),
    ]);
    expect(tta.code).toBe(2);
    expect(tta.stderr).toMatch(/--tta: unknown mode "many"/);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--frobnicate/);
    expect(score.code).toBe(2);
    expect(score.stderr).toMatch(/--min-score/);
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/infer\.tiles/);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toMatch(/unknown command "frobnicate"/);
  });
});
