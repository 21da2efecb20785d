// The mini-program side of the rewards backend, in one dependency-free module.
//
//   import { createRewards } from './rewards.js';
//   const rewards = createRewards({ baseUrl: 'https://rewards.example.com' });
//   await rewards.login();                          // my.getAuthCode → POST /session
//   const passes = await rewards.listPasses();      // GET /users/{userId}/passes
//   const pulled = await rewards.channelDataPull(); // apifm-compatible GET /channelData/pull
//   await rewards.openClaimPage(templateId);        // Alipay's claim page for a template
//
// Only `my.*` is platform specific (my.getAuthCode, my.request, my.ap.navigateToAlipayPage and the
// storage calls); pass another object as `my` to run it elsewhere (the tests do).

/**
 * The session from `POST /session`.
 * @typedef {Object} Session
 * @property {string} token      Bearer token for the mini-program routes (15 minutes).
 * @property {number} expiresAt  Epoch seconds.
 * @property {string} userId     The Alipay user id (or the open id for open-id apps).
 */

/**
 * A pass as the backend stores it.
 * @typedef {Object} Pass
 * @property {string} passId
 * @property {string} userId
 * @property {string} templateId
 * @property {string} serialNumber
 * @property {'ACTIVE'|'USED'|'CLOSED'} status
 * @property {Object<string,string>} params
 * @property {number} createdAt   Epoch milliseconds.
 * @property {number} updatedAt   Epoch milliseconds.
 */

/**
 * The apifm-compatible answer of `channelDataPull`: `code` 0 with the passes, 700 when there are none.
 * @typedef {Object} ChannelData
 * @property {number} code
 * @property {string} msg
 * @property {{key: string, passIds: string[], passes: Pass[]}|null} [data]
 */

/**
 * The subset of the mini-program's `my` this module uses.
 * @typedef {Object} My
 * @property {(opts: {scopes: string, success: (r: {authCode: string}) => void, fail: (e: any) => void}) => void} getAuthCode
 * @property {(opts: {url: string, method: string, headers: Object<string,string>, data?: any, dataType: string,
 *   success: (r: {status: number, data: any, headers?: Object}) => void, fail: (e: any) => void}) => void} request
 * @property {{navigateToAlipayPage: (opts: {path: string, success: () => void, fail: (e: any) => void}) => void}} [ap]
 * @property {(opts: {key: string}) => {data?: any}} [getStorageSync]
 * @property {(opts: {key: string, data: any}) => void} [setStorageSync]
 * @property {(opts: {key: string}) => void} [removeStorageSync]
 */

/** Alipay's own app that renders the pass claim page (the UID issuance component). */
export const CLAIM_PAGE_APP_ID = '68687143';

/** A token is renewed this long before it expires (clock skew, the request's own time). */
const RENEW_BEFORE_SECONDS = 30;

/** An error answer of the backend (problem+json) or of the gateway in front of it. */
export class RewardsError extends Error {
  /**
   * @param {number} status HTTP status (0 when the request failed before an answer).
   * @param {string} code   The problem's stable `code`, or `gateway_<status>` / `network`.
   * @param {string} detail What happened.
   * @param {any} [body]    The answer as received.
   */
  constructor(status, code, detail, body) {
    super(`${code}: ${detail}`);
    this.name = 'RewardsError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
  }
}

/**
 * The URL of Alipay's claim page for a template (opened with `my.ap.navigateToAlipayPage`).
 * @param {string} templateId
 * @param {string} userId      The Alipay user id the pass is for.
 * @param {string} [bizType]   The page style; `svPage` is the full-screen single voucher.
 * @returns {string}
 */
export function claimPageUrl(templateId, userId, bizType = 'svPage') {
  const inner =
    '/www/voucher.html?__webview_options__=abv%3DNO%26ttb%3Dauto' +
    `&bizType=${encodeURIComponent(bizType)}` +
    `&userId=${encodeURIComponent(userId)}` +
    `&templateId=${encodeURIComponent(templateId)}`;
  return `alipays://platformapi/startapp?appId=${CLAIM_PAGE_APP_ID}&url=${encodeURIComponent(inner)}`;
}

/**
 * The key `channelDataPull` reads for a user.
 * @param {string} userId
 * @returns {string}
 */
export function channelDataKey(userId) {
  return `channelData_alipayPass_fetch_${userId}`;
}

/**
 * A client of the backend for one mini-program.
 * @param {Object} options
 * @param {string} options.baseUrl        The API, e.g. `https://rewards.example.com` (no trailing slash).
 * @param {My} [options.my]               The platform (default: the global `my`).
 * @param {string} [options.storageKey]   Where the session is kept (default `rewards.session`).
 * @param {() => number} [options.now]    Epoch milliseconds (default `Date.now`).
 */
export function createRewards({ baseUrl, my = globalThis.my, storageKey = 'rewards.session', now = () => Date.now() }) {
  if (!baseUrl) throw new TypeError('createRewards: baseUrl is required');
  if (!my) throw new TypeError('createRewards: no `my` (run inside a mini-program or pass one)');
  const base = baseUrl.replace(/\/+$/, '');
  /** @type {Session|null} */
  let session = load();

  function load() {
    try {
      const stored = my.getStorageSync ? my.getStorageSync({ key: storageKey }) : null;
      const s = stored && stored.data;
      return s && typeof s.token === 'string' ? s : null;
    } catch {
      return null;
    }
  }

  function save(s) {
    session = s;
    try {
      if (s && my.setStorageSync) my.setStorageSync({ key: storageKey, data: s });
      if (!s && my.removeStorageSync) my.removeStorageSync({ key: storageKey });
    } catch {
      // Storage is a cache of the session: without it the next call logs in again.
    }
  }

  function authCode() {
    return new Promise((resolve, reject) => {
      my.getAuthCode({
        scopes: 'auth_base',
        success: (r) => resolve(r.authCode),
        fail: (e) => reject(new RewardsError(0, 'auth_code_failed', (e && (e.errorMessage || e.error)) || 'my.getAuthCode failed', e)),
      });
    });
  }

  /**
   * One HTTP call through `my.request`; resolves `{status, data}` for every HTTP answer.
   * @returns {Promise<{status: number, data: any}>}
   */
  function send(method, path, body, headers = {}) {
    return new Promise((resolve, reject) => {
      my.request({
        url: `${base}${path}`,
        method,
        headers: { 'content-type': 'application/json', ...headers },
        data: body === undefined ? undefined : JSON.stringify(body),
        dataType: 'json',
        success: (r) => resolve({ status: r.status, data: r.data }),
        // The platform reports a non-2xx answer as a failure that still carries the status and body.
        fail: (e) =>
          e && typeof e.status === 'number' && e.status > 0
            ? resolve({ status: e.status, data: e.data })
            : reject(new RewardsError(0, 'network', (e && (e.errorMessage || e.error)) || 'request failed', e)),
      });
    });
  }

  function failure(status, data) {
    if (data && typeof data === 'object' && typeof data.code === 'string') {
      return new RewardsError(status, data.code, data.detail || data.title || '', data);
    }
    const message = data && typeof data === 'object' && data.message ? data.message : `HTTP ${status}`;
    return new RewardsError(status, `gateway_${status}`, message, data);
  }

  /**
   * Exchanges a fresh auth code for a session token and keeps it.
   * @returns {Promise<Session>}
   */
  async function login() {
    const code = await authCode();
    const r = await send('POST', '/session', { authCode: code });
    if (r.status !== 200) throw failure(r.status, r.data);
    save(r.data);
    return r.data;
  }

  function fresh(s) {
    return s && s.expiresAt - RENEW_BEFORE_SECONDS > now() / 1000;
  }

  /** The token was refused by the gateway's authorizer: expired, revoked or from another key. */
  function refusedToken(r) {
    if (r.status === 401) return true;
    // API Gateway answers an authorizer's deny with 403 {"message":"Forbidden"} (not problem+json).
    return r.status === 403 && r.data && typeof r.data === 'object' && r.data.message === 'Forbidden' && !r.data.code;
  }

  /** A call with the session token; logs in first when needed and once more when the token is refused. */
  async function authorized(path) {
    if (!fresh(session)) await login();
    let r = await send('GET', path, undefined, { authorization: `Bearer ${session.token}` });
    if (refusedToken(r)) {
      await login();
      r = await send('GET', path, undefined, { authorization: `Bearer ${session.token}` });
    }
    if (r.status !== 200) throw failure(r.status, r.data);
    return r.data;
  }

  async function currentUser() {
    if (!fresh(session)) await login();
    return session.userId;
  }

  return {
    login,

    /** The kept session, or null. @returns {Session|null} */
    session: () => session,

    /** Forgets the session (the next call logs in again). */
    logout: () => save(null),

    /**
     * The user's passes, newest first.
     * @returns {Promise<Pass[]>}
     */
    async listPasses() {
      const userId = await currentUser();
      const data = await authorized(`/users/${encodeURIComponent(userId)}/passes`);
      return data.passes;
    },

    /**
     * apifm's `channelDataPull(key)`: the user's pass ids. The key defaults to the session user's
     * `channelData_alipayPass_fetch_<userId>`.
     * @param {string} [key]
     * @returns {Promise<ChannelData>}
     */
    async channelDataPull(key) {
      const k = key || channelDataKey(await currentUser());
      return authorized(`/channelData/pull?key=${encodeURIComponent(k)}`);
    },

    /**
     * Opens Alipay's claim page for a template; when the user taps claim, Alipay calls the
     * template's callback and the pass appears in `listPasses()`.
     * @param {string} templateId
     * @param {{bizType?: string}} [options]
     * @returns {Promise<void>}
     */
    async openClaimPage(templateId, options = {}) {
      const userId = await currentUser();
      const path = claimPageUrl(templateId, userId, options.bizType);
      await new Promise((resolve, reject) => {
        if (!my.ap || !my.ap.navigateToAlipayPage) {
          reject(new RewardsError(0, 'unsupported', 'my.ap.navigateToAlipayPage is not available'));
          return;
        }
        my.ap.navigateToAlipayPage({
          path,
          success: () => resolve(),
          fail: (e) => reject(new RewardsError(0, 'navigate_failed', (e && (e.errorMessage || e.error)) || 'cannot open the claim page', e)),
        });
      });
    },
  };
}
