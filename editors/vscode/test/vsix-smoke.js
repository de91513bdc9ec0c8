// Loads extension.js from an unpacked .vsix (argv[2]: the folder holding `extension/`)
// with only the `vscode` module stood in, so every run-time dependency must come from
// the package itself. Run by editors/test.sh after `npm run package`.
'use strict';

const Module = require('node:module');
const path = require('node:path');
const assert = require('node:assert/strict');

const dir = path.resolve(process.argv[2] || '.');
const extensionJs = path.join(dir, 'extension', 'extension.js');

// `vscode` stand-in: any property is a class-like function whose properties are the same.
function stub(name) {
  const fn = function () {};
  return new Proxy(fn, {
    get(target, prop) {
      if (prop === 'prototype') return target.prototype;
      if (prop === Symbol.toPrimitive) return () => name;
      if (prop === 'then') return undefined;
      if (!(prop in target)) target[prop] = stub(`${name}.${String(prop)}`);
      return target[prop];
    },
    construct() {
      return {};
    },
    apply() {
      return undefined;
    },
  });
}

const originalResolve = Module._resolveFilename;
const originalLoad = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === 'vscode') return stub('vscode');
  return originalLoad.call(this, request, parent, isMain);
};
// nothing may be resolved from outside the unpacked package
Module._resolveFilename = function (request, parent, ...rest) {
  const resolved = originalResolve.call(this, request, parent, ...rest);
  if (path.isAbsolute(resolved) && !resolved.startsWith(dir + path.sep)) {
    throw new Error(`${request} resolved outside the package: ${resolved}`);
  }
  return resolved;
};

const ext = require(extensionJs);
assert.equal(typeof ext.activate, 'function');
assert.equal(typeof ext.deactivate, 'function');
assert.equal(ext.resolveServerPath('', undefined), 'callscript');
const languageClient = require(require.resolve('vscode-languageclient/node', { paths: [path.dirname(extensionJs)] }));
assert.equal(typeof languageClient.LanguageClient, 'function');
console.log(`vsix smoke: extension.js and vscode-languageclient load from ${dir}`);
