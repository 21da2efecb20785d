// Drives the gateway simulator with the official Node SDK (npm alipay-sdk, pinned in package.json):
// every API of issue 4. The SDK's requests must pass the simulator's signature check, and the SDK's
// own response verification (validateSign: true) must accept the simulator's answers.
//
// Run by scripts/interop.sh, which starts the simulator and sets SIM_URL to its gateway URL.
// Note: the SDK deep-snake-cases bizContent keys, so pass.json-shaped values (tpl_content,
// tpl_params, recognition_info) are sent as pre-serialized JSON strings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { APP_ID, beijing, keyModeSdk, simulator } from './support.mjs';

const { url: SIM_URL, base: BASE, control } = simulator('SIM_URL', 'the simulator gateway URL');

const USER_A = '2088000000000011';
const USER_B = '2088000000000012';

const sdk = keyModeSdk(SIM_URL, 'app_private_pkcs1.pem', { timeout: 10000 });

const exec = (method, params) => sdk.exec(method, params, { validateSign: true });

// The merchant's mcallbackUrl, as the claim component calls it.
let merchant;
let callbackUrl;
const callbacks = [];
before(async () => {
  merchant = http.createServer((req, res) => {
    const q = Object.fromEntries(new URL(req.url, 'http://x').searchParams);
    callbacks.push(q);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ success: true }));
  });
  await new Promise((resolve) => merchant.listen(0, '127.0.0.1', resolve));
  callbackUrl = `http://127.0.0.1:${merchant.address().port}/callback`;
});
after(() => merchant.close());

function tplContent(title) {
  return JSON.stringify({
    logo: 'https://example.com/logo.png',
    content: {
      evoucherInfo: {
        title,
        type: 'coupon',
        product: 'free',
        startDate: '$activeTime$',
        endDate: '$expireTime$',
        operation: [{ format: 'qrcode', message: '$code$', messageEncoding: 'UTF-8', altText: '出示' }],
        einfo: { logoText: '示例商户' },
      },
      merchant: { mname: '示例商户', mcallbackUrl: callbackUrl },
      platform: { channelID: APP_ID },
      style: { backgroundColor: 'RGB(26,150,219)' },
      fileInfo: { formatVersion: '2', canShare: false, serialNumber: '$serialNumber$' },
      source: 'alipassprod',
    },
  });
}

const state = {};

test('alipay.pass.template.add', async () => {
  const r = await exec('alipay.pass.template.add', {
    bizContent: { unique_id: `node-${Date.now()}`, tpl_content: tplContent('$title$') },
  });
  assert.equal(r.code, '10000');
  assert.equal(r.success, 'true');
  const result = JSON.parse(r.result);
  assert.ok(result.tpl_id);
  assert.deepEqual(result.tpl_params, ['title', 'activeTime', 'expireTime', 'code', 'serialNumber']);
  state.tplId = result.tpl_id;
});

test('alipay.pass.template.update', async () => {
  const r = await exec('alipay.pass.template.update', {
    bizContent: { tpl_id: state.tplId, tpl_content: tplContent('$title$ 新版') },
  });
  assert.equal(r.code, '10000');
  assert.equal(r.success, 'true');
  assert.equal(JSON.parse(r.result).tpl_id, state.tplId);
});

test('alipay.pass.instance.add (token from the simulated claim component)', async () => {
  const claim = await control('POST', '/sim/claim', { templateId: state.tplId, userId: USER_A });
  assert.equal(claim.status, 200);
  assert.equal(claim.body.status, 200);
  const seen = callbacks.at(-1);
  assert.equal(seen.templateId, state.tplId);
  assert.equal(seen.userId, USER_A);
  assert.ok(/^\d{13}$/.test(seen.timestamp));
  const r = await exec('alipay.pass.instance.add', {
    bizContent: {
      tpl_id: state.tplId,
      tpl_params: JSON.stringify({
        title: '满100减10', activeTime: beijing(0), expireTime: beijing(2), code: '8888', serialNumber: 'NODE-SN-1',
      }),
      recognition_type: '2',
      recognition_info: JSON.stringify({ user_id: USER_A, user_token: seen.token }),
    },
  });
  assert.equal(r.code, '10000');
  assert.equal(r.success, 'true');
  const result = JSON.parse(r.result);
  assert.equal(result.serialNumber, 'NODE-SN-1');
  assert.ok(result.passId);
  state.passId = result.passId;
  const passes = await control('GET', '/sim/passes');
  assert.ok(passes.body.passes.some((p) => p.pass_id === state.passId && p.user_id === USER_A));
});

test('alipay.pass.instance.update', async () => {
  const r = await exec('alipay.pass.instance.update', {
    bizContent: { serial_number: 'NODE-SN-1', channel_id: APP_ID, user_id: USER_A, status: 'USED' },
  });
  assert.equal(r.code, '10000');
  assert.equal(r.success, 'true');
  assert.equal(JSON.parse(r.result).passId, state.passId);
});

test('alipay.marketing.campaign.cash.create', async () => {
  const r = await exec('alipay.marketing.campaign.cash.create', {
    bizContent: {
      coupon_name: 'Node 红包', prize_type: 'fixed', total_money: '6.00', total_num: '3', prize_msg: '恭喜',
      start_time: 'NowTime', end_time: beijing(30), merchant_link: 'https://example.com/m', send_freqency: 'D3|L3',
    },
  });
  assert.equal(r.code, '10000');
  assert.ok(r.crowd_no);
  const payUrl = decodeURIComponent(r.pay_url);
  assert.equal(payUrl, `${BASE}/sim/campaigns/${r.crowd_no}/pay`);
  state.crowdNo = r.crowd_no;
  state.payUrl = payUrl;
});

test('alipay.marketing.campaign.cash.trigger (unpaid, paid, replay)', async () => {
  const unpaid = await exec('alipay.marketing.campaign.cash.trigger', {
    bizContent: { crowd_no: state.crowdNo, user_id: USER_A, out_biz_no: 'node_1' },
  });
  assert.equal(unpaid.code, '40004');
  assert.equal(unpaid.sub_msg, '现金活动不存在');

  const pay = await fetch(state.payUrl, { method: 'POST' });
  assert.equal(pay.status, 200);

  const sent = await exec('alipay.marketing.campaign.cash.trigger', {
    bizContent: { crowd_no: state.crowdNo, user_id: USER_A, out_biz_no: 'node_1' },
  });
  assert.equal(sent.code, '10000');
  assert.equal(sent.trigger_result, 'true');
  assert.equal(sent.prize_amount, '2.00');
  assert.equal(sent.repeat_trigger_flag, 'false');

  const replay = await exec('alipay.marketing.campaign.cash.trigger', {
    bizContent: { crowd_no: state.crowdNo, user_id: USER_A, out_biz_no: 'node_1' },
  });
  assert.equal(replay.repeat_trigger_flag, 'true');
  assert.equal(replay.biz_no, sent.biz_no);
  const payouts = (await control('GET', '/sim/payouts')).body.payouts.filter((p) => p.crowd_no === state.crowdNo);
  assert.equal(payouts.length, 1);
  assert.equal(payouts[0].amount, '2.00');
});

test('alipay.marketing.campaign.cash.detail.query', async () => {
  const r = await exec('alipay.marketing.campaign.cash.detail.query', { bizContent: { crowd_no: state.crowdNo } });
  assert.equal(r.code, '10000');
  assert.equal(r.camp_status, 'READY');
  assert.equal(r.total_amount, '6.00');
  assert.equal(r.send_amount, '2.00');
});

test('alipay.marketing.campaign.cash.list.query', async () => {
  const r = await exec('alipay.marketing.campaign.cash.list.query', {
    bizContent: { camp_status: 'READY', page_index: '1', page_size: '20' },
  });
  assert.equal(r.code, '10000');
  assert.ok(r.camp_list.some((c) => c.crowd_no === state.crowdNo));
});

test('alipay.marketing.campaign.cash.status.modify', async () => {
  const r = await exec('alipay.marketing.campaign.cash.status.modify', {
    bizContent: { crowd_no: state.crowdNo, camp_status: 'CLOSED' },
  });
  assert.equal(r.code, '10000');
  const closed = await exec('alipay.marketing.campaign.cash.trigger', {
    bizContent: { crowd_no: state.crowdNo, user_id: USER_B, out_biz_no: 'node_2' },
  });
  assert.equal(closed.code, '40004');
  assert.equal(closed.sub_code, 'CAMPAIGN_CLOSED');
});

test('alipay.system.oauth.token (grant_type/code top-level)', async () => {
  const minted = await control('POST', '/sim/auth-codes', { userId: USER_B });
  assert.equal(minted.status, 201);
  const r = await exec('alipay.system.oauth.token', { grant_type: 'authorization_code', code: minted.body.code });
  assert.equal(r.user_id, USER_B);
  assert.equal(r.open_id, minted.body.openId);
  assert.ok(r.access_token);
  // A spent code is an error_response (the SDK cannot verify error_response signatures, see README).
  const again = await sdk.exec('alipay.system.oauth.token', { grant_type: 'authorization_code', code: minted.body.code });
  assert.equal(again.code, '40002');
  assert.equal(again.sub_code, 'isv.code-invalid');
});

test('a request signed with the wrong key is refused with the gateway string to sign', async () => {
  const wrong = keyModeSdk(SIM_URL, 'alipay_private_pkcs1.pem');
  const r = await wrong.exec('alipay.marketing.campaign.cash.detail.query', { bizContent: { crowd_no: 'x' } });
  assert.equal(r.code, '40002');
  assert.equal(r.sub_code, 'isv.invalid-signature');
  assert.match(r.sub_msg, /网关生成的验签字符串为：app_id=2021000000000001&biz_content=\{"crowd_no":"x"\}&charset=utf-8&method=alipay\.marketing\.campaign\.cash\.detail\.query&sign_type=RSA2&timestamp=/);
});

test("the SDK's verification rejects the simulator's bad_signature fault", async () => {
  const f = await control('POST', '/sim/faults', { api: 'alipay.marketing.campaign.cash.list.query', kind: 'bad_signature', count: 1 });
  assert.equal(f.status, 201);
  await assert.rejects(
    exec('alipay.marketing.campaign.cash.list.query', { bizContent: { page_index: '1', page_size: '5' } }),
    /验签失败/,
  );
  const ok = await exec('alipay.marketing.campaign.cash.list.query', { bizContent: { page_index: '1', page_size: '5' } });
  assert.equal(ok.code, '10000');
  await control('DELETE', '/sim/faults');
});

// The transfer rail: the SDK sends uni.transfer (notify_url top-level, business_params as a JSON
// string, the 2026 scene fields) and common.query; its own checkNotifySignV2 accepts the simulator's
// signed alipay.fund.trans.order.changed notification.
test('alipay.fund.trans.uni.transfer, common.query and the order.changed notification', async () => {
  const received = [];
  const notify = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({ contentType: req.headers['content-type'], form: Object.fromEntries(new URLSearchParams(body)) });
      res.end('success');
    });
  });
  await new Promise((resolve) => notify.listen(0, '127.0.0.1', resolve));
  try {
    const notifyUrl = `http://127.0.0.1:${notify.address().port}/alipay/notify`;
    const bizContent = {
      out_biz_no: 'interop_t1',
      trans_amount: '1.00',
      product_code: 'STD_RED_PACKET',
      biz_scene: 'DIRECT_TRANSFER',
      order_title: '现金红包',
      payee_info: { identity: USER_A, identity_type: 'ALIPAY_USER_ID' },
      business_params: JSON.stringify({ sub_biz_scene: 'REDPACKET' }),
      transfer_scene_name: '现金营销',
      transfer_scene_report_infos: [
        { info_type: '活动名称', info_content: '互通测试' },
        { info_type: '奖励说明', info_content: '签到奖励' },
      ],
    };
    const r = await exec('alipay.fund.trans.uni.transfer', { bizContent, notify_url: notifyUrl });
    assert.equal(r.code, '10000', JSON.stringify(r));
    assert.equal(r.status, 'SUCCESS');
    const replay = await exec('alipay.fund.trans.uni.transfer', { bizContent, notify_url: notifyUrl });
    assert.equal(replay.orderId ?? replay.order_id, r.orderId ?? r.order_id);
    const other = await exec('alipay.fund.trans.uni.transfer', {
      bizContent: { ...bizContent, trans_amount: '2.00' },
      notify_url: notifyUrl,
    });
    assert.equal(other.subCode ?? other.sub_code, 'PAYMENT_INFO_INCONSISTENCY');
    const q = await exec('alipay.fund.trans.common.query', {
      bizContent: { out_biz_no: 'interop_t1', product_code: 'STD_RED_PACKET', biz_scene: 'DIRECT_TRANSFER' },
    });
    assert.equal(q.status, 'SUCCESS');
    assert.equal(q.transAmount ?? q.trans_amount, '1.00');
    const missing = await exec('alipay.fund.trans.common.query', {
      bizContent: { out_biz_no: 'interop_none', product_code: 'STD_RED_PACKET', biz_scene: 'DIRECT_TRANSFER' },
    });
    assert.equal(missing.subCode ?? missing.sub_code, 'ORDER_NOT_EXIST');
    for (let i = 0; i < 200 && received.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(received.length, 1);
    const { form } = received[0];
    assert.equal(form.msg_method, 'alipay.fund.trans.order.changed');
    assert.equal(JSON.parse(form.biz_content).out_biz_no, 'interop_t1');
    assert.equal(sdk.checkNotifySignV2(form), true);
    assert.equal(sdk.checkNotifySignV2({ ...form, biz_content: form.biz_content.replace('SUCCESS', 'FAIL') }), false);
  } finally {
    notify.close();
  }
});
