/**
 * A minimal, deterministic ONNX (protobuf) writer and graph builder.
 * Hand-written so that converting the same weights twice gives byte-identical files:
 * fields are emitted in a fixed order, names are assigned by counters, no timestamps.
 */

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

class Writer {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      out.push(byte);
    } while (v !== 0n);
    this.push(Uint8Array.from(out));
  }

  tag(field: number, wire: 0 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number | bigint): void {
    this.tag(field, 0);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, 2);
    this.varint(value.length);
    this.push(value);
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: Writer) => void): void {
    const inner = new Writer();
    build(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

/** Tensor data accepted by the builder. */
export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

export interface TensorSpec {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

function dataTypeOf(data: TensorData): DataTypeId {
  if (data instanceof Float32Array) return DataType.FLOAT;
  if (data instanceof Int32Array) return DataType.INT32;
  if (data instanceof BigInt64Array) return DataType.INT64;
  return DataType.UINT8;
}

function writeTensor(w: Writer, t: TensorSpec): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, dataTypeOf(t.data));
  w.string(8, t.name);
  // raw_data is little-endian; every platform Node runs on here is little-endian.
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

/** An attribute value. Plain numbers are ints; wrap floats with {@link float}/{@link floats}. */
export type AttrValue =
  | number
  | string
  | readonly number[]
  | { readonly float: number }
  | { readonly floats: readonly number[] }
  | { readonly tensor: TensorSpec };

export const float = (value: number): AttrValue => ({ float: value });
export const floats = (values: readonly number[]): AttrValue => ({ floats: values });

function writeAttr(w: Writer, name: string, value: AttrValue): void {
  w.string(1, name);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: ${value} is not an int; wrap floats with float()`);
    w.int(3, value);
    w.int(20, 2);
  } else if (typeof value === 'string') {
    w.string(4, value);
    w.int(20, 3);
  } else if (Array.isArray(value)) {
    for (const v of value as readonly number[]) {
      if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an int; use floats()`);
      w.int(8, v);
    }
    w.int(20, 7);
  } else if ('float' in value) {
    w.float(2, value.float);
    w.int(20, 1);
  } else if ('floats' in value) {
    for (const v of value.floats) w.float(7, v);
    w.int(20, 6);
  } else if ('tensor' in value) {
    w.message(5, (t) => writeTensor(t, value.tensor));
    w.int(20, 4);
  }
}

interface ValueInfo {
  readonly name: string;
  readonly elemType: DataTypeId;
  /** Numbers are fixed sizes; strings are symbolic (e.g. "batch"). */
  readonly shape: readonly (number | string)[];
}

interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name: string;
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.elemType);
      tensor.message(2, (shape) => {
        for (const d of v.shape) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

/** Metadata written into the model (ModelProto.metadata_props), e.g. source package and sha256. */
export type ModelMetadata = Readonly<Record<string, string>>;

/** Builds one ONNX graph; node and constant names come from counters, so output is deterministic. */
export class GraphBuilder {
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly initializers: TensorSpec[] = [];
  private readonly nodes: NodeSpec[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly graphName: string) {}

  /** A fresh unique name with the given prefix. */
  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  input(name: string, shape: readonly (number | string)[], elemType: DataTypeId = DataType.FLOAT): string {
    this.names.add(name);
    this.inputs.push({ name, elemType, shape });
    return name;
  }

  output(name: string, shape: readonly (number | string)[], elemType: DataTypeId = DataType.FLOAT): string {
    this.outputs.push({ name, elemType, shape });
    return name;
  }

  /** Adds an initializer (weights). Returns its name. */
  init(prefix: string, data: TensorData, dims: readonly number[]): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected) throw new Error(`initializer ${prefix}: ${data.length} values for dims [${dims.join(',')}] (expected ${expected})`);
    const name = this.fresh(prefix);
    this.initializers.push({ name, dims, data });
    return name;
  }

  /** int64 1-D constant, e.g. a shape or axes. */
  ints(values: readonly number[], prefix = 'const_i64'): string {
    return this.init(prefix, BigInt64Array.from(values.map((v) => BigInt(v))), [values.length]);
  }

  /** float32 constant with the given dims (default: scalar). */
  floats(values: readonly number[] | Float32Array, dims: readonly number[] = [], prefix = 'const_f32'): string {
    return this.init(prefix, Float32Array.from(values), dims);
  }

  /** Adds a node and returns its output names. */
  node(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}, outputCount = 1, outputNames?: readonly string[]): string[] {
    const name = this.fresh(op.toLowerCase());
    const outputs = outputNames ? [...outputNames] : Array.from({ length: outputCount }, (_, i) => (outputCount === 1 ? `${name}_out` : `${name}_out${i}`));
    for (const o of outputs) this.names.add(o);
    this.nodes.push({ op, inputs, outputs, name, attrs });
    return outputs;
  }

  /** Single-output convenience form of {@link node}. */
  op(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}): string {
    return this.node(op, inputs, attrs)[0] as string;
  }

  /** Renames the final value `from` to the graph output name `to` with an Identity node. */
  alias(from: string, to: string): string {
    this.node('Identity', [from], {}, 1, [to]);
    return to;
  }

  /** Serialises the model. */
  toBytes(options: { opset?: number; producerVersion: string; metadata?: ModelMetadata; docString?: string }): Uint8Array {
    const w = new Writer();
    w.int(1, 8); // ir_version 8 (ONNX 1.10+), understood by every current onnxruntime
    w.string(2, 'crowdlens-models');
    w.string(3, options.producerVersion);
    if (options.docString) w.string(6, options.docString);
    w.message(7, (g) => {
      for (const n of this.nodes) {
        g.message(1, (nw) => {
          for (const i of n.inputs) nw.string(1, i);
          for (const o of n.outputs) nw.string(2, o);
          nw.string(3, n.name);
          nw.string(4, n.op);
          for (const [k, v] of Object.entries(n.attrs)) nw.message(5, (aw) => writeAttr(aw, k, v));
        });
      }
      g.string(2, this.graphName);
      for (const t of this.initializers) g.message(5, (tw) => writeTensor(tw, t));
      for (const v of this.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
      for (const v of this.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
    });
    w.message(8, (o) => {
      o.string(1, '');
      o.int(2, options.opset ?? 17);
    });
    for (const [k, v] of Object.entries(options.metadata ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
      w.message(14, (m) => {
        m.string(1, k);
        m.string(2, v);
      });
    }
    return w.finish();
  }
}
