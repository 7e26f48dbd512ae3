// `npm start`: three small demo backends on 127.0.0.1:9001-9003, and lbconf
// serving examples/quickstart.lbconf in front of them on 127.0.0.1:8080.
// Try: curl -s localhost:8080/ several times and watch the backend change.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

const backends = [9001, 9002, 9003].map((port, i) => {
  const name = `backend-${i + 1}`;
  return createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`hello from ${name} (port ${port}), you asked for ${req.url}\n`);
  }).listen(port, '127.0.0.1');
});

const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const config = fileURLToPath(new URL('../examples/quickstart.lbconf', import.meta.url));
const lbconf = spawn(process.execPath, [main, 'run', config], { stdio: 'inherit' });
process.stderr.write('demo backends on 127.0.0.1:9001-9003; lbconf on http://127.0.0.1:8080/ (Ctrl-C to stop)\n');

const stop = () => lbconf.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
lbconf.on('exit', (code) => {
  for (const b of backends) b.close();
  process.exit(code ?? 0);
});
