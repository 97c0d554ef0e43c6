// A minimal Lambda Runtime API client for the Node peer, standing in for `aws-lambda-ric`, which does not
// install here (4.x needs Node >= 22; 3.x builds native code and needs cmake). It does what the RIC's loop
// does: load the handler once, then GET /next -> call -> POST /response (or /error), over one keep-alive
// connection. Usage: node runtime.js index.handler   (AWS_LAMBDA_RUNTIME_API=host:port)
'use strict';

const http = require('http');
const path = require('path');

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const BASE = '/2018-06-01/runtime';

function call(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const req = http.request({
      host, port, method, path: urlPath, agent,
      headers: data ? { ...headers, 'Content-Type': 'application/json', 'Content-Length': data.length } : headers,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

function errorBody(e) {
  return JSON.stringify({
    errorType: (e && e.name) || 'Error',
    errorMessage: (e && e.message) || String(e),
    trace: e && e.stack ? String(e.stack).split('\n') : [],
  });
}

async function main() {
  const spec = process.argv[2] || process.env._HANDLER || 'index.handler';
  const dot = spec.lastIndexOf('.');
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = require(path.resolve(root, spec.slice(0, dot)))[spec.slice(dot + 1)];
    if (typeof handler !== 'function') throw new Error(`${spec} is not a function`);
  } catch (e) {
    await call('POST', `${BASE}/init/error`, errorBody(e), { 'Lambda-Runtime-Function-Error-Type': 'Runtime.ImportModuleError' });
    process.exit(1);
  }
  for (;;) {
    const next = await call('GET', `${BASE}/invocation/next`);
    const id = next.headers['lambda-runtime-aws-request-id'];
    const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
    if (next.headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'];
    const context = {
      awsRequestId: id,
      invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => deadline - Date.now(),
    };
    let result;
    try {
      result = await handler(JSON.parse(next.body), context);
    } catch (e) {
      console.error(JSON.stringify({ level: 'ERROR', requestId: id, errorType: e && e.name, errorMessage: e && e.message }));
      await call('POST', `${BASE}/invocation/${id}/error`, errorBody(e), { 'Lambda-Runtime-Function-Error-Type': 'Unhandled' });
      continue;
    }
    await call('POST', `${BASE}/invocation/${id}/response`, JSON.stringify(result === undefined ? null : result));
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
