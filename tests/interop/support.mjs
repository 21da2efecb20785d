// What both interop tests share: the test keys, the official SDK as a public-key-mode merchant
// configures it, the simulator's control routes, and Beijing time.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AlipaySdk } from 'alipay-sdk';

const here = path.dirname(fileURLToPath(import.meta.url));

export const APP_ID = '2021000000000001';

/** A file of tests/vectors/keys. */
export const key = (name) => fs.readFileSync(path.join(here, '..', 'vectors', 'keys', name), 'utf8');

/**
 * The simulator whose gateway URL is in the environment variable `name` (`what` says which, for
 * the error when it is not set): that URL, its base URL, and a caller of its control routes that
 * answers `{ status, body }` (the body parsed when it is JSON).
 */
export function simulator(name, what) {
  const url = process.env[name];
  if (!url) throw new Error(`${name} (${what}) is not set`);
  const base = url.replace(/\/gateway\.do$/, '');
  async function control(method, route, body) {
    const res = await fetch(base + route, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: res.status, body: json };
  }
  return { url, base, control };
}

/** The SDK in public-key mode against `gateway`, signing with the test key `privateKeyFile`. */
export function keyModeSdk(gateway, privateKeyFile, extra = {}) {
  return new AlipaySdk({
    appId: APP_ID,
    privateKey: key(privateKeyFile),
    alipayPublicKey: key('alipay_public_spki.pem'),
    gateway,
    keyType: 'PKCS1',
    camelcase: false,
    ...extra,
  });
}

/** `yyyy-MM-dd HH:mm:ss` in Beijing time, `offsetDays` from now. */
export function beijing(offsetDays) {
  const d = new Date(Date.now() + 8 * 3600e3 + offsetDays * 86400e3);
  return d.toISOString().slice(0, 19).replace('T', ' ');
}
