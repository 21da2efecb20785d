// The official Node SDK (npm alipay-sdk, pinned) in certificate mode against the simulator in
// certificate mode: the SDK computes app_cert_sn / alipay_root_cert_sn from the certificates the
// simulator made (GET /sim/certs) and sends them; the simulator checks them and the signature; the
// SDK's own verification (validateSign: true) accepts the simulator's answers, which carry
// alipay_cert_sn between the node and the signature.
//
// Run by scripts/interop.sh, which starts a simulator with SIM_CERT_MODE=1 and sets SIM_CERT_URL.
// The SDK does not download a rotated Alipay certificate itself (alipay.open.app.alipaycert.download
// is the caller's job in Node): after a rotation it is given the new certificate, as a merchant
// would update its files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlipaySdk } from 'alipay-sdk';
import { APP_ID, beijing, key, keyModeSdk, simulator } from './support.mjs';

const { url: SIM_URL, control } = simulator('SIM_CERT_URL', 'the certificate-mode simulator gateway URL');
const USER = '2088000000000021';

function sdkWith(certs) {
  return new AlipaySdk({
    appId: APP_ID,
    privateKey: key('app_private_pkcs1.pem'),
    keyType: 'PKCS1',
    appCertContent: certs.appCert,
    alipayPublicCertContent: certs.alipayCert,
    alipayRootCertContent: certs.alipayRootCert,
    gateway: SIM_URL,
    camelcase: false,
    timeout: 10000,
  });
}

const certs = (await control('GET', '/sim/certs')).body;
const sdk = sdkWith(certs);
const exec = (client, method, params) => client.exec(method, params, { validateSign: true });

test('the SDK computes the same certificate SNs as the simulator', () => {
  assert.equal(sdk.config.appCertSn, certs.appCertSn);
  assert.equal(sdk.config.alipayRootCertSn, certs.alipayRootCertSn);
  assert.equal(sdk.config.alipayCertSn, certs.alipayCertSn);
});

test('alipay.system.oauth.token in certificate mode verifies both ways', async () => {
  const r = await exec(sdk, 'alipay.system.oauth.token', { grant_type: 'authorization_code', code: `sim_code_${USER}` });
  assert.equal(r.user_id, USER);
  assert.ok(r.access_token);
});

test('alipay.marketing.campaign.cash.create and detail.query in certificate mode', async () => {
  const end = beijing(30);
  const created = await exec(sdk, 'alipay.marketing.campaign.cash.create', {
    bizContent: {
      coupon_name: 'Node 证书红包', prize_type: 'fixed', total_money: '2.00', total_num: '2', prize_msg: '恭喜',
      start_time: 'NowTime', end_time: end, merchant_link: 'https://example.com/m', send_freqency: 'L1',
    },
  });
  assert.equal(created.code, '10000');
  const detail = await exec(sdk, 'alipay.marketing.campaign.cash.detail.query', { bizContent: { crowd_no: created.crowd_no } });
  assert.equal(detail.code, '10000');
  assert.equal(detail.camp_status, 'CREATED');
});

test('a request without the certificate SNs is refused (isv.missing-app-cert-sn)', async () => {
  const plain = keyModeSdk(SIM_URL, 'app_private_pkcs1.pem');
  const r = await plain.exec('alipay.system.oauth.token', { grant_type: 'authorization_code', code: `sim_code_${USER}` });
  assert.equal(r.code, '40001');
  assert.equal(r.sub_code, 'isv.missing-app-cert-sn');
});

test('alipay.open.app.alipaycert.download after a rotation gives the certificate the answers name', async () => {
  const rotated = await control('POST', '/sim/settings', { rotateAlipayCert: true });
  assert.equal(rotated.status, 200);
  const now = (await control('GET', '/sim/certs')).body;
  assert.notEqual(now.alipayCertSn, certs.alipayCertSn);
  // The old certificate's key no longer verifies the answers.
  await assert.rejects(
    exec(sdk, 'alipay.system.oauth.token', { grant_type: 'authorization_code', code: `sim_code_${USER}` }),
    /验签失败/,
  );
  // The download (its answer read without verification, as the Java SDK does) gives the new one,
  // base64 of its PEM; an SDK with it verifies again.
  const dl = await sdk.exec('alipay.open.app.alipaycert.download', { bizContent: { alipay_cert_sn: now.alipayCertSn } });
  assert.equal(dl.code, '10000');
  const pem = Buffer.from(dl.alipay_cert_content, 'base64').toString('utf8');
  assert.equal(pem, now.alipayCert);
  const renewed = sdkWith({ ...certs, alipayCert: pem });
  assert.equal(renewed.config.alipayCertSn, now.alipayCertSn);
  const r = await exec(renewed, 'alipay.system.oauth.token', { grant_type: 'authorization_code', code: `sim_code_${USER}` });
  assert.equal(r.user_id, USER);
});
