import { compileHere, type CompileAnswer, type CompileRequest } from './compiler-process.ts';

// The compile worker: a child process of `lbconf run` that checks and compiles
// configs, so that a reload of a large config does not stall requests and the
// serving process never holds the compiler (runtime/control/compiler-process.ts). It
// sends back plain data: the diagnostics, the files it read, the IR, and the
// Plan's source (which the serving process loads with loadPlan). It exits when
// its parent closes the channel, or dies.

process.on('message', (msg: CompileRequest) => {
  void compileHere(msg.file).then((outcome) => process.send!({ id: msg.id, ...outcome } satisfies CompileAnswer));
});
process.on('disconnect', () => process.exit(0));
