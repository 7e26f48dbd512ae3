import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { displayPath } from '../../lang/include.ts';
import { Reporter, type Check } from './check.ts';

// TLS servers need certificates; those present on disk are looked at. A file
// that is not there is a warning only, so that `lbconf check` runs in CI
// without the secrets. Problems with the files are warnings too: `lbconf run`
// refuses what TLS itself cannot use.

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Does `cert` cover the server name (exact, `*.x`, `.x`), as a client would check it? */
function covers(cert: X509Certificate, name: string): boolean {
  if (name === '' || name === '_' || name.startsWith('~') || name.endsWith('.*')) return true; // nothing a client could send to check
  const host = name.startsWith('*.') ? `x.${name.slice(2)}` : name.startsWith('.') ? name.slice(1) : name;
  return cert.checkHost(host) !== undefined;
}

export const checkTls: Check = (input) => {
  const r = new Reporter(input);
  const now = Date.now();
  input.ir.servers.forEach((server, s) => {
    const tls = server.tls;
    if (!tls) return;
    const ssl = server.listen.findIndex((l) => l.ssl);
    if (tls.certificates.length === 0) {
      r.report('error', 'missing-certificate', `/servers/${s}/listen/${ssl}`, 'this server listens with `ssl` but has no `ssl_certificate`', 'add `ssl_certificate` and `ssl_certificate_key` to the server block or the top level');
      return;
    }
    tls.certificates.forEach((pair, i) => {
      const pointer = `/servers/${s}/tls/certificates/${i}`;
      const certText = read(pair.cert);
      if (certText === null) {
        r.report('warning', 'certificate-not-found', `${pointer}/cert`, `certificate file ${displayPath(pair.cert)} cannot be read here; lbconf run will need it`, 'this is fine in CI without the secrets');
        return;
      }
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(certText);
      } catch {
        r.report('warning', 'certificate-invalid', `${pointer}/cert`, `${displayPath(pair.cert)} is not a PEM certificate`, 'the file should start with -----BEGIN CERTIFICATE-----');
        return;
      }
      if (Date.parse(cert.validTo) < now) {
        r.report('warning', 'certificate-expired', `${pointer}/cert`, `the certificate expired on ${new Date(cert.validTo).toISOString().slice(0, 10)}`, 'renew it');
      } else if (Date.parse(cert.validFrom) > now) {
        r.report('warning', 'certificate-not-yet-valid', `${pointer}/cert`, `the certificate is not valid before ${new Date(cert.validFrom).toISOString().slice(0, 10)}`, 'check the clock, or the certificate');
      }
      const uncovered = server.serverNames.filter((n) => !covers(cert, n));
      if (uncovered.length > 0) {
        r.report('warning', 'certificate-name-mismatch', `${pointer}/cert`, `the certificate does not cover ${uncovered.map((n) => `\`${n}\``).join(', ')} (it is for ${cert.subjectAltName ?? cert.subject.replace(/\n/g, ', ')})`, 'clients will reject it for those names: use a certificate that lists them');
      }
      const keyText = read(pair.key);
      if (keyText === null) {
        r.report('warning', 'certificate-not-found', `${pointer}/key`, `key file ${displayPath(pair.key)} cannot be read here; lbconf run will need it`, 'this is fine in CI without the secrets');
        return;
      }
      try {
        if (!cert.checkPrivateKey(createPrivateKey(keyText))) {
          r.report('error', 'certificate-key-mismatch', `${pointer}/key`, `the key in ${displayPath(pair.key)} does not belong to the certificate ${displayPath(pair.cert)}`, 'pair each `ssl_certificate` with its own key, in the same order');
        }
      } catch {
        r.report('warning', 'certificate-invalid', `${pointer}/key`, `${displayPath(pair.key)} is not a PEM private key (or it is encrypted)`, 'lbconf needs an unencrypted PEM key');
      }
    });
  });
  input.ir.upstreams.forEach((u, i) => {
    const tls = u.tls;
    if (tls && (tls.cert === null) !== (tls.key === null)) {
      r.report('error', 'unpaired-certificate', `/upstreams/${i}/tls/${tls.cert === null ? 'key' : 'cert'}`, tls.cert === null ? '`proxy_ssl_certificate_key` has no `proxy_ssl_certificate` to go with it' : '`proxy_ssl_certificate` has no `proxy_ssl_certificate_key` to go with it', 'give both, or neither');
    }
  });
  return r.out;
};
