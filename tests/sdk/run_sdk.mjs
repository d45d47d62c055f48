// Runs KOMOJU's official Node SDK (@komoju/komoju-sdk 1.0.0, unchanged) against a kessai
// server and prints one JSON line per SDK operation:
//   {"operation": "PaymentsApi.createPayment", "status": "ok"|"error",
//    "http_status": 200|null, "error_code": "not_found"|null, "body": ...}
//
// Usage: node run_sdk.mjs --base-url http://127.0.0.1:8000 --secret-key sk_test_...
//          --publishable-key pk_test_... --merchant-id ID --sdk <node_modules directory>
// Each option may instead come from the environment: KESSAI_SDK_BASE_URL,
// KESSAI_SDK_SECRET_KEY, KESSAI_SDK_PUBLISHABLE_KEY, KESSAI_SDK_MERCHANT_ID,
// KESSAI_SDK_NODE_MODULES (the directory `npm install --prefix DIR` filled).
//
// Every one of the SDK's 73 operations is called once, in an order where each finds the
// objects it needs (a session to pay, a payment to capture, a customer to subscribe...).
// An operation kessai does not have yet is still called: its line says what kessai answered.
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

function option(name, envName) {
  const flag = `--${name}`;
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith(`${flag}=`)) return argv[i].slice(flag.length + 1);
  }
  const value = process.env[envName];
  if (!value) {
    process.stderr.write(`missing ${flag} (or ${envName})\n`);
    process.exit(2);
  }
  return value;
}

const baseUrl = option('base-url', 'KESSAI_SDK_BASE_URL').replace(/\/+$/, '');
const secretKey = option('secret-key', 'KESSAI_SDK_SECRET_KEY');
const publishableKey = option('publishable-key', 'KESSAI_SDK_PUBLISHABLE_KEY');
const merchantId = option('merchant-id', 'KESSAI_SDK_MERCHANT_ID');
const nodeModules = resolve(option('sdk', 'KESSAI_SDK_NODE_MODULES'));

const require = createRequire(join(nodeModules, 'noop.js'));
const sdk = require('@komoju/komoju-sdk');

// The SDK points at any host through Configuration.basePath; the key is HTTP Basic's user.
function config(key) {
  const c = new sdk.Configuration({ basePath: `${baseUrl}/api/v1` });
  c.setApiKey(key);
  return c;
}
const secret = config(secretKey);
const publishable = config(publishableKey);
const api = (name, conf = secret) => new sdk[name](conf);

const sessions = api('SessionsApi');
const payments = api('PaymentsApi');
const tokens = api('TokensApi', publishable);
const subscriptions = api('SubscriptionsApi');
const secureTokens = api('SecureTokensApi');
const barcodes = api('BarcodesApi');
const oneClick = api('OneClickApi');
const events = api('EventsApi');
const settlements = api('SettlementsApi');
const disbursements = api('DisbursementsApi');
const chargebacks = api('ChargebacksApi');
const platform = api('PlatformModelApi');

const year = new Date().getUTCFullYear() + 5;
const card = {
  type: 'credit_card',
  number: '4111111111111111',
  month: 12,
  year,
  verification_value: '123',
  name: 'Taro Yamada',
};
const returnUrl = 'https://shop.example/return';
const MISSING = 'nonexistent0000000000000'; // an id for operations with nothing to act on

const ran = new Set();

// `setup` marks a second call of an operation made only to get an object for another one
// (a session to cancel, a payment to cancel): its line says "setup": true.
async function call(operation, fn, setup = false) {
  if (!setup) ran.add(operation);
  let line;
  try {
    const response = await fn();
    line = { operation, status: 'ok', http_status: response.status, error_code: null, body: response.data ?? null };
  } catch (err) {
    const response = err && err.response;
    const body = response ? response.data ?? null : null;
    const code = body && typeof body === 'object' && body.error ? body.error.code ?? null : null;
    line = {
      operation,
      status: 'error',
      http_status: response ? response.status : null,
      error_code: code ?? (response ? null : `${err && err.name}: ${err && err.message}`),
      body,
    };
  }
  if (setup) line.setup = true;
  process.stdout.write(`${JSON.stringify(line)}\n`);
  return line.status === 'ok' ? line.body : null;
}

const idOf = (body) => (body && typeof body === 'object' && typeof body.id === 'string' ? body.id : MISSING);
const firstId = (list, key = 'id') =>
  list && Array.isArray(list.data) && list.data.length > 0 ? String(list.data[0][key]) : MISSING;

// Payment methods, sessions (hosted page API).
await call('PaymentsApi.listPaymentMethods', () => payments.listPaymentMethods());
const session = await call('SessionsApi.createSession', () =>
  sessions.createSession({
    createSessionRequest: {
      amount: 1000,
      currency: 'JPY',
      return_url: returnUrl,
      default_locale: 'ja',
      external_customer_id: 'sdk-one-click-1',
    },
  }),
);
await call('SessionsApi.showSession', () => sessions.showSession({ id: idOf(session) }));
await call('SessionsApi.paySession', () =>
  sessions.paySession({ id: idOf(session), paySessionRequest: { payment_details: card } }),
);
const unpaid = await call('SessionsApi.createSession', () =>
  sessions.createSession({ createSessionRequest: { amount: 500, currency: 'JPY', return_url: returnUrl } }),
  true,
);
await call('SessionsApi.cancelSession', () => sessions.cancelSession({ id: idOf(unpaid) }));

// Tokens (publishable key) and payments.
await call('TokensApi.createToken', () => tokens.createToken({ createTokenRequest: { payment_details: card } }));
const payment = await call('PaymentsApi.createPayment', () =>
  payments.createPayment({
    createPaymentRequest: {
      amount: 2000,
      currency: 'JPY',
      capture: false,
      external_order_num: 'sdk-order-1',
      payment_details: card,
    },
  }),
);
const paymentId = idOf(payment);
await call('PaymentsApi.showPayment', () => payments.showPayment({ id: paymentId }));
await call('PaymentsApi.updatePayment', () =>
  payments.updatePayment({
    id: paymentId,
    updatePaymentRequest: { description: 'updated by the SDK', metadata: { order: 'sdk-1' } },
  }),
);
await call('PaymentsApi.capturePayment', () =>
  payments.capturePayment({ id: paymentId, capturePaymentRequest: { amount: 2000 } }),
);
await call('PaymentsApi.refundPayment', () =>
  payments.refundPayment({ id: paymentId, refundPaymentRequest: { amount: 500, description: 'SDK refund' } }),
);
await call('PaymentsApi.createRefundRequest', () =>
  payments.createRefundRequest({
    id: paymentId,
    createRefundRequestRequest: {
      amount: 500,
      customer_name: 'ﾔﾏﾀﾞ ﾀﾛｳ',
      bank_name: 'Test Bank',
      bank_code: '0001',
      branch_name: 'Main',
      branch_number: '001',
      account_type: 'normal',
      account_number: '1234567',
      include_payment_method_fee: false,
      description: 'SDK refund request',
    },
  }),
);
await call('PaymentsApi.listPayments', () =>
  payments.listPayments({
    perPage: 5,
    page: 1,
    currency: 'JPY',
    externalOrderNum: 'sdk-order-1',
    status: 'captured',
    startTime: new Date(Date.now() - 3600_000).toISOString(),
  }),
);
const second = await call('PaymentsApi.createPayment', () =>
  payments.createPayment({
    createPaymentRequest: { amount: 700, currency: 'JPY', capture: false, payment_details: card },
  }),
  true,
);
await call('PaymentsApi.finalizePayment', () =>
  payments.finalizePayment({
    id: idOf(second),
    finalizePaymentRequest: { ac_type: 'tc', field55: '9F2701409F260812345678', track2: '4111111111111111D3012' },
  }),
);
await call('PaymentsApi.cancelPayment', () => payments.cancelPayment({ id: idOf(second) }));

// Konbini barcode (the SDK sends this one without credentials).
const konbini = await call('PaymentsApi.createPayment', () =>
  payments.createPayment({
    createPaymentRequest: {
      amount: 1500,
      currency: 'JPY',
      payment_details: { type: 'konbini', store: 'lawson', email: 'taro@example.com' },
    },
  }),
  true,
);
await call('BarcodesApi.showBarcode', () => barcodes.showBarcode({ paymentId: idOf(konbini) }));

// Customers and subscriptions.
const customer = await call('SubscriptionsApi.createCustomer', () =>
  subscriptions.createCustomer({
    createCustomerRequest: { email: 'taro@example.com', payment_details: card, metadata: { from: 'sdk' } },
  }),
);
const customerId = idOf(customer);
await call('SubscriptionsApi.showCustomer', () => subscriptions.showCustomer({ id: customerId }));
await call('SubscriptionsApi.updateCustomer', () =>
  subscriptions.updateCustomer({
    id: customerId,
    updateCustomerRequest: { email: 'jiro@example.com', metadata: { from: 'sdk-update' } },
  }),
);
await call('SubscriptionsApi.listCustomers', () => subscriptions.listCustomers({ perPage: 5, page: 1 }));
const subscription = await call('SubscriptionsApi.createSubscription', () =>
  subscriptions.createSubscription({
    createSubscriptionRequest: { customer: customerId, amount: 980, currency: 'JPY', period: 'monthly' },
  }),
);
await call('SubscriptionsApi.showSubscription', () => subscriptions.showSubscription({ id: idOf(subscription) }));
await call('SubscriptionsApi.listSubscriptions', () => subscriptions.listSubscriptions({ perPage: 5 }));
await call('SubscriptionsApi.deleteSubscription', () =>
  subscriptions.deleteSubscription({ id: idOf(subscription) }),
);

// Secure tokens (3-D Secure for direct payments) and one-click customers.
const secureToken = await call('SecureTokensApi.createSecureToken', () =>
  secureTokens.createSecureToken({
    createSecureTokenRequest: { amount: 1000, currency: 'JPY', return_url: returnUrl, payment_details: card },
  }),
);
await call('SecureTokensApi.showSecureToken', () => secureTokens.showSecureToken({ id: idOf(secureToken) }));
await call('OneClickApi.deleteExternalCustomer', () => oneClick.deleteExternalCustomer({ id: 'sdk-one-click-1' }));

// Events.
const eventList = await call('EventsApi.listEvents', () => events.listEvents({ perPage: 5, page: 1 }));
await call('EventsApi.showEvent', () => events.showEvent({ id: firstId(eventList) }));

// kessai's test tools (not the SDK's): a week on the test clock, so a weekly settlement
// exists, then two disputed card payments (one to defend, one to accept).
async function kessai(method, path, body) {
  const response = await fetch(`${baseUrl}/kessai/v1${path}`, {
    method,
    headers: {
      Authorization: `Basic ${Buffer.from(`${secretKey}:`).toString('base64')}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}
await kessai('POST', '/clock', { advance_seconds: 8 * 86400 });
for (const outcome of ['won', 'lost']) {
  const disputed = await call(
    'PaymentsApi.createPayment',
    () =>
      payments.createPayment({
        createPaymentRequest: { amount: 1500, currency: 'JPY', capture: true, payment_details: card },
      }),
    true,
  );
  await kessai('POST', '/chargebacks', { payment_id: idOf(disputed), outcome });
}

// Balances and settlements.
await call('SettlementsApi.showBalance', () => settlements.showBalance({ currency: 'JPY' }));
const transactions = await call('SettlementsApi.balanceTransactions', () =>
  settlements.balanceTransactions({ currency: 'JPY', perPage: 5 }),
);
await call('SettlementsApi.showTransaction', () =>
  settlements.showTransaction({ currency: 'JPY', transactionUuid: firstId(transactions) }),
);
const settlementList = await call('SettlementsApi.listSettlements', () => settlements.listSettlements({ perPage: 5 }));
const settlementId = firstId(settlementList);
await call('SettlementsApi.showSettlement', () => settlements.showSettlement({ id: settlementId }));
await call('SettlementsApi.showSettlementCSV', () => settlements.showSettlementCSV({ id: settlementId }));
await call('SettlementsApi.showSettlementPDF', () => settlements.showSettlementPDF({ id: settlementId }));
await call('SettlementsApi.showSettlementXLS', () => settlements.showSettlementXLS({ id: settlementId }));

// Disbursements.
const disbursement = await call('DisbursementsApi.createDisbursement', () =>
  disbursements.createDisbursement({
    createDisbursementRequest: {
      amount: 100,
      currency: 'JPY',
      account_number: '1234567',
      account_type: 'ordinary',
      account_name_kana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
      bank_code: '0001',
      branch_code: '001',
      external_id: 'sdk-disbursement-1',
    },
  }),
);
await call('DisbursementsApi.showDisbursement', () => disbursements.showDisbursement({ id: idOf(disbursement) }));
await call('DisbursementsApi.listDisbursements', () => disbursements.listDisbursements({ perPage: 5, currency: 'JPY' }));
await call('DisbursementsApi.disbursementReport', () =>
  disbursements.disbursementReport({
    startTime: new Date(Date.now() - 86400_000).toISOString(),
    endTime: new Date(Date.now() + 86400_000).toISOString(),
    currency: 'JPY',
    status: 'pending',
  }),
);
await call('DisbursementsApi.cancelDisbursement', () =>
  disbursements.cancelDisbursement({
    id: idOf(disbursement),
    cancelDisbursementRequest: { cancel_reason: 'SDK run' },
  }),
);

// Chargebacks.
const chargebackList = await call('ChargebacksApi.listChargebackRequests', () =>
  chargebacks.listChargebackRequests({ perPage: 5 }),
);
const chargebackId = firstId(chargebackList);
const acceptedId =
  chargebackList && Array.isArray(chargebackList.data) && chargebackList.data.length > 1
    ? String(chargebackList.data[1].id)
    : MISSING;
await call('ChargebacksApi.showChargebackRequest', () => chargebacks.showChargebackRequest({ id: chargebackId }));
await call('ChargebacksApi.defendChargebackRequest', () =>
  chargebacks.defendChargebackRequest({
    id: chargebackId,
    defendChargebackRequestBody: {
      description: 'Delivered; signed receipt attached.',
      document: { document_base64: 'iVBORw0KGgo=' },
    },
  }),
);
await call('ChargebacksApi.acceptChargebackRequest', () => chargebacks.acceptChargebackRequest({ id: acceptedId }));

// The customer goes last: deleting it is the end of its story.
await call('SubscriptionsApi.deleteCustomer', () => subscriptions.deleteCustomer({ id: customerId }));

// KOMOJU's platform (sub-merchant) API.
const m = merchantId;
const pm = 'credit_card';
await call('PlatformModelApi.balanceTransfer', () =>
  platform.balanceTransfer({ currency: 'JPY', balanceTransferRequest: { amount: 100, merchant_id: m } }),
);
await call('PlatformModelApi.createFile', () =>
  platform.createFile({ merchantId: m, createFileRequest: { file: 'iVBORw0KGgo=', purpose: 'identity' } }),
);
await call('PlatformModelApi.createMerchant', () =>
  platform.createMerchant({ createMerchantRequest: { name: 'SDK sub-merchant' } }),
);
await call('PlatformModelApi.createMerchantBalanceTransfer', () =>
  platform.createMerchantBalanceTransfer({
    merchantId: m,
    currency: 'JPY',
    createMerchantBalanceTransferRequest: { amount: 100 },
  }),
);
await call('PlatformModelApi.editMerchantBalanceSettings', () =>
  platform.editMerchantBalanceSettings({
    merchantId: m,
    currency: 'JPY',
    editMerchantBalanceSettingsRequest: {},
  }),
);
await call('PlatformModelApi.listLiveApplicationPaymentMethods', () =>
  platform.listLiveApplicationPaymentMethods({ merchantId: m, locale: 'en' }),
);
await call('PlatformModelApi.listMerchants', () => platform.listMerchants({ perPage: 5 }));
await call('PlatformModelApi.listSubmerchantPayments', () =>
  platform.listSubmerchantPayments({ merchantId: m, perPage: 5 }),
);
await call('PlatformModelApi.listSubmerchantSettlements', () => platform.listSubmerchantSettlements({ merchantId: m }));
await call('PlatformModelApi.merchantBalanceTransactions', () =>
  platform.merchantBalanceTransactions({ merchantId: m, currency: 'JPY', perPage: 5 }),
);
await call('PlatformModelApi.showFile', () => platform.showFile({ merchantId: m, id: MISSING }));
await call('PlatformModelApi.showLiveApplication', () => platform.showLiveApplication({ merchantId: m }));
await call('PlatformModelApi.showLiveApplicationPaymentMethod', () =>
  platform.showLiveApplicationPaymentMethod({ merchantId: m, paymentMethod: pm }),
);
await call('PlatformModelApi.showMerchant', () => platform.showMerchant({ id: m }));
await call('PlatformModelApi.showMerchantBalance', () => platform.showMerchantBalance({ merchantId: m, currency: 'JPY' }));
await call('PlatformModelApi.showMerchantBalanceSettings', () =>
  platform.showMerchantBalanceSettings({ merchantId: m, currency: 'JPY' }),
);
await call('PlatformModelApi.showMerchantBalanceTransaction', () =>
  platform.showMerchantBalanceTransaction({ merchantId: m, currency: 'JPY', transactionUuid: MISSING }),
);
await call('PlatformModelApi.showSubmerchantSettlement', () =>
  platform.showSubmerchantSettlement({ merchantId: m, id: MISSING }),
);
await call('PlatformModelApi.simulateLiveApplicationPaymentMethodStatus', () =>
  platform.simulateLiveApplicationPaymentMethodStatus({
    merchantId: m,
    paymentMethod: pm,
    simulateLiveApplicationPaymentMethodStatusRequest: { status: 'approved' },
  }),
);
await call('PlatformModelApi.simulateLiveApplicationStatus', () =>
  platform.simulateLiveApplicationStatus({
    merchantId: m,
    simulateLiveApplicationPaymentMethodStatusRequest: { status: 'accepted' },
  }),
);
await call('PlatformModelApi.submerchantSettlementCSV', () => platform.submerchantSettlementCSV({ merchantId: m, id: MISSING }));
await call('PlatformModelApi.submerchantSettlementPDF', () => platform.submerchantSettlementPDF({ merchantId: m, id: MISSING }));
await call('PlatformModelApi.submerchantSettlementXLS', () => platform.submerchantSettlementXLS({ merchantId: m, id: MISSING }));
await call('PlatformModelApi.updateLiveApplication', () =>
  platform.updateLiveApplication({ merchantId: m, liveApplicationRequest: {} }),
);
await call('PlatformModelApi.updateLiveApplicationPaymentMethod', () =>
  platform.updateLiveApplicationPaymentMethod({ merchantId: m, paymentMethod: pm, updatePaymentMethodRequest: {} }),
);
await call('PlatformModelApi.updateMerchant', () => platform.updateMerchant({ id: m, updateMerchantRequest: {} }));

// Every operation the installed SDK has, called or not: a new one shows up as uncalled.
const uncalled = [];
for (const [name, value] of Object.entries(sdk)) {
  if (typeof value !== 'function' || !name.endsWith('Api') || name === 'BaseAPI') continue;
  for (const method of Object.getOwnPropertyNames(value.prototype)) {
    if (method !== 'constructor' && !ran.has(`${name}.${method}`)) uncalled.push(`${name}.${method}`);
  }
}
for (const operation of uncalled) {
  process.stdout.write(
    `${JSON.stringify({ operation, status: 'error', http_status: null, error_code: 'not_called_by_run_sdk', body: null })}\n`,
  );
}
