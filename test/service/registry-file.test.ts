import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RegistryChange } from '../../src/shared/service.ts';
import { FieldError } from '../../src/shared/service.ts';
import { JsonFileRegistry, REGISTRY_FILE, RegistryFileError, slugify } from '../../src/service/registry-file.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'crowdlens-registry-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => path.join(root, `d${++n}`, 'data');

describe('JsonFileRegistry', () => {
  it('creates the file on first start (0600), keeps the real URL, survives a reopen', async () => {
    const dataDir = freshDir();
    const first = await JsonFileRegistry.open({ dataDir });
    expect(first.created).toBe(true);
    const reg = first.registry;
    const a = await reg.create({ name: 'Lobby Entrance', url: 'rtsp://admin:s3cret@192.0.2.1/stream' });
    const b = await reg.create({ name: 'Lobby Entrance', url: 'lobby.mp4', fps: 2, enabled: false });
    expect(a).toMatchObject({ id: 'lobby-entrance', fps: null, maxWidth: null, enabled: true, loop: true });
    expect(b).toMatchObject({ id: 'lobby-entrance-2', fps: 2, enabled: false });
    const file = path.join(dataDir, REGISTRY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The registry keeps the credentials (ingest needs them); only responses mask them.
    expect(readFileSync(file, 'utf8')).toContain('admin:s3cret@');
    // No temp files left behind by the atomic writes.
    expect(readdirSync(dataDir)).toEqual([REGISTRY_FILE]);
    await reg.close();

    const again = await JsonFileRegistry.open({ dataDir });
    expect(again.created).toBe(false);
    expect(await again.registry.list()).toEqual([a, b]);
    await again.registry.close();
  });

  it('updates and deletes, notifying subscribers after the change is on disk', async () => {
    const dataDir = freshDir();
    const { registry } = await JsonFileRegistry.open({ dataDir });
    const changes: { change: RegistryChange; onDisk: string }[] = [];
    const off = registry.subscribe((change) => changes.push({ change, onDisk: readFileSync(path.join(dataDir, REGISTRY_FILE), 'utf8') }));
    const cam = await registry.create({ name: 'Door', url: 'door.mp4' });
    const updated = await registry.update(cam.id, { fps: 3, maxWidth: null, enabled: false });
    expect(updated).toMatchObject({ id: 'door', fps: 3, enabled: false });
    expect(await registry.update('nope', { name: 'x' })).toBeNull();
    expect(await registry.remove(cam.id)).toBe(true);
    expect(await registry.remove(cam.id)).toBe(false);
    expect(changes.map((c) => c.change.type)).toEqual(['created', 'updated', 'deleted']);
    expect(changes[1]?.change.previous?.fps).toBeNull();
    expect(changes[1]?.onDisk).toContain('"fps": 3');
    expect(changes[2]?.onDisk).not.toContain('"door"');
    off();
    await registry.close();
  });

  it('serialises concurrent writes (none lost)', async () => {
    const dataDir = freshDir();
    const { registry } = await JsonFileRegistry.open({ dataDir });
    await Promise.all(Array.from({ length: 10 }, (_, i) => registry.create({ name: `cam ${i}`, url: `c${i}.mp4` })));
    await registry.close();
    const { registry: again } = await JsonFileRegistry.open({ dataDir });
    expect((await again.list()).map((c) => c.id).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `cam-${i}`).sort());
    await again.close();
  });

  it('refuses a taken id and a full registry with a 409 FieldError', async () => {
    const { registry } = await JsonFileRegistry.open({ dataDir: freshDir(), maxCameras: 2 });
    await registry.create({ name: 'a', url: 'a.mp4' }, { id: 'demo' });
    await expect(registry.create({ name: 'b', url: 'b.mp4' }, { id: 'demo' })).rejects.toMatchObject({ status: 409, field: 'id' });
    await registry.create({ name: 'b', url: 'b.mp4' });
    const full = registry.create({ name: 'c', url: 'c.mp4' });
    await expect(full).rejects.toBeInstanceOf(FieldError);
    await expect(full).rejects.toThrow(/full: 2 cameras/);
    await registry.close();
  });

  it('stops on a corrupt or invalid file, naming it, and leaves it untouched', async () => {
    const dataDir = freshDir();
    const first = await JsonFileRegistry.open({ dataDir });
    await first.registry.close();
    const file = path.join(dataDir, REGISTRY_FILE);
    writeFileSync(file, '{"version":1,"cameras":[{"id":"x"');
    await expect(JsonFileRegistry.open({ dataDir })).rejects.toThrow(RegistryFileError);
    await expect(JsonFileRegistry.open({ dataDir })).rejects.toThrow(/cameras\.json: not valid JSON/);
    expect(readFileSync(file, 'utf8')).toBe('{"version":1,"cameras":[{"id":"x"');
    writeFileSync(file, JSON.stringify({ version: 1, cameras: [{ id: 'x', name: 'x', url: 'x.mp4', fps: -1, maxWidth: null, enabled: true, loop: true, createdAt: '', updatedAt: '' }] }));
    await expect(JsonFileRegistry.open({ dataDir })).rejects.toThrow(/cameras\.0\.fps/);
  });

  it('slugifies names into ids', () => {
    expect(slugify('Café Entrée #2')).toBe('cafe-entree-2');
    expect(slugify('***')).toBe('camera');
    expect(slugify('x'.repeat(80))).toHaveLength(40);
  });
});
