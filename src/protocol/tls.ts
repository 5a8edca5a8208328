import { X509Certificate } from 'node:crypto';
import { OutpostError } from './errors.ts';

/** The oldest TLS version the hub accepts. */
export const HUB_TLS_MIN_VERSION = 'TLSv1.2';

/** Refuse a CA that is not PEM certificates (the message never quotes the file). */
export function checkCaPem(pem: string): void {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new OutpostError('TLS_CONFIG_INVALID', 'the CA file holds no PEM certificate');
  for (const [i, b] of blocks.entries()) {
    try {
      new X509Certificate(b);
    } catch {
      throw new OutpostError('TLS_CONFIG_INVALID', `certificate ${i + 1} of the CA file cannot be parsed`);
    }
  }
}
