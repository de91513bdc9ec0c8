// CallScript for VS Code: starts `callscript lsp` (stdio) as the language server
// for .call files. Plain CommonJS, no build step.
'use strict';

const os = require('os');
const path = require('path');
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

const LANGUAGE_ID = 'callscript';

/** @type {LanguageClient | undefined} */
let client;
/** @type {vscode.OutputChannel | undefined} */
let outputChannel;

/**
 * Turns the `callscript.path` setting into the command to spawn.
 * A bare name ("callscript") is left to PATH lookup; `~/…` is expanded;
 * a relative path with a separator is taken relative to the first workspace folder.
 * @param {string | undefined} setting
 * @param {string | undefined} workspaceRoot
 * @returns {string}
 */
function resolveServerPath(setting, workspaceRoot) {
  let p = typeof setting === 'string' ? setting.trim() : '';
  if (p === '') return 'callscript';
  if (p === '~' || p.startsWith('~/') || p.startsWith('~\\')) {
    p = path.join(os.homedir(), p.slice(1));
  }
  const hasSeparator = p.includes('/') || p.includes('\\');
  if (hasSeparator && !path.isAbsolute(p) && workspaceRoot) {
    p = path.resolve(workspaceRoot, p);
  }
  return p;
}

/**
 * The server is run as `<callscript.path> lsp` and speaks LSP on stdin/stdout.
 * No `transport` is set on purpose: with TransportKind.stdio the client would
 * append a `--stdio` argument that `callscript lsp` does not take.
 * @param {string} command
 */
function makeServerOptions(command) {
  const executable = { command, args: ['lsp'] };
  return { run: executable, debug: executable };
}

function makeClientOptions() {
  return {
    documentSelector: [
      { scheme: 'file', language: LANGUAGE_ID },
      { scheme: 'untitled', language: LANGUAGE_ID },
    ],
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{call,toml}'),
    },
    outputChannel,
  };
}

function currentCommand() {
  const config = vscode.workspace.getConfiguration('callscript');
  const folders = vscode.workspace.workspaceFolders;
  const root = folders && folders.length > 0 ? folders[0].uri.fsPath : undefined;
  return resolveServerPath(config.get('path'), root);
}

async function startClient() {
  const command = currentCommand();
  client = new LanguageClient(
    LANGUAGE_ID,
    'CallScript Language Server',
    makeServerOptions(command),
    makeClientOptions(),
  );
  try {
    await client.start();
  } catch (err) {
    const failed = client;
    client = undefined;
    try {
      if (failed) await failed.dispose();
    } catch (_) {
      // the server never came up; nothing to clean up
    }
    const detail = err && err.message ? err.message : String(err);
    const choice = await vscode.window.showErrorMessage(
      `CallScript: could not start the language server \`${command} lsp\` (${detail}). ` +
        'Set "callscript.path" to the callscript binary.',
      'Open Settings',
    );
    if (choice === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'callscript.path');
    }
  }
}

async function stopClient() {
  const c = client;
  client = undefined;
  if (c) {
    try {
      await c.stop();
    } catch (_) {
      // already stopped or never started
    }
  }
}

async function restartClient() {
  await stopClient();
  await startClient();
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  outputChannel = vscode.window.createOutputChannel('CallScript');
  context.subscriptions.push(outputChannel);
  context.subscriptions.push(
    vscode.commands.registerCommand('callscript.restartServer', restartClient),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('callscript.path')) {
        restartClient();
      }
    }),
  );
  await startClient();
}

function deactivate() {
  return stopClient();
}

module.exports = {
  activate,
  deactivate,
  // exported for the unit tests
  resolveServerPath,
  makeServerOptions,
  _getClient: () => client,
};
