/**
 * Generic TFJS graph-model (model.json GraphDef + .bin weights) -> ONNX converter.
 *
 * Layout: tensors stay NHWC exactly as in TF, so every elementwise op, Pad, Reshape and Mean maps
 * one to one and constants broadcast as in TF. Only Conv/DepthwiseConv/Pool need NCHW in ONNX; each
 * is wrapped in a Transpose pair, and onnxruntime's transpose optimiser cancels the adjacent pairs.
 * TF 'SAME' padding (the odd pixel goes bottom/right) is written as explicit pads computed from the
 * static shapes, so the batch dimension may be symbolic but H, W, C must be known.
 * Unknown ops fail loudly, naming the op and node.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GraphBuilder } from './onnx.ts';
import { decodeWeightGroups, samePads, sha256, type WeightEntry } from './tf.ts';
import type { SourceFile } from './types.ts';

/** A dimension: a number, or a string for a symbolic one (the batch). */
type Dim = number | string;

interface TfAttr {
  readonly s?: string;
  readonly i?: string | number;
  readonly f?: number;
  readonly b?: boolean;
  readonly list?: { readonly i?: readonly (string | number)[]; readonly s?: readonly string[] };
  readonly type?: string;
  readonly shape?: { readonly dim?: readonly { readonly size: string }[] };
  readonly tensor?: { readonly dtype?: string; readonly tensorShape?: { readonly dim?: readonly { readonly size: string }[] } };
}

interface TfNode {
  readonly name: string;
  readonly op: string;
  readonly input?: readonly string[];
  readonly attr?: Readonly<Record<string, TfAttr>>;
}

interface ModelJson {
  readonly format?: string;
  readonly modelTopology: { readonly node: readonly TfNode[] };
  readonly weightsManifest: readonly { readonly paths: readonly string[]; readonly weights: readonly WeightEntry[] }[];
}

/** A constant weight, dequantised to float32 (or int32) exactly as tfjs-core's `decodeWeights`. */
export interface TfWeight {
  readonly dtype: 'float32' | 'int32';
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/** A parsed TFJS graph model. */
export interface TfGraphModel {
  readonly nodes: readonly TfNode[];
  readonly weights: ReadonlyMap<string, TfWeight>;
  /** model.json and its shards, with sha256 (paths relative to `relativeTo`). */
  readonly files: readonly SourceFile[];
}

/** Reads model.json and its weight shards. `relativeTo` is the folder source paths are reported against (the package root). */
export function loadTfGraphModel(modelJsonPath: string, relativeTo: string): TfGraphModel {
  const jsonBytes = readFileSync(modelJsonPath);
  const model = JSON.parse(jsonBytes.toString('utf8')) as ModelJson;
  if (model.format !== 'graph-model') throw new Error(`${modelJsonPath}: format ${JSON.stringify(model.format)} is not "graph-model"`);
  const files: SourceFile[] = [{ path: path.relative(relativeTo, modelJsonPath).split(path.sep).join('/'), sha256: sha256(jsonBytes) }];
  const weights: ReadonlyMap<string, TfWeight> = decodeWeightGroups(model.weightsManifest, path.dirname(modelJsonPath), relativeTo, files);
  return { nodes: model.modelTopology.node, weights, files };
}

/** The distinct ops a graph uses, with counts (for manifests and to check coverage). */
export function listOps(model: TfGraphModel): Map<string, number> {
  const ops = new Map<string, number>();
  for (const n of model.nodes) ops.set(n.op, (ops.get(n.op) ?? 0) + 1);
  return ops;
}

/** Options for {@link convertTfGraph}. */
export interface TfGraphConvertOptions {
  /** ONNX graph name. */
  readonly graphName: string;
  /** ONNX input name and its NHWC shape (the batch may be symbolic; H, W, C must be numbers). */
  readonly input: { readonly name: string; readonly shape: readonly Dim[] };
  /** Builds the normalisation in front of the TF graph: takes the ONNX input, returns what the Placeholder sees. */
  readonly preprocess?: (g: GraphBuilder, input: string) => string;
  /**
   * The graph outputs: a TF tensor name (e.g. `Identity_1` or `node:0`) or a list of them to concatenate
   * along `concatAxis`, then optional post-processing, under the ONNX output name.
   */
  readonly outputs: readonly {
    readonly name: string;
    readonly from: readonly string[];
    readonly concatAxis?: number;
    readonly shape: readonly Dim[];
  }[];
}

interface Value {
  /** ONNX value name; empty until a constant is first used as a runtime input. */
  name: string;
  readonly shape: readonly Dim[];
  /** Present for constants: their data (folded into attributes or emitted lazily as initializers). */
  readonly weight?: TfWeight;
}

const decodeStr = (a: TfAttr | undefined): string => (a?.s ? Buffer.from(a.s, 'base64').toString('utf8') : '');
const listInts = (a: TfAttr | undefined): number[] => (a?.list?.i ?? []).map(Number);
const listStrs = (a: TfAttr | undefined): string[] => (a?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));

function num(d: Dim | undefined, what: string): number {
  if (typeof d !== 'number') throw new Error(`${what}: dimension ${String(d)} must be static`);
  return d;
}

/** Converts a parsed TFJS graph model to ONNX (opset 17). Deterministic: same input, same bytes. */
export function convertTfGraph(model: TfGraphModel, options: TfGraphConvertOptions): GraphBuilder {
  const g = new GraphBuilder(options.graphName);
  const values = new Map<string, Value>();
  const byName = new Map(model.nodes.map((n) => [n.name, n]));

  const ref = (input: string): Value => {
    const base = input.replace(/:0$/, '');
    if (/:\d+$/.test(base)) throw new Error(`input ${input}: multi-output TF nodes are not handled`);
    const v = values.get(base);
    if (!v) throw new Error(`input ${input} used before it is defined (graph not in topological order?)`);
    return v;
  };
  /** The ONNX name of a value, emitting a constant's initializer on first use. */
  const use = (v: Value): string => {
    if (!v.name) {
      const w = v.weight;
      if (!w) throw new Error('internal: value without name or data');
      v.name = w.dtype === 'int32' ? g.init('c', BigInt64Array.from(w.data, (x) => BigInt(x)), v.shape as number[]) : g.init('c', w.data as Float32Array, v.shape as number[]);
    }
    return v.name;
  };
  const constData = (input: string, what: string): TfWeight => {
    const w = ref(input).weight;
    if (!w) throw new Error(`${what}: input ${input} must be a constant`);
    return w;
  };
  const toNchw = (x: string): string => g.op('Transpose', [x], { perm: [0, 3, 1, 2] });
  const toNhwc = (x: string): string => g.op('Transpose', [x], { perm: [0, 2, 3, 1] });

  const broadcast = (a: readonly Dim[], b: readonly Dim[]): Dim[] => {
    const n = Math.max(a.length, b.length);
    const out: Dim[] = [];
    for (let i = 0; i < n; i++) {
      const x = a[a.length - n + i] ?? 1;
      const y = b[b.length - n + i] ?? 1;
      out.push(x === 1 ? y : x);
    }
    return out;
  };

  const activation = (node: TfNode, x: string, ops: readonly string[], extra: readonly string[]): string => {
    let out = x;
    for (const op of ops) {
      if (op === 'BiasAdd') continue;
      if (op === 'Relu') out = g.op('Relu', [out]);
      else if (op === 'Relu6') out = g.op('Clip', [out, g.floats([0]), g.floats([6])]);
      else if (op === 'Prelu') {
        const alpha = extra[1];
        if (!alpha) throw new Error(`${node.name}: Prelu without alpha input`);
        out = g.op('PRelu', [out, use(ref(alpha))]);
      } else throw new Error(`${node.name} (${node.op}): fused op ${op} is not handled`);
    }
    return out;
  };

  /** NHWC conv-like op with explicit TF padding: returns [onnx pads, out H, out W]. */
  const spatial = (node: TfNode, inShape: readonly Dim[], kh: number, kw: number, strides: number[], dilations: number[]): { pads: number[]; oh: number; ow: number } => {
    const padding = decodeStr(node.attr?.padding);
    const fmt = decodeStr(node.attr?.data_format) || 'NHWC';
    if (fmt !== 'NHWC') throw new Error(`${node.name}: data_format ${fmt} is not handled`);
    const h = num(inShape[1], `${node.name} input H`);
    const w = num(inShape[2], `${node.name} input W`);
    const [sh, sw] = [strides[1] ?? 1, strides[2] ?? 1];
    const [dh, dw] = [dilations[1] ?? 1, dilations[2] ?? 1];
    if (padding === 'SAME') {
      const [pt, pb] = samePads(h, kh, sh, dh);
      const [pl, pr] = samePads(w, kw, sw, dw);
      return { pads: [pt, pl, pb, pr], oh: Math.ceil(h / sh), ow: Math.ceil(w / sw) };
    }
    if (padding === 'VALID') return { pads: [0, 0, 0, 0], oh: Math.floor((h - ((kh - 1) * dh + 1)) / sh) + 1, ow: Math.floor((w - ((kw - 1) * dw + 1)) / sw) + 1 };
    throw new Error(`${node.name}: padding ${padding || '(none)'} is not handled`);
  };

  for (const node of model.nodes) {
    const inputs = (node.input ?? []).filter((i) => !i.startsWith('^'));
    const a = node.attr ?? {};
    const set = (name: string, shape: readonly Dim[]): void => void values.set(node.name, { name, shape });
    switch (node.op) {
      case 'Const': {
        const w = model.weights.get(node.name);
        if (!w) throw new Error(`Const ${node.name}: no weight with this name in the manifest`);
        values.set(node.name, { name: '', shape: w.shape, weight: w });
        break;
      }
      case 'Placeholder': {
        const x = g.input(options.input.name, options.input.shape);
        set(options.preprocess ? options.preprocess(g, x) : x, options.input.shape);
        break;
      }
      case 'Identity':
        values.set(node.name, ref(inputs[0] ?? ''));
        break;
      case 'Conv2D':
      case '_FusedConv2D':
      case 'DepthwiseConv2dNative': {
        const x = ref(inputs[0] ?? '');
        const f = constData(inputs[1] ?? '', node.name);
        const [kh, kw, cin, cout] = f.shape as [number, number, number, number];
        const depthwise = node.op === 'DepthwiseConv2dNative';
        const c = num(x.shape[3], `${node.name} input C`);
        if (!depthwise && cin !== c) throw new Error(`${node.name}: filter expects ${cin} channels, input has ${c}`);
        if (depthwise && cin !== c) throw new Error(`${node.name}: depthwise filter has ${cin} channels, input has ${c}`);
        const outC = depthwise ? cin * cout : cout;
        // TF [kh, kw, in, out|mult] -> ONNX [O, I/group, kh, kw]; depthwise output channel = i*mult+m.
        const wt = new Float32Array(f.data.length);
        for (let y = 0; y < kh; y++) {
          for (let xx = 0; xx < kw; xx++) {
            for (let i = 0; i < cin; i++) {
              for (let o = 0; o < cout; o++) {
                const src = f.data[((y * kw + xx) * cin + i) * cout + o] as number;
                if (depthwise) wt[((i * cout + o) * kh + y) * kw + xx] = src;
                else wt[((o * cin + i) * kh + y) * kw + xx] = src;
              }
            }
          }
        }
        const wName = g.init('w', wt, depthwise ? [outC, 1, kh, kw] : [cout, cin, kh, kw]);
        const strides = listInts(a.strides);
        const dil = listInts(a.dilations);
        const { pads, oh, ow } = spatial(node, x.shape, kh, kw, strides, dil);
        const fused = node.op === '_FusedConv2D' ? listStrs(a.fused_ops) : [];
        if (node.op === '_FusedConv2D' && fused[0] !== 'BiasAdd') throw new Error(`${node.name}: fused ops [${fused.join(',')}] must start with BiasAdd`);
        const convIn = [toNchw(use(x)), wName];
        if (fused[0] === 'BiasAdd') {
          const b = constData(inputs[2] ?? '', `${node.name} bias`);
          convIn.push(g.init('b', Float32Array.from(b.data), [outC]));
        }
        const conv = g.op('Conv', convIn, {
          kernel_shape: [kh, kw],
          strides: [strides[1] ?? 1, strides[2] ?? 1],
          dilations: [dil[1] ?? 1, dil[2] ?? 1],
          pads,
          group: depthwise ? cin : 1,
        });
        set(activation(node, toNhwc(conv), fused, inputs.slice(2)), [x.shape[0] ?? 1, oh, ow, outC]);
        break;
      }
      case 'MaxPool':
      case 'AvgPool': {
        const x = ref(inputs[0] ?? '');
        const k = listInts(a.ksize);
        const strides = listInts(a.strides);
        const [kh, kw] = [k[1] ?? 1, k[2] ?? 1];
        const { pads, oh, ow } = spatial(node, x.shape, kh, kw, strides, []);
        // ONNX AveragePool's default count_include_pad=0 matches TF's SAME averaging over valid pixels.
        const pool = g.op(node.op === 'MaxPool' ? 'MaxPool' : 'AveragePool', [toNchw(use(x))], { kernel_shape: [kh, kw], strides: [strides[1] ?? 1, strides[2] ?? 1], pads });
        set(toNhwc(pool), [x.shape[0] ?? 1, oh, ow, x.shape[3] ?? 1]);
        break;
      }
      case 'Pad': {
        const x = ref(inputs[0] ?? '');
        const p = Array.from(constData(inputs[1] ?? '', `${node.name} paddings`).data);
        const rank = x.shape.length;
        const begins = Array.from({ length: rank }, (_, i) => p[2 * i] ?? 0);
        const ends = Array.from({ length: rank }, (_, i) => p[2 * i + 1] ?? 0);
        const shape = x.shape.map((d, i) => (typeof d === 'number' ? d + (begins[i] ?? 0) + (ends[i] ?? 0) : d));
        set(g.op('Pad', [use(x), g.ints([...begins, ...ends])], { mode: 'constant' }), shape);
        break;
      }
      case 'Add':
      case 'AddV2':
      case 'Sub':
      case 'Mul':
      case 'RealDiv':
      case 'Minimum':
      case 'Maximum': {
        const x = ref(inputs[0] ?? '');
        const y = ref(inputs[1] ?? '');
        const onnxOp = { Add: 'Add', AddV2: 'Add', Sub: 'Sub', Mul: 'Mul', RealDiv: 'Div', Minimum: 'Min', Maximum: 'Max' }[node.op] as string;
        set(g.op(onnxOp, [use(x), use(y)]), broadcast(x.shape, y.shape));
        break;
      }
      case 'Relu':
      case 'Sigmoid':
      case 'Tanh': {
        const x = ref(inputs[0] ?? '');
        set(g.op(node.op, [use(x)]), x.shape);
        break;
      }
      case 'Relu6': {
        const x = ref(inputs[0] ?? '');
        set(g.op('Clip', [use(x), g.floats([0]), g.floats([6])]), x.shape);
        break;
      }
      case 'Softmax': {
        const x = ref(inputs[0] ?? '');
        set(g.op('Softmax', [use(x)], { axis: -1 }), x.shape);
        break;
      }
      case 'Reshape': {
        const x = ref(inputs[0] ?? '');
        const shape = Array.from(constData(inputs[1] ?? '', `${node.name} shape`).data);
        set(g.op('Reshape', [use(x), g.ints(shape)]), shape.map((d, i) => (d === -1 ? (i === 0 ? (x.shape[0] ?? 'batch') : -1) : d)));
        break;
      }
      case 'Mean': {
        const x = ref(inputs[0] ?? '');
        const axes = Array.from(constData(inputs[1] ?? '', `${node.name} axes`).data).map((ax) => (ax < 0 ? ax + x.shape.length : ax));
        const keep = a.keep_dims?.b === true;
        const shape = keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
        set(g.op('ReduceMean', [use(x)], { axes, keepdims: keep ? 1 : 0 }), shape);
        break;
      }
      case 'MatMul':
      case '_FusedMatMul': {
        const x = ref(inputs[0] ?? '');
        const wv = ref(inputs[1] ?? '');
        if (a.transpose_a?.b) throw new Error(`${node.name}: transpose_a is not handled`);
        let wName: string;
        let outDim: Dim;
        if (a.transpose_b?.b) {
          const w = constData(inputs[1] ?? '', `${node.name} weights`);
          const [n, k] = w.shape as [number, number];
          const t = new Float32Array(w.data.length);
          for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) t[j * n + i] = w.data[i * k + j] as number;
          wName = g.init('w', t, [k, n]);
          outDim = n;
        } else {
          wName = use(wv);
          outDim = wv.shape[1] ?? 1;
        }
        let out = g.op('MatMul', [use(x), wName]);
        const fused = node.op === '_FusedMatMul' ? listStrs(a.fused_ops) : [];
        if (fused[0] === 'BiasAdd') out = g.op('Add', [out, use(ref(inputs[2] ?? ''))]);
        else if (node.op === '_FusedMatMul') throw new Error(`${node.name}: fused ops [${fused.join(',')}] must start with BiasAdd`);
        set(activation(node, out, fused, inputs.slice(2)), [x.shape[0] ?? 1, outDim]);
        break;
      }
      default:
        throw new Error(`TF op ${node.op} (node ${node.name}) is not handled by the TFJS graph converter`);
    }
  }

  for (const out of options.outputs) {
    const parts = out.from.map((f) => {
      if (!byName.has(f.replace(/:0$/, ''))) throw new Error(`output ${out.name}: TF node ${f} not found`);
      return use(ref(f));
    });
    const v = parts.length === 1 ? (parts[0] as string) : g.op('Concat', parts, { axis: out.concatAxis ?? 0 });
    g.alias(v, out.name);
    g.output(out.name, out.shape);
  }
  return g;
}
