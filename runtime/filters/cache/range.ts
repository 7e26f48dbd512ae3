// `Range: bytes=…` on a stored full response (RFC 9110 §14): one range is
// answered with 206, an unsatisfiable one with 416; several ranges, or a unit
// other than bytes, get the whole response (a server may ignore Range).

/** [start, end] inclusive; 'unsatisfiable'; or null for "send it all". */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    // A suffix: the last N bytes.
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return null; // invalid: ignored, as the RFC says
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}

/** The chunks covering bytes [start, end] of a body stored as `chunks`, sliced without copying. */
export function sliceChunks(chunks: readonly Buffer[], start: number, end: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const c of chunks) {
    const from = Math.max(start, at);
    const to = Math.min(end + 1, at + c.length);
    if (from < to) out.push(c.subarray(from - at, to - at));
    at += c.length;
    if (at > end) break;
  }
  return out;
}
