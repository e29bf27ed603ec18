/**
 * lambent's runtime client for Node.js functions; runs INSIDE the sandbox, one process per
 * execution environment. Started as `node /var/runtime/bootstrap.mjs`; the handler comes from
 * `_HANDLER` (or argv[2]) and the code from `LAMBDA_TASK_ROOT` (/var/task in the sandbox).
 * Node's standard library only.
 *
 * It behaves as AWS's Node.js runtime interface client
 * (aws/aws-lambda-nodejs-runtime-interface-client, v3: src/index.mjs, Runtime.js,
 * CallbackContext.js, UserFunction.js, LogPatch.js, Errors.js) and speaks the Runtime API
 * 2018-06-01 (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) over plain `http`
 * with one keep-alive socket (AWS's client uses a native libcurl binding instead).
 *
 * callbackWaitsForEmptyEventLoop works as in AWS's client: a callback result is held in a
 * 'beforeExit' listener and posted when Node finds its event loop empty. That works here because
 * an idle keep-alive socket is unref'd by http.Agent, so only the function's own work (timers,
 * sockets, pending promises backed by I/O) keeps the loop alive. Async handlers are answered as
 * soon as their promise settles.
 */

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const API = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';

// -- errors (Errors.js) ---------------------------------------------------------------------------

class ExtendedError extends Error {}
class ImportModuleError extends ExtendedError {}
class HandlerNotFound extends ExtendedError {}
class MalformedHandlerName extends ExtendedError {}
class UserCodeSyntaxError extends ExtendedError {}
class UnhandledPromiseRejection extends ExtendedError {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
// An async handler whose promise never settled before the event loop drained.
class NodeJsExit extends ExtendedError {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most ' +
        'commonly caused by a Promise that was never settled. For more information, see ' +
        'https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
for (const cls of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  UnhandledPromiseRejection,
  NodeJsExit,
]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function isError(obj) {
  return (
    obj &&
    typeof obj.name === 'string' &&
    typeof obj.message === 'string' &&
    typeof obj.stack === 'string' &&
    obj.name &&
    obj.message &&
    obj.stack
  );
}

/** The body posted to /error and /init/error: {errorType, errorMessage, trace}. */
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isError(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_err) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

/** The JSON an error is logged as: enumerable properties plus name, message, code and stack. */
function toFormatted(error) {
  const withProps = (_k, v) => {
    if (v instanceof Error) {
      const ret = Object.assign({ errorType: v.name, errorMessage: v.message, code: v.code }, v);
      if (typeof v.stack === 'string') ret.stack = v.stack.split('\n');
      return ret;
    }
    return v;
  };
  try {
    return '\t' + JSON.stringify(error, withProps);
  } catch (_err) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

const intoError = (err) => (err instanceof Error ? err : new Error(err));

// -- console (LogPatch.js: text format, or JSON with Lambda's advanced logging controls) -----------

let currentRequestId; // undefined until the first invocation, printed as "undefined" like AWS
// AWS_LAMBDA_LOG_FORMAT=JSON: one JSON object per console call
// (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-logging.html), records below
// AWS_LAMBDA_LOG_LEVEL dropped (as in text format).
const jsonLogs = process.env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';

/** An Error inside a logged value, as LogPatch.js's jsonErrorReplacer serialises it. */
const jsonErrorReplacer = (_key, value) => {
  if (value instanceof Error) {
    return Object.assign({
      errorType: value?.constructor?.name ?? 'UnknownError',
      errorMessage: value.message,
      stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
    }, value);
  }
  return value;
};

/** The JSON record of one log call (LogPatch.js's formatJsonMessage): a single argument is the
 *  message as it is (an object stays an object, an Error becomes {errorType, errorMessage,
 *  stackTrace}); several are util.format-ted, the first Error among them adding its type,
 *  message and stack at the top level. */
function jsonRecord(levelName, ...params) {
  const record = { timestamp: new Date().toISOString(), level: levelName, requestId: currentRequestId };
  if (params.length === 1) {
    record.message = params[0];
    try {
      return JSON.stringify(record, jsonErrorReplacer);
    } catch (_err) {
      record.message = util.format(record.message);
      return JSON.stringify(record);
    }
  }
  record.message = util.format(...params);
  const error = params.find((v) => v instanceof Error);
  if (error !== undefined) {
    record.errorType = error?.constructor?.name ?? 'UnknownError';
    record.errorMessage = error.message;
    record.stackTrace = typeof error.stack === 'string' ? error.stack.split('\n') : [];
  }
  return JSON.stringify(record);
}

function patchConsole() {
  const levels = {
    TRACE: { name: 'TRACE', priority: 1 },
    DEBUG: { name: 'DEBUG', priority: 2 },
    INFO: { name: 'INFO', priority: 3 },
    WARN: { name: 'WARN', priority: 4 },
    ERROR: { name: 'ERROR', priority: 5 },
    FATAL: { name: 'FATAL', priority: 6 },
  };
  const minimum = levels[process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? levels.TRACE;
  const log = jsonLogs
    ? (level, message, ...params) => process.stdout.write(jsonRecord(level.name, message, ...params).replace(/\n/g, '\r') + '\n')
    : (level, message, ...params) => {
        const line = `${new Date().toISOString()}\t${currentRequestId}\t${level.name}\t${util.format(message, ...params)}`;
        process.stdout.write(line.replace(/\n/g, '\r') + '\n');
      };
  const make = (level) =>
    level.priority >= minimum.priority ? (msg, ...params) => log(level, msg, ...params) : () => {};
  console.trace = make(levels.TRACE);
  console.debug = make(levels.DEBUG);
  console.info = make(levels.INFO);
  console.log = console.info;
  console.warn = make(levels.WARN);
  console.error = make(levels.ERROR);
  console.fatal = (msg, ...params) => log(levels.FATAL, msg, ...params);
}

function logError(message, err) {
  if (jsonLogs) console.error(intoError(err)); // LogPatch.js's jsonErrorLogger: the error alone
  else console.error(message, toFormatted(intoError(err)));
}

// -- Runtime API client (RAPIDClient.js) ----------------------------------------------------------

class RapidClient {
  /** One keep-alive connection to the Runtime API; lives as long as the process. */
  constructor(hostPort) {
    const at = hostPort.lastIndexOf(':');
    this.hostname = hostPort.slice(0, at).replace(/^\[|\]$/g, '');
    this.port = parseInt(hostPort.slice(at + 1), 10);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  request(method, pathname, body, headers, onDone) {
    const options = {
      hostname: this.hostname,
      port: this.port,
      path: API + pathname,
      method,
      agent: this.agent,
      headers: headers || {},
    };
    if (body !== undefined) {
      options.headers['Content-Length'] = Buffer.byteLength(body);
    }
    const req = http.request(options, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => onDone(res, Buffer.concat(chunks)));
    });
    req.on('socket', (socket) => socket.setNoDelay(true));
    req.on('error', (e) => {
      // Without its Runtime API the runtime can do nothing more; the platform sees the exit.
      process.stderr.write(`Runtime API request ${method} ${pathname} failed: ${e}\n`);
      process.exit(1);
    });
    req.end(body);
  }

  nextInvocation() {
    return new Promise((resolve) => {
      this.request('GET', '/invocation/next', undefined, undefined, (res, body) => {
        if (res.statusCode !== 200) {
          process.stdout.write(`Runtime API refused /next with HTTP ${res.statusCode}: ${body}\n`);
          process.exit(1);
        }
        resolve({ bodyJson: body.toString('utf8'), headers: res.headers });
      });
    });
  }

  postInvocationResponse(response, id, callback) {
    const body = trySerialize(response); // throws synchronously, as AWS's client does
    this._post(`/invocation/${encodeURIComponent(id)}/response`, body, {}, callback);
  }

  postInvocationError(error, id, callback) {
    const response = toRapidResponse(error);
    this._post(
      `/invocation/${encodeURIComponent(id)}/error`,
      trySerialize(response),
      { [ERROR_TYPE_HEADER]: response.errorType },
      callback,
    );
  }

  postInitError(error, callback) {
    const response = toRapidResponse(error);
    this._post('/init/error', trySerialize(response), { [ERROR_TYPE_HEADER]: response.errorType }, callback);
  }

  _post(pathname, body, headers, callback) {
    const all = Object.assign({ 'Content-Type': 'application/json' }, headers);
    this.request('POST', pathname, body, all, () => callback());
  }
}

function trySerialize(body) {
  try {
    return JSON.stringify(body === undefined ? null : body);
  } catch (_err) {
    throw new Error('Unable to stringify response body');
  }
}

// -- the single beforeExit listener (BeforeExitListener.js) ---------------------------------------

const NO_OP = () => {};
let beforeExitListener = NO_OP;
const beforeExit = {
  invoke: () => beforeExitListener(),
  reset: () => (beforeExitListener = NO_OP),
  set: (listener) => (beforeExitListener = listener),
};

// -- callback and context (CallbackContext.js, InvokeContext.js) ----------------------------------

function buildCallbackContext(client, id, scheduleNext) {
  const postError = (err, callback) => {
    logError('Invoke Error', err);
    client.postInvocationError(err, id, callback);
  };
  let isCompleteInvoked = false;
  const complete = (result, callback) => {
    if (isCompleteInvoked) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    isCompleteInvoked = true;
    client.postInvocationResponse(result, id, callback);
  };
  let waitForEmptyEventLoop = true;

  const callback = (err, result) => {
    beforeExit.reset();
    if (err !== undefined && err !== null) {
      postError(err, scheduleNext);
    } else if (!waitForEmptyEventLoop) {
      complete(result, scheduleNext);
    } else {
      beforeExit.set(() => setImmediate(() => complete(result, scheduleNext)));
    }
  };
  const done = (err, result) => {
    beforeExit.reset();
    if (err !== undefined && err !== null) {
      postError(err, scheduleNext);
    } else {
      complete(result, scheduleNext);
    }
  };
  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed: (result) => done(null, result),
    fail: (err) => (err === undefined || err === null ? done('handled') : done(err, null)),
    done,
  };

  // Only the first call to any of callback/succeed/fail/done counts.
  let finished = false;
  const once =
    (fn) =>
    (...args) => {
      if (!finished) {
        fn(...args);
        finished = true;
      }
    };
  context.succeed = once(context.succeed);
  context.fail = once(context.fail);
  context.done = once(context.done);
  return [once(callback), context, () => (isCompleteInvoked = true)];
}

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function attachEnvironmentData(callbackContext, headers) {
  if (headers['lambda-runtime-trace-id']) {
    process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
  } else {
    delete process.env._X_AMZN_TRACE_ID;
  }
  const deadline = headers['lambda-runtime-deadline-ms'];
  return Object.assign(callbackContext, {
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
    identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    getRemainingTimeInMillis: () => deadline - Date.now(),
  });
}

// -- loading the handler (UserFunction.js) --------------------------------------------------------

function hasPackageJsonTypeModule(folder) {
  // The nearest package.json decides; a node_modules boundary or the root means CommonJS.
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, 'package.json');
  if (fs.existsSync(pj)) {
    try {
      return JSON.parse(fs.readFileSync(pj, 'utf8'))?.type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  if (folder === '/') return false;
  return hasPackageJsonTypeModule(path.resolve(folder, '..'));
}

const tryRequire = (file) => (fs.existsSync(file) ? require(file) : undefined);
const tryImport = async (file) => (fs.existsSync(file) ? await import(pathToFileURL(file).href) : undefined);

async function loadModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);
  const extensionless = tryRequire(base);
  if (extensionless) return extensionless;
  const esm = hasPackageJsonTypeModule(path.dirname(base));
  if (!esm) {
    const cjs = tryRequire(base + '.js');
    if (cjs) return cjs;
  }
  const loaded =
    (esm && (await tryImport(base + '.js'))) ||
    (await tryImport(base + '.mjs')) ||
    tryRequire(base + '.cjs');
  if (loaded) return loaded;
  // Falls back to Node's own resolution (node_modules); throws MODULE_NOT_FOUND otherwise.
  return require(require.resolve(moduleName, { paths: [appRoot, moduleRoot] }));
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(handlerString));
  const match = handlerString.match(/^([^.]*)\.(.*)$/);
  if (!match || match.length !== 3) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, handlerPath] = match;

  globalThis.awslambda = {
    // Response streaming is not supported by lambent: streamified handlers are refused at init.
    streamifyResponse: (handler) => {
      handler[Symbol.for('aws.lambda.runtime.handler.streaming')] = 'response';
      return handler;
    },
  };
  let userApp;
  try {
    userApp = await loadModule(appRoot, moduleRoot, moduleName);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
  const handlerFunc = handlerPath.split('.').reduce((obj, key) => obj && obj[key], userApp);
  if (!handlerFunc) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handlerFunc !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  if (handlerFunc[Symbol.for('aws.lambda.runtime.handler.streaming')]) {
    throw new HandlerNotFound(`${fullHandler} is a response-streaming handler, which lambent does not support`);
  }
  return handlerFunc;
}

// -- the invocation loop (Runtime.js) --------------------------------------------------------------

class Runtime {
  constructor(client, handler, errorCallbacks) {
    this.client = client;
    this.handler = handler;
    this.isAsync = handler.constructor?.name === 'AsyncFunction';
    this.errorCallbacks = errorCallbacks;
  }

  scheduleIteration() {
    setImmediate(() => {
      this.handleOnce().then(
        () => {},
        (err) => {
          console.log(`Unexpected Top Level Error: ${err.toString()}`);
          this.errorCallbacks.uncaughtException(err);
        },
      );
    });
  }

  async handleOnce() {
    const { bodyJson, headers } = await this.client.nextInvocation();
    const invokeId = headers['lambda-runtime-aws-request-id'];
    currentRequestId = invokeId;
    const [callback, callbackContext, markCompleted] = buildCallbackContext(
      this.client,
      invokeId,
      this.scheduleIteration.bind(this),
    );
    try {
      this.setErrorCallbacks(invokeId);
      this.setDefaultExitListener(invokeId, markCompleted);
      const result = this.handler(
        JSON.parse(bodyJson),
        attachEnvironmentData(callbackContext, headers),
        callback,
      );
      if (result && typeof result.then === 'function') {
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  setErrorCallbacks(invokeId) {
    this.errorCallbacks.uncaughtException = (error) =>
      this.client.postInvocationError(error, invokeId, () => process.exit(129));
    this.errorCallbacks.unhandledRejection = (error) =>
      this.client.postInvocationError(error, invokeId, () => process.exit(128));
  }

  /** If the event loop drains before the handler answered: null for sync handlers, an error for async. */
  setDefaultExitListener(invokeId, markCompleted) {
    beforeExit.set(() => {
      markCompleted();
      if (this.isAsync) {
        const error = new NodeJsExit();
        logError('Invoke Error', error);
        this.client.postInvocationError(error, invokeId, () => this.scheduleIteration());
      } else {
        this.client.postInvocationResponse(null, invokeId, () => this.scheduleIteration());
      }
    });
  }
}

// -- entry point (index.mjs) -----------------------------------------------------------------------

/**
 * AWS_LAMBDA_EXEC_WRAPPER: start the function's wrapper script with node's own command line as
 * its arguments, as Lambda's managed runtimes do
 * (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-modify.html#runtime-wrapper). The
 * variable is removed first, so the runtime the wrapper starts runs the function; a missing or
 * non-executable wrapper ends init with the shell's exit codes (127, 126). Node 20 cannot exec,
 * so this process waits for the wrapper and exits with its status (the only difference: one more
 * node process in the sandbox while the function runs).
 */
function runExecWrapper() {
  const wrapper = process.env.AWS_LAMBDA_EXEC_WRAPPER;
  if (!wrapper) return;
  delete process.env.AWS_LAMBDA_EXEC_WRAPPER;
  let stat;
  try {
    stat = fs.statSync(wrapper);
  } catch (_err) {
    stat = undefined;
  }
  if (stat === undefined || !stat.isFile()) {
    process.stdout.write(`${wrapper}: does not exist\n`);
    process.exit(127);
  }
  try {
    fs.accessSync(wrapper, fs.constants.X_OK);
  } catch (_err) {
    process.stdout.write(`${wrapper}: is not an executable\n`);
    process.exit(126);
  }
  const { spawnSync } = require('node:child_process');
  const args = [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  const result = spawnSync(wrapper, args, { stdio: 'inherit', env: process.env });
  if (result.error) process.stdout.write(`${wrapper}: ${result.error.message}\n`);
  if (result.signal) process.kill(process.pid, result.signal);
  process.exit(result.status ?? 126);
}

async function main() {
  runExecWrapper();
  patchConsole();
  const client = new RapidClient(process.env.AWS_LAMBDA_RUNTIME_API);
  const errorCallbacks = {
    uncaughtException: (error) => client.postInitError(error, () => process.exit(129)),
    unhandledRejection: (error) => client.postInitError(error, () => process.exit(128)),
  };
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    errorCallbacks.unhandledRejection(error);
  });
  beforeExit.reset();
  process.on('beforeExit', beforeExit.invoke);

  const appRoot = process.env.LAMBDA_TASK_ROOT || '/var/task';
  const handlerName = process.argv[2] || process.env._HANDLER || '';
  let handler;
  try {
    handler = await loadHandler(appRoot, handlerName);
  } catch (error) {
    // AWS's bootstrap lets this escape as an uncaught exception: same log line, same report.
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
    return;
  }
  new Runtime(client, handler, errorCallbacks).scheduleIteration();
}

await main();
