/**
 * What grew between two V8 heap snapshots, by kind of object: the tool behind the per-connection
 * breakdowns in docs/benchmarks.md.
 *
 *   node bench/dist/memory/heap-diff.js BEFORE.heapsnapshot AFTER.heapsnapshot [--per N] [--top 40]
 *   node bench/dist/memory/heap-diff.js BEFORE AFTER --retainers 'object Object'   (who holds them, in AFTER)
 *
 * Objects are grouped by snapshot node type and name (the constructor for objects, the function
 * name for closures, `(string)` for strings, V8's own names for hidden and array nodes). Sizes are
 * shallow (self) sizes, so the groups add up to the heap's growth; `--per N` divides by N (the
 * connections opened between the snapshots). Prints a table and, last, one JSON line.
 */
import { readFileSync } from 'node:fs';
import { arg } from './settle.js';

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: unknown[]; edge_fields: string[]; edge_types: unknown[] };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Group {
  count: number;
  bytes: number;
}

function load(file: string): Snapshot {
  return JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
}

/** The group key of every node ("type name"), in node order. */
function keys(snap: Snapshot): string[] {
  const fields = snap.snapshot.meta.node_fields;
  const typeNames = snap.snapshot.meta.node_types[0] as string[];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const { nodes, strings } = snap;
  const out: string[] = [];
  for (let i = 0; i < nodes.length; i += width) {
    const type = typeNames[nodes[i + typeAt]!]!;
    // Strings and numbers are grouped by type alone: their "names" are their contents.
    const name =
      type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number'
        ? ''
        : strings[nodes[i + nameAt]!]!.slice(0, 60);
    out.push(name ? `${type} ${name}` : `(${type})`);
  }
  return out;
}

/** Groups a snapshot's nodes by key, summing self sizes. */
function groups(snap: Snapshot): Map<string, Group> {
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const sizeAt = fields.indexOf('self_size');
  const out = new Map<string, Group>();
  const all = keys(snap);
  for (let n = 0; n < all.length; n++) {
    const g = out.get(all[n]!) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += snap.nodes[n * width + sizeAt]!;
    out.set(all[n]!, g);
  }
  return out;
}

/**
 * Who holds the nodes of one group: counts of "parent group -edge-> " over every edge that
 * points at a node of the group (weak edges left out), most frequent first.
 */
function retainers(snap: Snapshot, group: string, top: number): void {
  const meta = snap.snapshot.meta;
  const width = meta.node_fields.length;
  const edgeWidth = meta.edge_fields.length;
  const edgeCountAt = meta.node_fields.indexOf('edge_count');
  const edgeTypeAt = meta.edge_fields.indexOf('type');
  const edgeNameAt = meta.edge_fields.indexOf('name_or_index');
  const toAt = meta.edge_fields.indexOf('to_node');
  const edgeTypes = meta.edge_types[0] as string[];
  const all = keys(snap);
  const counts = new Map<string, number>();
  let e = 0;
  for (let n = 0; n < all.length; n++) {
    const edges = snap.nodes[n * width + edgeCountAt]!;
    for (let k = 0; k < edges; k++, e += edgeWidth) {
      const to = snap.edges[e + toAt]! / width;
      if (all[to] !== group) continue;
      const type = edgeTypes[snap.edges[e + edgeTypeAt]!]!;
      if (type === 'weak') continue;
      const raw = snap.edges[e + edgeNameAt]!;
      const name = type === 'element' || type === 'hidden' ? `[${type}]` : snap.strings[raw]!;
      const key = `${all[n]} -${name}->`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  const rows = [...counts].sort((p, q) => q[1] - p[1]).slice(0, top);
  console.log(`retainers of ${group}:`);
  for (const [key, count] of rows) console.log(`${String(count).padStart(9)}  ${key}`);
}

function main(): void {
  const [before, after] = process.argv
    .slice(2)
    .filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
  if (!before || !after) throw new Error('usage: heap-diff.js BEFORE AFTER [--per N] [--top 40]');
  const per = Number(arg('per') ?? 1);
  const top = Number(arg('top') ?? 40);
  const after_ = load(after);
  const held = arg('retainers');
  if (held) {
    retainers(after_, held, top);
    return;
  }
  const a = groups(load(before));
  const b = groups(after_);
  const rows: { key: string; count: number; bytes: number }[] = [];
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key) ?? { count: 0, bytes: 0 };
    const y = b.get(key) ?? { count: 0, bytes: 0 };
    rows.push({ key, count: (y.count - x.count) / per, bytes: (y.bytes - x.bytes) / per });
  }
  rows.sort((p, q) => q.bytes - p.bytes);
  const total = rows.reduce((s, r) => s + r.bytes, 0);
  const fmt = (n: number) => n.toFixed(1).padStart(9);
  console.log(`${'bytes'.padStart(9)} ${'count'.padStart(9)}  group   (per ${per})`);
  for (const r of rows.slice(0, top)) console.log(`${fmt(r.bytes)} ${fmt(r.count)}  ${r.key}`);
  console.log(`${fmt(total)} ${''.padStart(9)}  total`);
  console.log(JSON.stringify({ per, totalBytes: Math.round(total), top: rows.slice(0, top) }));
}

main();
