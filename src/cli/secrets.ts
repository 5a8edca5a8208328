import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { OutpostError } from '../protocol/index.ts';
import { openAdapter, type OpenOptions } from '../adapters/open.ts';
import type { Adapter } from '../adapters/adapter.ts';
import { HUB_TLS_MIN_VERSION, checkCaPem } from '../protocol/tls.ts';

/**
 * Files the CLI reads for TLS and encryption at rest. Their contents (keys,
 * certificates) never go into a message: only the file's name and what is
 * wrong with it.
 */

function readSecretFile(file: string, what: string, code: 'TLS_CONFIG_INVALID' | 'DB_KEY_INVALID'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new OutpostError(code, `cannot read the ${what} ${file} (${(e as { code?: string }).code ?? (e as Error).message})`);
  }
}

/** `--ca FILE`: the PEM text of the CA to trust for an https:// hub. */
export function readCa(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  const pem = readSecretFile(file, 'CA file', 'TLS_CONFIG_INVALID');
  try {
    checkCaPem(pem);
  } catch (e) {
    if (e instanceof OutpostError) throw new OutpostError(e.code, `${file}: ${e.message}`);
    throw e;
  }
  return pem;
}

/**
 * `--tls-cert FILE --tls-key FILE`: the hub's certificate (chain) and key,
 * checked together (a key that does not match the certificate is refused
 * here, not at the first connection).
 */
export function loadHubTls(o: { tlsCert?: string; tlsKey?: string }): { cert: string; key: string } | undefined {
  if (o.tlsCert === undefined && o.tlsKey === undefined) return undefined;
  if (o.tlsCert === undefined || o.tlsKey === undefined) throw new OutpostError('TLS_CONFIG_INVALID', '--tls-cert and --tls-key go together: give both to serve HTTPS');
  const cert = readSecretFile(o.tlsCert, 'certificate file', 'TLS_CONFIG_INVALID');
  const key = readSecretFile(o.tlsKey, 'key file', 'TLS_CONFIG_INVALID');
  if (!/-----BEGIN CERTIFICATE-----/.test(cert)) throw new OutpostError('TLS_CONFIG_INVALID', `${o.tlsCert} holds no PEM certificate`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) throw new OutpostError('TLS_CONFIG_INVALID', `${o.tlsKey} holds no PEM private key`);
  try {
    createSecureContext({ cert, key, minVersion: HUB_TLS_MIN_VERSION });
  } catch (e) {
    // OpenSSL's reason only (e.g. "key values mismatch"), never the files' text.
    const reason = /::?([a-z ]+)$/i.exec((e as Error).message)?.[1] ?? (e as { code?: string }).code ?? 'unusable';
    throw new OutpostError('TLS_CONFIG_INVALID', `the certificate ${o.tlsCert} and key ${o.tlsKey} cannot be used together: ${reason}`);
  }
  return { cert, key };
}

/** The environment variable that holds a SQLite database's encryption key. */
export const DB_KEY_ENV = 'OUTPOST_DB_KEY';

/**
 * The encryption key of a SQLite database: the content of `--db-key-file`
 * (one trailing newline dropped), else `OUTPOST_DB_KEY`, else none. Never
 * taken from the command line itself.
 */
export function dbKey(o: { dbKeyFile?: string }): string | undefined {
  let key: string | undefined;
  let from: string;
  if (o.dbKeyFile !== undefined) {
    key = readSecretFile(o.dbKeyFile, 'key file', 'DB_KEY_INVALID').replace(/\r?\n$/, '');
    from = `the key file ${o.dbKeyFile}`;
  } else {
    key = process.env[DB_KEY_ENV];
    from = DB_KEY_ENV;
    if (!key) return undefined; // unset or empty, as for OUTPOST_ADMIN_TOKEN
  }
  if (key.length === 0) throw new OutpostError('DB_KEY_INVALID', `${from} is empty`);
  return key;
}

/** The options of the command being run (set by main.ts before its action), for `--db-key-file`. */
let commandOptions: { dbKeyFile?: string } = {};

export function setCommandOptions(o: { dbKeyFile?: string }): void {
  commandOptions = o;
}

/** Open the command's database with its encryption key, if any (`--db-key-file`, `OUTPOST_DB_KEY`). */
export function openDb(url: string, opts: Omit<OpenOptions, 'key'> = {}): Promise<Adapter> {
  return openAdapter(url, { ...opts, key: dbKey(commandOptions) });
}
