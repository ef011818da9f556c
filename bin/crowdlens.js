#!/usr/bin/env node
// Loads the TypeScript CLI in this same process through tsx's loader, so a fresh clone needs no build
// step and signals (Ctrl-C) reach the CLI directly instead of through a wrapper process.
import { register } from 'tsx/esm/api';

register();
const { start } = await import('../src/cli/main.ts');
start(process.argv.slice(2));
