import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A private CA and a hub certificate it signed, made with the `openssl` command (Debian package `openssl`). */
export interface TestPki {
  /** PEM files */
  caFile: string;
  certFile: string;
  keyFile: string;
  /** a second CA that signed nothing of the hub's: trusting it is the "wrong CA" */
  otherCaFile: string;
  ca: string;
  cert: string;
  key: string;
  otherCa: string;
}

function openssl(cwd: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`the openssl command is needed for the TLS tests (Debian package openssl): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=Outpost test ${name}`]);
}

/** Make the CA, a second CA, and a hub certificate for 127.0.0.1 and localhost signed by the first, in `dir`. */
export function makePki(dir: string, hosts: string[] = ['IP:127.0.0.1', 'DNS:localhost']): TestPki {
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  writeFileSync(join(dir, 'hub.ext'), `subjectAltName=${hosts.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`);
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'hub.key', '-out', 'hub.csr', '-subj', '/CN=outpost hub']);
  openssl(dir, ['x509', '-req', '-in', 'hub.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'hub.pem', '-days', '2', '-extfile', 'hub.ext']);
  const f = (n: string): string => join(dir, n);
  return {
    caFile: f('ca.pem'), certFile: f('hub.pem'), keyFile: f('hub.key'), otherCaFile: f('other-ca.pem'),
    ca: readFileSync(f('ca.pem'), 'utf8'), cert: readFileSync(f('hub.pem'), 'utf8'), key: readFileSync(f('hub.key'), 'utf8'), otherCa: readFileSync(f('other-ca.pem'), 'utf8'),
  };
}
