import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { BoxXyxy, Gender } from '../shared/messages.ts';
import { rawToSharp, withFormat } from './decode.ts';
import type { RgbImage } from './types.ts';

/** What annotation draws for one face: a box and a short label. Nothing else about a face is ever written. */
export interface AnnotatedFace {
  /** Box in source pixels. */
  readonly box: BoxXyxy;
  /** Detector score, 0..1. */
  readonly score: number;
  readonly ageYears?: number | undefined;
  /** `unknown` or absent: drawn without a gender. */
  readonly gender?: Gender | 'unknown' | undefined;
}

/** The label drawn above a box: `"F 34 0.98"`, `"M 27 0.71"`, or just the score when age/gender is unknown. */
export function faceLabel(face: AnnotatedFace): string {
  const score = face.score.toFixed(2);
  if (face.ageYears === undefined) return score;
  if (face.gender === undefined || face.gender === 'unknown') return `? ${Math.round(face.ageYears)} ${score}`;
  return `${face.gender === 'female' ? 'F' : 'M'} ${Math.round(face.ageYears)} ${score}`;
}

const COLORS: Record<Gender | 'unknown', string> = { female: '#ff3d9a', male: '#1e90ff', unknown: '#ffd400' };

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The SVG overlay (same size as the image) with one box and label per face. */
export function annotationSvg(width: number, height: number, faces: readonly AnnotatedFace[]): string {
  // Line and text sizes follow the image size so labels stay readable on 4K and on 320 px frames.
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 300));
  const font = Math.max(12, Math.round(Math.min(width, height) / 40));
  const parts: string[] = [];
  for (const face of faces) {
    const x1 = Math.max(0, Math.min(width, face.box[0]));
    const y1 = Math.max(0, Math.min(height, face.box[1]));
    const x2 = Math.max(0, Math.min(width, face.box[2]));
    const y2 = Math.max(0, Math.min(height, face.box[3]));
    const color = COLORS[face.gender ?? 'unknown'];
    const label = escapeXml(faceLabel(face));
    const labelW = Math.ceil(label.length * font * 0.62) + 2 * stroke;
    const labelH = Math.ceil(font * 1.25);
    // Label above the box, or inside its top edge when the box touches the top of the image.
    const ly = y1 - labelH >= 0 ? y1 - labelH : y1;
    parts.push(
      `<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${(x2 - x1).toFixed(1)}" height="${(y2 - y1).toFixed(1)}" fill="none" stroke="${color}" stroke-width="${stroke}"/>`,
      `<rect x="${x1.toFixed(1)}" y="${ly.toFixed(1)}" width="${labelW}" height="${labelH}" fill="${color}"/>`,
      `<text x="${(x1 + stroke).toFixed(1)}" y="${(ly + font).toFixed(1)}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${font}" font-weight="bold" fill="#000">${label}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/**
 * Writes `image` with a box and label per face to `file` (format by extension: .jpg, .jpeg, .png, .webp),
 * creating parent folders. The output carries no metadata and no face data beyond boxes and labels.
 */
export async function writeAnnotatedImage(image: RgbImage, faces: readonly AnnotatedFace[], file: string): Promise<void> {
  const svg = Buffer.from(annotationSvg(image.width, image.height, faces));
  await mkdir(path.dirname(file), { recursive: true });
  await withFormat(rawToSharp(image).composite([{ input: svg, top: 0, left: 0 }]), file).toFile(file);
}
