// Unit tests of extension.js with stand-ins for the `vscode` API and the language client,
// so they run under plain Node (no VS Code download).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const Module = require('node:module');
const os = require('node:os');
const path = require('node:path');

function makeHarness({ settings = {}, folders = [], startError = null, choice } = {}) {
  const h = {
    clients: [],
    errors: [],
    executed: [],
    commands: new Map(),
    configListeners: [],
    settings,
  };
  class LanguageClient {
    constructor(id, name, serverOptions, clientOptions) {
      Object.assign(this, { id, name, serverOptions, clientOptions });
      this.started = false;
      this.stopped = false;
      this.disposed = false;
      h.clients.push(this);
    }
    async start() {
      if (startError) throw startError;
      this.started = true;
    }
    async stop() {
      this.stopped = true;
    }
    async dispose() {
      this.disposed = true;
    }
  }
  const vscode = {
    workspace: {
      getConfiguration: (section) => ({
        get: (key) => h.settings[`${section}.${key}`],
      }),
      get workspaceFolders() {
        return folders.map((p) => ({ uri: { fsPath: p } }));
      },
      createFileSystemWatcher: (glob) => ({ glob, dispose() {} }),
      onDidChangeConfiguration: (fn) => {
        h.configListeners.push(fn);
        return { dispose() {} };
      },
    },
    window: {
      createOutputChannel: (name) => ({ name, append() {}, appendLine() {}, dispose() {} }),
      showErrorMessage: async (msg, ...items) => {
        h.errors.push({ msg, items });
        return choice;
      },
    },
    commands: {
      registerCommand: (id, fn) => {
        h.commands.set(id, fn);
        return { dispose() {} };
      },
      executeCommand: async (...args) => {
        h.executed.push(args);
      },
    },
  };
  const extPath = require.resolve('../../extension.js');
  delete require.cache[extPath];
  const originalLoad = Module._load;
  Module._load = function (request, parent, isMain) {
    if (request === 'vscode') return vscode;
    if (request === 'vscode-languageclient/node') return { LanguageClient };
    return originalLoad.call(this, request, parent, isMain);
  };
  try {
    h.ext = require(extPath);
  } finally {
    Module._load = originalLoad;
  }
  h.context = { subscriptions: [] };
  return h;
}

test('activate launches `callscript lsp` over stdio by default', async () => {
  const h = makeHarness();
  await h.ext.activate(h.context);
  assert.equal(h.clients.length, 1);
  const c = h.clients[0];
  assert.equal(c.id, 'callscript');
  assert.ok(c.started);
  for (const mode of ['run', 'debug']) {
    assert.equal(c.serverOptions[mode].command, 'callscript');
    assert.deepEqual(c.serverOptions[mode].args, ['lsp']);
    // no transport: the client would otherwise append `--stdio` to the arguments
    assert.equal(c.serverOptions[mode].transport, undefined);
  }
  assert.deepEqual(
    c.clientOptions.documentSelector.map((s) => s.language),
    ['callscript', 'callscript'],
  );
  assert.ok(h.commands.has('callscript.restartServer'));
  assert.equal(h.errors.length, 0);
  await h.ext.deactivate();
  assert.ok(c.stopped);
});

test('callscript.path setting selects the binary', async () => {
  const h = makeHarness({ settings: { 'callscript.path': '/opt/callscript/bin/callscript' } });
  await h.ext.activate(h.context);
  assert.equal(h.clients[0].serverOptions.run.command, '/opt/callscript/bin/callscript');
  assert.deepEqual(h.clients[0].serverOptions.run.args, ['lsp']);
});

test('resolveServerPath: empty, bare name, home, workspace-relative', () => {
  const { resolveServerPath } = makeHarness().ext;
  assert.equal(resolveServerPath(undefined, '/ws'), 'callscript');
  assert.equal(resolveServerPath('  ', '/ws'), 'callscript');
  assert.equal(resolveServerPath('callscript', '/ws'), 'callscript');
  assert.equal(resolveServerPath('~/bin/callscript', '/ws'), path.join(os.homedir(), 'bin/callscript'));
  assert.equal(resolveServerPath('target/debug/callscript', '/ws'), path.resolve('/ws', 'target/debug/callscript'));
  assert.equal(resolveServerPath('./target/debug/callscript', undefined), './target/debug/callscript');
  assert.equal(resolveServerPath('/usr/bin/callscript', '/ws'), '/usr/bin/callscript');
});

test('a server that cannot start reports an error pointing at callscript.path', async () => {
  const h = makeHarness({ startError: new Error('spawn callscript ENOENT'), choice: 'Open Settings' });
  await h.ext.activate(h.context); // must not throw
  assert.equal(h.errors.length, 1);
  assert.match(h.errors[0].msg, /callscript lsp/);
  assert.match(h.errors[0].msg, /callscript\.path/);
  assert.ok(h.clients[0].disposed);
  assert.deepEqual(h.executed, [['workbench.action.openSettings', 'callscript.path']]);
  assert.equal(h.ext._getClient(), undefined);
  await h.ext.deactivate();
});

test('changing callscript.path restarts the server with the new binary', async () => {
  const h = makeHarness();
  await h.ext.activate(h.context);
  h.settings['callscript.path'] = '/new/callscript';
  // an unrelated setting does nothing
  await h.configListeners[0]({ affectsConfiguration: (s) => s === 'editor.fontSize' });
  assert.equal(h.clients.length, 1);
  h.configListeners[0]({ affectsConfiguration: (s) => s === 'callscript.path' });
  await new Promise((r) => setImmediate(r));
  assert.equal(h.clients.length, 2);
  assert.ok(h.clients[0].stopped);
  assert.equal(h.clients[1].serverOptions.run.command, '/new/callscript');
  assert.ok(h.clients[1].started);
});

test('the restart command stops and starts a fresh client', async () => {
  const h = makeHarness();
  await h.ext.activate(h.context);
  await h.commands.get('callscript.restartServer')();
  assert.equal(h.clients.length, 2);
  assert.ok(h.clients[0].stopped);
  assert.ok(h.clients[1].started);
  assert.equal(h.ext._getClient(), h.clients[1]);
});
