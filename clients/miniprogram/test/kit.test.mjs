// The kit against the real local stack (moto, the Alipay simulator, the function binaries under
// local-stack), started by the integration tests' own harness (tests/examples/stack.rs). Only the
// `my.*` calls are stubbed, at the edge: my.getAuthCode asks the simulator for an auth code (as the
// Alipay app would get one), my.request is fetch, my.ap.navigateToAlipayPage plays the claim
// component through the simulator's /sim/claim (which calls the template's callback).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';

import { createRewards, claimPageUrl, channelDataKey, RewardsError, CLAIM_PAGE_APP_ID } from '../rewards.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const target = process.env.CARGO_TARGET_DIR || join(root, 'target');
const stackBin = join(target, 'debug', 'examples', 'stack');

let stack;
let api;
let sim;

before(async () => {
  assert.ok(existsSync(stackBin), `${stackBin} is missing: cargo build -p integration-tests --example stack (make test does)`);
  stack = spawn(stackBin, [], { stdio: ['ignore', 'pipe', 'inherit'] });
  const urls = await new Promise((resolve, reject) => {
    let out = '';
    stack.stdout.on('data', (chunk) => {
      out += chunk;
      const a = /^api=(.+)$/m.exec(out);
      const s = /^sim=(.+)$/m.exec(out);
      if (a && s) resolve({ api: a[1].trim(), sim: s[1].trim() });
    });
    stack.on('exit', (code) => reject(new Error(`the stack exited (${code}) before it was ready`)));
  });
  api = urls.api;
  sim = urls.sim;
});

after(() => {
  if (stack) stack.kill('SIGTERM');
});

async function json(url, init) {
  const r = await fetch(url, init);
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** A pass template on the stack (an operator route: locally any SigV4-looking header passes). */
async function createTemplate(title) {
  const tpl = JSON.parse(readFileSync(join(root, 'infra/local-stack/fixtures/pass.json'), 'utf8'));
  tpl.merchant.mcallbackUrl = `${api}/alipay/pass-callback`;
  tpl.evoucherInfo.title = title;
  const r = await json(`${api}/templates`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify(tpl),
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.templateId;
}

let seq = 0;
function newUserId() {
  seq += 1;
  const n = (BigInt(Date.now()) * 1000n + BigInt(process.pid % 1000) * 7n + BigInt(seq)) % 1000000000000n;
  return `2088${n.toString().padStart(12, '0')}`;
}

/**
 * The `my` of an Alipay app logged in as `userId`, stubbed at the edge. `calls` counts them.
 */
function fakeMy(userId) {
  const storage = new Map();
  const calls = { getAuthCode: 0, request: 0, navigate: [] };
  const my = {
    getAuthCode({ scopes, success, fail }) {
      calls.getAuthCode += 1;
      assert.equal(scopes, 'auth_base');
      json(`${sim}/sim/auth-codes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId }) })
        .then((r) => (r.status === 201 ? success({ authCode: r.body.code }) : fail({ error: 11, errorMessage: 'auth failed' })))
        .catch((e) => fail({ error: 12, errorMessage: String(e) }));
    },
    // As the platform does: 2xx → success; another status → fail carrying status and data.
    request({ url, method, headers, data, dataType, success, fail }) {
      calls.request += 1;
      assert.equal(dataType, 'json');
      fetch(url, { method, headers, body: data })
        .then(async (r) => {
          const text = await r.text();
          let parsed = text;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            // left as text
          }
          const res = { status: r.status, data: parsed, headers: Object.fromEntries(r.headers) };
          if (r.status >= 200 && r.status < 300) success(res);
          else fail({ error: 19, errorMessage: 'http status error', ...res });
        })
        .catch((e) => fail({ error: 12, errorMessage: String(e) }));
    },
    ap: {
      // The claim page: the user taps "claim"; Alipay's component calls the template's callback.
      navigateToAlipayPage({ path, success, fail }) {
        calls.navigate.push(path);
        const outer = new URL(path.replace('alipays://', 'https://'));
        const inner = new URL(outer.searchParams.get('url'), 'https://render.alipay.com');
        const body = { templateId: inner.searchParams.get('templateId'), userId: inner.searchParams.get('userId') };
        json(`${sim}/sim/claim`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
          .then((r) => (r.status === 200 && r.body.status === 200 ? success() : fail({ error: 3, errorMessage: JSON.stringify(r.body) })))
          .catch((e) => fail({ error: 12, errorMessage: String(e) }));
      },
    },
    getStorageSync: ({ key }) => ({ data: storage.get(key) }),
    setStorageSync: ({ key, data }) => storage.set(key, data),
    removeStorageSync: ({ key }) => storage.delete(key),
  };
  return { my, calls, storage };
}

test('the claim page URL is the UID issuance component for the template and user', () => {
  const url = claimPageUrl('T1', '2088000000000001');
  assert.ok(url.startsWith(`alipays://platformapi/startapp?appId=${CLAIM_PAGE_APP_ID}&url=`));
  const inner = decodeURIComponent(url.split('&url=')[1]);
  assert.equal(inner, '/www/voucher.html?__webview_options__=abv%3DNO%26ttb%3Dauto&bizType=svPage&userId=2088000000000001&templateId=T1');
  assert.equal(channelDataKey('2088000000000001'), 'channelData_alipayPass_fetch_2088000000000001');
});

test('login, claim a pass, list it and pull it the apifm way', async () => {
  const userId = newUserId();
  const { my, calls } = fakeMy(userId);
  const rewards = createRewards({ baseUrl: api, my });

  const session = await rewards.login();
  assert.equal(session.userId, userId);
  assert.match(session.token, /\S{20,}/);
  assert.equal(rewards.session().token, session.token);

  assert.deepEqual(await rewards.listPasses(), []);
  const empty = await rewards.channelDataPull();
  assert.equal(empty.code, 700);

  const templateId = await createTemplate('kit pass');
  await rewards.openClaimPage(templateId);
  assert.equal(calls.navigate.length, 1);
  assert.ok(calls.navigate[0].includes(encodeURIComponent(`templateId=${templateId}`)));

  const passes = await rewards.listPasses();
  assert.equal(passes.length, 1);
  assert.equal(passes[0].templateId, templateId);
  assert.equal(passes[0].userId, userId);
  assert.equal(passes[0].status, 'ACTIVE');

  const pulled = await rewards.channelDataPull();
  assert.equal(pulled.code, 0);
  assert.equal(pulled.data.key, channelDataKey(userId));
  assert.deepEqual(pulled.data.passIds, [passes[0].passId]);
  // One login for the whole flow: the token was kept.
  assert.equal(calls.getAuthCode, 1);
});

test('the first call logs in by itself, and the session survives in storage', async () => {
  const userId = newUserId();
  const { my, calls } = fakeMy(userId);
  const first = createRewards({ baseUrl: api, my });
  assert.deepEqual(await first.listPasses(), []);
  assert.equal(calls.getAuthCode, 1);
  // A new page (a new client) finds the kept session.
  const second = createRewards({ baseUrl: api, my });
  assert.equal(second.session().userId, userId);
  await second.channelDataPull();
  assert.equal(calls.getAuthCode, 1);
  second.logout();
  assert.equal(second.session(), null);
});

test('a refused token is renewed once and the call repeated', async () => {
  const userId = newUserId();
  const { my, calls, storage } = fakeMy(userId);
  const rewards = createRewards({ baseUrl: api, my });
  await rewards.login();
  // The token goes bad (signed with another key, or expired early): the authorizer refuses it.
  const kept = storage.get('rewards.session');
  storage.set('rewards.session', { ...kept, token: `${kept.token.slice(0, -4)}AAAA` });
  const again = createRewards({ baseUrl: api, my });
  assert.deepEqual(await again.listPasses(), []);
  assert.equal(calls.getAuthCode, 2);
  assert.notEqual(again.session().token, `${kept.token.slice(0, -4)}AAAA`);
});

test('an expiring token is renewed before the call', async () => {
  const userId = newUserId();
  const { my, calls, storage } = fakeMy(userId);
  await createRewards({ baseUrl: api, my }).login();
  // The kept session is 15 minutes old: its token expires now.
  const kept = storage.get('rewards.session');
  storage.set('rewards.session', { ...kept, expiresAt: Math.floor(Date.now() / 1000) + 10 });
  const rewards = createRewards({ baseUrl: api, my });
  const requests = calls.request;
  await rewards.listPasses();
  assert.equal(calls.getAuthCode, 2);
  // Renewed first (POST /session), then one call: no refused call on the way.
  assert.equal(calls.request - requests, 2);
  assert.ok(rewards.session().expiresAt > Math.floor(Date.now() / 1000) + 60);
});

test('errors carry the backend code or the gateway status', async () => {
  const userId = newUserId();
  const { my } = fakeMy(userId);
  const rewards = createRewards({ baseUrl: api, my });
  await rewards.login();
  // Another user's key: the authorizer lets only the session's own user through.
  await assert.rejects(rewards.channelDataPull(channelDataKey(newUserId())), (e) => {
    assert.ok(e instanceof RewardsError);
    assert.equal(e.status, 403);
    return true;
  });
  const down = createRewards({ baseUrl: 'http://127.0.0.1:9', my: fakeMy(userId).my });
  await assert.rejects(down.login(), (e) => e instanceof RewardsError && e.code === 'network');
});
