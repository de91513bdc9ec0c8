// Checks of the static parts of the extension: manifest, language configuration,
// snippets, and that every regular expression of the grammar compiles in Oniguruma
// (vscode-textmate compiles a rule only when a document reaches it).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const readJson = (rel) => JSON.parse(fs.readFileSync(path.join(root, rel), 'utf8'));
const pkg = readJson('package.json');

test('package.json contributes the callscript language, grammar, snippets and setting', () => {
  assert.equal(pkg.name, 'callscript');
  assert.equal(pkg.main, './extension.js');
  assert.ok(pkg.dependencies['vscode-languageclient']);
  const lang = pkg.contributes.languages.find((l) => l.id === 'callscript');
  assert.ok(lang, 'language callscript');
  assert.deepEqual(lang.extensions, ['.call']);
  const grammar = pkg.contributes.grammars.find((g) => g.language === 'callscript');
  assert.equal(grammar.scopeName, 'source.callscript');
  assert.equal(readJson(grammar.path).scopeName, 'source.callscript');
  const setting = pkg.contributes.configuration.properties['callscript.path'];
  assert.equal(setting.type, 'string');
  assert.equal(setting.default, 'callscript');
  for (const rel of [
    pkg.main,
    lang.configuration,
    grammar.path,
    ...pkg.contributes.snippets.map((s) => s.path),
  ]) {
    assert.ok(fs.existsSync(path.join(root, rel)), `${rel} exists`);
  }
});

test('language configuration: comments, brackets, auto-closing of quotes and {{ }}', () => {
  const conf = readJson('language-configuration.json');
  assert.equal(conf.comments.lineComment, '//');
  assert.deepEqual(conf.brackets, [['{', '}'], ['(', ')'], ['[', ']']]);
  const pair = (open) => conf.autoClosingPairs.find((p) => p.open === open);
  assert.equal(pair('{{').close, '}}');
  assert.ok(!pair('{{').notIn.includes('string'), '{{ }} must close inside strings');
  assert.ok(pair('{').notIn.includes('string'), 'a single { inside a prompt is left alone');
  assert.equal(pair('"').close, '"');
});

test('indentation rules follow { and } but ignore braces in strings and comments', () => {
  const { increaseIndentPattern, decreaseIndentPattern } = readJson('language-configuration.json').indentationRules;
  const inc = new RegExp(increaseIndentPattern);
  const dec = new RegExp(decreaseIndentPattern);
  const indents = [
    'script loan_reminder "逾期还款提醒" {',
    '  ask "请问您是{{customer_name}}本人吗?" retries 2 {',
    '    on rate_too_high limit 2 => {',
    '  input {   // per-customer data',
    '  } else {',
    '  on yes => { verify } {',
  ];
  const flat = [
    '      on yes => { verify; goto core }',
    '    step thanks { say "再见 }"; hangup promised }',
    '    say "{"',
    '    say "{{x}}"',
    '  // {',
    '  tag "a\\"{"',
  ];
  for (const l of indents) assert.ok(inc.test(l), `indent after: ${l}`);
  for (const l of flat) assert.ok(!inc.test(l), `no indent after: ${l}`);
  assert.ok(dec.test('  }'));
  assert.ok(dec.test('} else {'));
  assert.ok(!dec.test('  say "}"'));
});

test('snippets: new script, step, ask with silence/unknown/exhausted, asks that capture, test', () => {
  const snippets = readJson('snippets/callscript.json');
  const byPrefix = (p) =>
    Object.values(snippets).find((s) => [].concat(s.prefix).includes(p));
  const body = (p) => [].concat(byPrefix(p).body).join('\n');
  for (const s of Object.values(snippets)) {
    assert.ok(s.description, 'every snippet is described');
  }
  const script = body('script');
  assert.match(script, /本次通话将被录音/);
  // the disclosure is in the first prompt of the script
  assert.match(script.slice(script.indexOf('opening')), /^opening \{\n\t\tsay "[^"]*本次通话将被录音/);
  let last = -1;
  for (const section of ['opening', 'core', 'objection', 'closing']) {
    const at = script.search(new RegExp(`^\\t${section} \\{`, 'm'));
    assert.ok(at > last, `section ${section} in order`);
    last = at;
  }
  assert.match(script, /on emotion angry, complaint => transfer/);
  assert.match(body('step'), /^step \$\{1:[^}]+\} \{/);
  const ask = body('ask');
  for (const p of ['silence', 'unknown', 'exhausted']) assert.match(ask, new RegExp(`on[^\\n]*\\b${p}\\b`));
  assert.match(ask, /retries/);
  const capture = body('askcapture');
  assert.match(capture, /^ask "[^"]*" capture \$\{2:[a-z_]+\} retries/);
  assert.match(capture, /^\ton captured if [^\n]*=>/m, 'a guarded captured branch');
  assert.match(capture, /^\ton captured => retry/m, 'a captured branch that asks again');
  for (const p of ['silence', 'unknown', 'exhausted']) assert.match(capture, new RegExp(`on[^\\n]*\\b${p}\\b`));
  const digits = body('askdigits');
  assert.match(digits, / capture \$\{2:[a-z_]+\} digits \$\{3:4\} /);
  assert.match(digits, /on captured if \$2 == [^\n]*verify/);
  assert.match(digits, /on exhausted/);
  const t = body('test');
  assert.match(t, /^test "[^"]*" for /);
  assert.match(t, /\breply\b/);
  assert.match(t, /\bexpect\b/);
});

test('snippets: a flow with parameters and return, a call, a handler set with listen (section 12)', () => {
  const snippets = readJson('snippets/callscript.json');
  const byPrefix = (p) =>
    Object.values(snippets).find((s) => [].concat(s.prefix).includes(p));
  const body = (p) => [].concat(byPrefix(p).body).join('\n');
  const flow = body('flow');
  assert.match(flow, /^flow \$\{1:[a-z_]+\} "\$\{2:[^}]+\}" \(\$\{3:[a-z_]+\}: \$\{4\|text,[a-z,]+\|\}\) \{/);
  assert.match(flow, /^\tlet \$\{5:[a-z_]+\}: time = /m, 'a let of its own');
  assert.match(flow, /callback at \$\{5:[a-z_]+\}/);
  assert.match(flow, /=> \{[^\n]*\breturn \}$/m, 'a captured branch that returns');
  assert.match(flow, /on exhausted => return$/m);
  assert.match(body('call'), /^call \$\{1:[a-z_]+\}\(/);
  const set = body('handlers');
  assert.match(set, /^handlers \$\{1:[a-z_]+\} \{/);
  assert.match(set, /^\ton [^\n]*=> \{[^\n]*\blisten \}$/m, 'a handler that listens again');
  assert.match(set, /^\ton repeat => resume$/m);
});

test('snippets: an action with typed inputs and outputs, a do with both branches, a mock (section 13)', () => {
  const snippets = readJson('snippets/callscript.json');
  const byPrefix = (p) =>
    Object.values(snippets).find((s) => [].concat(s.prefix).includes(p));
  const body = (p) => [].concat(byPrefix(p).body).join('\n');
  const action = body('action');
  assert.match(action, /^action \$\{1:[a-z_]+\} "\$\{2:[^}]+\}" \{/);
  assert.match(action, /^\tinput \{ \$\{3:[a-z_]+\}: \$\{4\|text,[a-z,]+\|\} \}$/m);
  assert.match(action, /^\toutput \{ \$\{5:[a-z_]+\}: \$\{6\|[a-z,]+\|\} \}$/m);
  const call = body('do');
  assert.match(call, /^do \$\{1:[a-z_]+\}\(\$\{2:[a-z_]+\} = [^)]+\) timeout \$\{4:3s\} \{/);
  assert.match(call, /^\ton ok => \{[^\n]*\$\{1:[a-z_]+\}\.[a-z_]+/m, 'an ok branch that reads an output');
  assert.match(call, /^\ton failed => \{[^\n]*\bhangup\b/m, 'a failed branch that ends the call');
  assert.match(body('mock'), /^mock \$\{1:[a-z_]+\} ok \{ \$\{2:[a-z_]+\}: /);
});

test('every regular expression in the grammar compiles in Oniguruma', async () => {
  const onig = require('vscode-oniguruma');
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await onig.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const grammar = readJson('syntaxes/callscript.tmLanguage.json');
  const found = [];
  (function walk(node, where) {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${where}[${i}]`));
    if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (['match', 'begin', 'end', 'while'].includes(k) && typeof v === 'string') {
          found.push([`${where}.${k}`, v]);
        } else {
          walk(v, `${where}.${k}`);
        }
      }
    }
  })(grammar, 'grammar');
  assert.ok(found.length > 50, `found ${found.length} patterns`);
  // vscode-oniguruma does not throw on a bad pattern: it swaps in one that matches the
  // empty string anywhere. No pattern of this grammar may match empty at the start of
  // a line that holds one control character, so that match gives a bad pattern away.
  const probe = new onig.OnigString('\u0001');
  const matchesEmptyAtStart = (source) => {
    const scanner = new onig.OnigScanner([source]);
    try {
      const m = scanner.findNextMatchSync(probe, 0);
      return m !== null && m.captureIndices[0].start === 0 && m.captureIndices[0].end === 0;
    } finally {
      scanner.dispose();
    }
  };
  assert.ok(matchesEmptyAtStart('(unbalanced'), 'the probe detects a bad pattern');
  assert.ok(matchesEmptyAtStart('\\p{NoSuchProperty}'), 'the probe detects an unknown property');
  for (const [where, source] of found) {
    assert.ok(!matchesEmptyAtStart(source), `${where} does not compile: ${source}`);
  }
});

test('every include in the grammar names a rule that exists', () => {
  const grammar = readJson('syntaxes/callscript.tmLanguage.json');
  const names = new Set(Object.keys(grammar.repository));
  const used = new Set();
  (function walk(node) {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node && typeof node === 'object') {
      if (typeof node.include === 'string') {
        const inc = node.include;
        if (inc.startsWith('#')) {
          assert.ok(names.has(inc.slice(1)), `missing rule ${inc}`);
          used.add(inc.slice(1));
        } else {
          assert.ok(inc === '$self' || inc === 'source.callscript', `external include ${inc}`);
        }
      }
      Object.values(node).forEach(walk);
    }
  })(grammar);
  for (const n of names) assert.ok(used.has(n), `rule #${n} is never used`);
});
