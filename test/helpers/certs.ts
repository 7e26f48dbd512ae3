import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/** A self-signed EC certificate for `name` (its common name and DNS subjectAltName), PEM. */
export async function selfSigned(name: string): Promise<{ cert: string; key: string }> {
  const p = await generate([{ name: 'commonName', value: name }], { keyType: 'ec', algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: name }] }] } as never);
  return { cert: p.cert, key: p.private };
}

/** selfSigned(name) written to a new temporary folder as NAME.pem and NAME.key: their paths, for ssl_certificate and ssl_certificate_key. */
export async function certFiles(name: string): Promise<{ cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'lbconf-cert-'));
  const pem = await selfSigned(name);
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  writeFileSync(files.cert, pem.cert);
  writeFileSync(files.key, pem.key);
  return files;
}
