import { parentPort } from 'node:worker_threads';
import { checkFile } from '../compiler/check.ts';
import { planSource } from '../compiler/plan.ts';
import { hasErrors } from '../lang/diagnostic.ts';

// Checks and compiles configs off the serving thread, so that a reload of a
// large config does not stall requests. It sends back plain data: the
// diagnostics, the files it read, the IR, and the Plan's source (which the
// serving thread loads with loadPlan).

parentPort!.on('message', (msg: { id: number; file: string }) => {
  try {
    const result = checkFile(msg.file);
    const files = result.files.map((f) => ({ file: f.file, source: f.source }));
    if (hasErrors(result.diagnostics)) {
      parentPort!.postMessage({ id: msg.id, ok: false, diagnostics: result.diagnostics, files, ir: result.ir });
      return;
    }
    const source = planSource(result.ir, result.locs, { file: result.files[0]?.file });
    parentPort!.postMessage({ id: msg.id, ok: true, diagnostics: result.diagnostics, files, ir: result.ir, source });
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, ok: false, diagnostics: [], files: [], ir: null, error: (err as Error).message });
  }
});
