// Writes the certificates the conformance corpus uses (spec/tests/certs/): one
// valid for example.com until 2099, one expired, one not valid before 2090,
// and a key that belongs to none of them. Run once; the files are committed.
import { writeFileSync } from 'node:fs';
import { generate } from 'selfsigned';

const dir = new URL('../spec/tests/certs/', import.meta.url);
const make = async (name: string, cn: string, from: string, to: string) => {
  const pems = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec', algorithm: 'sha256', notBeforeDate: new Date(from), notAfterDate: new Date(to),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: cn }, { type: 2, value: `*.${cn}` }] }],
  } as never);
  writeFileSync(new URL(`${name}.pem`, dir), pems.cert);
  writeFileSync(new URL(`${name}.key`, dir), pems.private);
};
await make('example.com', 'example.com', '2020-01-01', '2099-12-31');
await make('expired', 'example.com', '2000-01-01', '2001-01-01');
await make('future', 'example.com', '2090-01-01', '2099-12-31');
await make('other', 'other.test', '2020-01-01', '2099-12-31');
process.stdout.write('wrote spec/tests/certs/\n');
