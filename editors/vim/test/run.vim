" Headless checks of the Vim files, run by editors/test.sh:
"   vim -Nu NONE -i NONE -es --cmd 'set rtp^=editors/vim' -S editors/vim/test/run.vim
" It opens test/sample.call, checks that the filetype, syntax, ftplugin and indent files load
" without an error, that tokens get the expected syntax groups, and that re-indenting the
" sample changes nothing. Results go to stdout; a failure exits non-zero (:cquit).
set nocompatible encoding=utf-8
filetype plugin indent on
syntax on

let s:here = expand('<sfile>:p:h')
let s:out = []
let s:failures = 0
let s:checks = 0

function! s:Fail(msg) abort
  let s:failures += 1
  call add(s:out, 'FAIL ' . a:msg)
endfunction

function! s:Expect(what, got, want) abort
  let s:checks += 1
  if a:got !=# a:want
    call s:Fail(printf('%s: got %s, want %s', a:what, string(a:got), string(a:want)))
  endif
endfunction

let v:errmsg = ''
try
  execute 'edit ' . fnameescape(s:here . '/sample.call')
catch
  call s:Fail('loading sample.call: ' . v:exception)
endtry
call s:Expect('v:errmsg after loading', v:errmsg, '')
call s:Expect('filetype', &filetype, 'callscript')
call s:Expect('b:current_syntax', get(b:, 'current_syntax', ''), 'callscript')
call s:Expect('commentstring', &l:commentstring, '// %s')
call s:Expect('shiftwidth', &l:shiftwidth, 2)
call s:Expect('softtabstop', &l:softtabstop, 2)
call s:Expect('expandtab', &l:expandtab, 1)
call s:Expect('indentexpr', &l:indentexpr, 'GetCallScriptIndent(v:lnum)')

" [text on the line (first line holding it, literal), token on that line (first, or the
" nth with 'token#n'), expected syntax group]
let s:cases = [
      \ ['use std.zh.common', 'use', 'callscriptInclude'],
      \ ['use std.zh.common', 'std.zh.common', 'callscriptModule'],
      \ ['use std.zh.common', '// yes', 'callscriptComment'],
      \ ['script loan_reminder', 'script', 'callscriptDecl'],
      \ ['script loan_reminder', 'loan_reminder', 'callscriptScriptName'],
      \ ['script loan_reminder', '逾期还款提醒', 'callscriptString'],
      \ ['purpose collection', 'purpose', 'callscriptSetting'],
      \ ['purpose collection', 'collection', 'callscriptSettingValue'],
      \ ['locale "zh-CN"', 'locale', 'callscriptSetting'],
      \ ['max_duration 3m', '3m', 'callscriptDuration'],
      \ ['listen_timeout 6s', 'listen_timeout', 'callscriptSetting'],
      \ ['  input {', 'input', 'callscriptDecl'],
      \ ['customer_name: text', 'customer_name', 'callscriptParam'],
      \ ['customer_name: text', 'text', 'callscriptTypeKw'],
      \ ['amount_due: money', 'money', 'callscriptTypeKw'],
      \ ['account_tail: text sensitive', 'sensitive', 'callscriptModifier'],
      \ ['let promised_day', 'let', 'callscriptDecl'],
      \ ['let promised_day', 'promised_day', 'callscriptVarName'],
      \ ['let promised_day', 'text', 'callscriptType'],
      \ ['  outcomes {', 'outcomes', 'callscriptDecl'],
      \ ['promised goal', 'promised', 'callscriptOutcomeDecl'],
      \ ['promised goal', 'goal', 'callscriptModifier'],
      \ ['intent promise_to_pay', 'intent', 'callscriptDecl'],
      \ ['intent promise_to_pay', 'promise_to_pay', 'callscriptIntentName'],
      \ ['intent promise_to_pay', '承诺还款', 'callscriptIntentLabel'],
      \ ['phrases "(今天', 'phrases', 'callscriptIntentKw'],
      \ ['phrases "(今天', '(', 'callscriptPhraseOp'],
      \ ['phrases "(今天', '今天', 'callscriptPhrase'],
      \ ['phrases "(今天', '|', 'callscriptPhraseOp'],
      \ ['phrases "(今天', '…', 'callscriptPhraseOp'],
      \ ['phrases "(今天', '// patterns', 'callscriptComment'],
      \ ['dtmf "1"', 'dtmf', 'callscriptIntentKw'],
      \ ['  opening {', 'opening', 'callscriptSection'],
      \ ['say "您好,这里是', 'say', 'callscriptStatement'],
      \ ['say "您好,这里是', '本次通话将被录音', 'callscriptString'],
      \ ['ask "请问您是{{customer_name}}本人吗?" retries 2', 'ask', 'callscriptStatement'],
      \ ['ask "请问您是{{customer_name}}本人吗?" retries 2', '{{', 'callscriptInterpDelim'],
      \ ['ask "请问您是{{customer_name}}本人吗?" retries 2', 'customer_name', 'callscriptVariable'],
      \ ['ask "请问您是{{customer_name}}本人吗?" retries 2', '}}', 'callscriptInterpDelim'],
      \ ['ask "请问您是{{customer_name}}本人吗?" retries 2', '本人吗', 'callscriptString'],
      \ ['ask "请问您是{{customer_name}}本人吗?" retries 2', 'retries', 'callscriptOption'],
      \ ['ask "请问您是{{customer_name}}本人吗?" retries 2', '2', 'callscriptNumber'],
      \ ['on yes => { verify; goto core }', 'on', 'callscriptOn'],
      \ ['on yes => { verify; goto core }', 'yes', 'callscriptIntentRef'],
      \ ['on yes => { verify; goto core }', '=>', 'callscriptArrow'],
      \ ['on yes => { verify; goto core }', 'verify', 'callscriptStatement'],
      \ ['on yes => { verify; goto core }', 'goto', 'callscriptFlow'],
      \ ['on yes => { verify; goto core }', 'core', 'callscriptSection'],
      \ ['on no => goto closing.wrong_person', 'closing', 'callscriptSection'],
      \ ['on no => goto closing.wrong_person', '.', 'callscriptDot'],
      \ ['on no => goto closing.wrong_person', 'wrong_person', 'callscriptTarget'],
      \ ['on silence, unknown => retry "', 'silence', 'callscriptPatternKw'],
      \ ['on silence, unknown => retry "', 'unknown', 'callscriptPatternKw'],
      \ ['on silence, unknown => retry "', 'retry', 'callscriptFlow'],
      \ ['on exhausted => goto closing.unreachable', 'exhausted', 'callscriptPatternKw'],
      \ ['step remind {', 'step', 'callscriptDecl'],
      \ ['step remind {', 'remind', 'callscriptTarget'],
      \ ['account_tail | digits', 'account_tail', 'callscriptVariable'],
      \ ['account_tail | digits', '|', 'callscriptFilterBar'],
      \ ['account_tail | digits', 'digits', 'callscriptFilterName'],
      \ ['account_tail | digits', 'money', 'callscriptFilterName'],
      \ ['account_tail | digits', '天', 'callscriptString'],
      \ ['on promise_to_pay =>', 'set', 'callscriptStatement'],
      \ ['on promise_to_pay =>', 'promised_day', 'callscriptVarName'],
      \ ['on no => goto hardship', 'hardship', 'callscriptTarget'],
      \ ['tag "hardship_plan"', 'tag', 'callscriptStatement'],
      \ ['on _ => goto closing.refused', '_', 'callscriptWildcard'],
      \ ['on emotion angry, complaint', 'emotion', 'callscriptPatternKw'],
      \ ['on emotion angry, complaint', 'angry', 'callscriptEmotionName'],
      \ ['on emotion angry, complaint', 'complaint', 'callscriptIntentRef'],
      \ ['on emotion angry, complaint', 'transfer', 'callscriptFlow'],
      \ ['on rate_too_high limit 2', 'limit', 'callscriptOption'],
      \ ['on rate_too_high limit 2', '2', 'callscriptNumber'],
      \ ['      resume', 'resume', 'callscriptFlow'],
      \ ['callback in 2h', 'callback', 'callscriptStatement'],
      \ ['callback in 2h', 'in', 'callscriptOption'],
      \ ['callback in 2h', '2h', 'callscriptDuration'],
      \ ['callback in 2h', 'hangup', 'callscriptFlow'],
      \ ['callback in 2h', 'unreachable', 'callscriptOutcomeRef'],
      \ ['step thanks         {', 'thanks', 'callscriptTarget'],
      \ ['step thanks         {', 'promised', 'callscriptOutcomeRef'],
      \ ['test "promises to pay today"', 'test', 'callscriptDecl'],
      \ ['test "promises to pay today"', 'for', 'callscriptTestKw'],
      \ ['test "promises to pay today"', 'loan_reminder', 'callscriptScriptName'],
      \ ['input { customer_name: "张三"', 'customer_name', 'callscriptParam'],
      \ ['input { customer_name: "张三"', '1200.50', 'callscriptFloat'],
      \ ['input { customer_name: "张三"', '5', 'callscriptNumber'],
      \ ['expect say "本次通话将被录音"', 'expect', 'callscriptTestKw'],
      \ ['reply "是我"', 'reply', 'callscriptTestKw'],
      \ ['expect hangup promised', 'promised', 'callscriptOutcomeRef'],
      \ ['use "./shared.call"', './shared.call', 'callscriptString'],
      \ ['intent 利率太高 "嫌利率高"', '利率太高', 'callscriptIntentName'],
      \ ['phrases "利率\(年化\)太高"', '\(', 'callscriptPhraseEscape'],
      \ ['regex "[0-9]{6}"', 'regex', 'callscriptRegexKw'],
      \ ['regex "[0-9]{6}"', '[0-9]', 'callscriptRegex'],
      \ ['@allow(CS008', '@allow', 'callscriptAttribute'],
      \ ['@allow(CS008', 'CS008', 'callscriptDiagCode'],
      \ ['@allow(CS008', 'legal text', 'callscriptString'],
      \ ['script 理财回访', '理财回访', 'callscriptScriptName'],
      \ ['product investment', 'product', 'callscriptSetting'],
      \ ['voice "xiaoyun"', 'voice', 'callscriptSetting'],
      \ ['listen_timeout 300ms', '300ms', 'callscriptDuration'],
      \ ['客户姓名: text; vip: bool', '客户姓名', 'callscriptParam'],
      \ ['客户姓名: text; vip: bool', 'bool', 'callscriptTypeKw'],
      \ ['客户姓名: text; vip: bool', 'false', 'callscriptBoolean'],
      \ ['due_date: date = 2026-11-24', '2026-11-24', 'callscriptDate'],
      \ ['let 通知次数', '通知次数', 'callscriptVarName'],
      \ ['outcomes { 已购买 goal', '已购买', 'callscriptOutcomeDecl'],
      \ ['bargein off', 'bargein', 'callscriptOption'],
      \ ['bargein off', 'off', 'callscriptSwitch'],
      \ ['say "转义', '\"', 'callscriptEscape'],
      \ ['say "转义', '\{', 'callscriptEscape'],
      \ ['say "转义', '不是插值', 'callscriptString'],
      \ ['say "转义', '\q', 'callscriptBadEscape'],
      \ ['say "goto core', 'goto', 'callscriptString'],
      \ ['timeout 5s retries 3 bargein on', 'timeout', 'callscriptOption'],
      \ ['timeout 5s retries 3 bargein on', '5s', 'callscriptDuration'],
      \ ['timeout 5s retries 3 bargein on', ' on {', 'callscriptSwitch', 1],
      \ ['timeout 5s retries 3 bargein on', 'mask', 'callscriptFilterName'],
      \ ['timeout 5s retries 3 bargein on', '客户姓名', 'callscriptVariable'],
      \ ['on yes if attempt', 'if', 'callscriptConditional'],
      \ ['on yes if attempt', 'attempt', 'callscriptBuiltin'],
      \ ['on yes if attempt', '==', 'callscriptOperator'],
      \ ['on yes if attempt', 'and', 'callscriptLogical'],
      \ ['on yes if attempt', '介绍', 'callscriptTarget'],
      \ ['on dtmf "1", 利率太高', 'dtmf', 'callscriptIntentKw'],
      \ ['on dtmf "1", 利率太高', '利率太高', 'callscriptIntentRef'],
      \ ['on dtmf "1", 利率太高', 'core', 'callscriptSection'],
      \ ['on dtmf "1", 利率太高', '介绍', 'callscriptTarget'],
      \ ['on optout => { optout', 'optout', 'callscriptIntentRef'],
      \ ['on optout => { optout', '{ optout', 'callscriptStatement', 2],
      \ ['outcome declined', 'outcome', 'callscriptOption'],
      \ ['outcome declined', 'declined', 'callscriptOutcomeRef'],
      \ ['} else if hour > 20', 'else', 'callscriptConditional'],
      \ ['} else if hour > 20', 'hour', 'callscriptBuiltin'],
      \ ['reply dtmf "1"', 'dtmf', 'callscriptIntentKw'],
      \ ['expect step core.介绍', 'core', 'callscriptSection'],
      \ ['expect step core.介绍', '介绍', 'callscriptTarget'],
      \ ['reply emotion angry', 'angry', 'callscriptEmotionName'],
      \ ['amount_due: money max 99999.99', 'max', 'callscriptBound'],
      \ ['amount_due: money max 99999.99', '99999.99', 'callscriptFloat'],
      \ ['digit_timeout 4s', 'digit_timeout', 'callscriptSetting'],
      \ ['digit_timeout 4s', '4s', 'callscriptDuration'],
      \ ['let pay_date: date = today', 'today', 'callscriptBuiltin'],
      \ ['let id_tail: text sensitive', 'id_tail', 'callscriptVarName'],
      \ ['let id_tail: text sensitive', 'sensitive', 'callscriptModifier'],
      \ ['let call_at: time = 9:05', 'time', 'callscriptType'],
      \ ['let call_at: time = 9:05', '9:05', 'callscriptTime'],
      \ ['let call_at: time = 9:05', ':05', 'callscriptTime'],
      \ ['let score: int min 1 max 5', 'min', 'callscriptBound'],
      \ ['let score: int min 1 max 5', '1', 'callscriptNumber'],
      \ ['let score: int min 1 max 5', 'max', 'callscriptBound'],
      \ ['let max: int = 0', 'max', 'callscriptVarName'],
      \ ['本次通话将被录音。{{call_at}}', 'call_at', 'callscriptVariable'],
      \ ['capture id_tail digits 4 retries 1', 'capture', 'callscriptOption'],
      \ ['capture id_tail digits 4 retries 1', 'id_tail', 'callscriptCaptureName'],
      \ ['capture id_tail digits 4 retries 1', 'digits', 'callscriptDigitsKw'],
      \ ['capture id_tail digits 4 retries 1', '4', 'callscriptDigitsLength'],
      \ ['capture id_tail digits 4 retries 1', 'retries', 'callscriptOption'],
      \ ['on captured if id_tail == account_tail', 'captured', 'callscriptPatternKw'],
      \ ['on captured if id_tail == account_tail', 'account_tail', 'callscriptVariable'],
      \ ['on captured => retry "输入有误', 'captured', 'callscriptPatternKw'],
      \ ['capture pay_date retries 2', 'pay_date', 'callscriptCaptureName'],
      \ ['on captured if pay_date <= today', 'today', 'callscriptBuiltin'],
      \ ['on captured if pay_date <= today', '7', 'callscriptNumber'],
      \ ['on captured if pay_date <= today', 'weekday', 'callscriptBuiltin'],
      \ ['capture id_tail digits 4..6', '4..6', 'callscriptDigitsLength'],
      \ ['capture id_tail digits 4..6', '..', 'callscriptDigitsLength'],
      \ ['on captured if call_at >= 09:00', '09:00', 'callscriptTime'],
      \ ['on captured if call_at >= 09:00', '20:00', 'callscriptTime'],
      \ ['on captured if call_at >= 09:00', 'callback_booked', 'callscriptOutcomeRef'],
      \ ['  today 2026-11-24', 'today', 'callscriptBuiltin'],
      \ ['  today 2026-11-24', '2026-11-24', 'callscriptDate'],
      \ ['expect verify', 'verify', 'callscriptStatement'],
      \ ['expect value id_tail', 'value', 'callscriptTestKw'],
      \ ['expect value id_tail', 'id_tail', 'callscriptVarName'],
      \ ['expect value call_at = 15:30', '15:30', 'callscriptTime'],
      \ ['expect optout', 'optout', 'callscriptStatement'],
      \ ['flow ask_callback_time', 'flow', 'callscriptDecl'],
      \ ['flow ask_callback_time', 'ask_callback_time', 'callscriptFlowName'],
      \ ['flow ask_callback_time', '预约回访', 'callscriptFlowTitle'],
      \ ['flow ask_callback_time', '(', 'callscriptDelimiter'],
      \ ['flow ask_callback_time', 'reason', 'callscriptParam'],
      \ ['flow ask_callback_time', 'text', 'callscriptTypeKw'],
      \ ['flow ask_callback_time', 'tail', 'callscriptParam'],
      \ ['flow ask_callback_time', 'sensitive', 'callscriptModifier'],
      \ ['flow confirm_time (slot: time)', 'confirm_time', 'callscriptFlowName'],
      \ ['flow confirm_time (slot: time)', 'slot', 'callscriptParam'],
      \ ['flow confirm_time (slot: time)', 'time)', 'callscriptTypeKw'],
      \ ['{ callback at slot; call confirm_time', 'callback', 'callscriptStatement'],
      \ ['{ callback at slot; call confirm_time', 'at', 'callscriptOption'],
      \ ['{ callback at slot; call confirm_time', '; call', 'callscriptFlow', 2],
      \ ['{ callback at slot; call confirm_time', 'confirm_time', 'callscriptFlowRef'],
      \ ['{ callback at slot; call confirm_time', 'return', 'callscriptFlow'],
      \ ['on exhausted => return', 'return', 'callscriptFlow'],
      \ ['handlers common_faq', 'handlers', 'callscriptDecl'],
      \ ['handlers common_faq', 'common_faq', 'callscriptSetName'],
      \ ['on who limit 3', 'who', 'callscriptIntentRef'],
      \ ['on who limit 3', 'listen', 'callscriptFlow'],
      \ ['  bargein off', 'bargein', 'callscriptOption'],
      \ ['  bargein off', 'off', 'callscriptSwitch'],
      \ ['on busy => call ask_callback_time', 'call', 'callscriptFlow'],
      \ ['on busy => call ask_callback_time', 'ask_callback_time', 'callscriptFlowRef'],
      \ ['callback on today + 1 at 15:30', 'on today', 'callscriptOption'],
      \ ['callback on today + 1 at 15:30', 'today', 'callscriptBuiltin'],
      \ ['callback on today + 1 at 15:30', 'at 15', 'callscriptOption'],
      \ ['callback on today + 1 at 15:30', '15:30', 'callscriptTime'],
      \ ['callback on today + 1 at 15:30', 'refused', 'callscriptOutcomeRef'],
      \ ['include common_faq', 'include', 'callscriptInclude'],
      \ ['include common_faq', 'common_faq', 'callscriptSetName'],
      \ ['expect no say "', 'no', 'callscriptTestKw'],
      \ ['expect no say "', 'say', 'callscriptStatement'],
      \ ['expect no say "', '方便吗', 'callscriptString'],
      \ ['action balance_lookup', 'action', 'callscriptDecl'],
      \ ['action balance_lookup', 'balance_lookup', 'callscriptActionName'],
      \ ['action balance_lookup', '查询欠款', 'callscriptActionTitle'],
      \ ['input { account_tail: text sensitive }', 'account_tail', 'callscriptParam'],
      \ ['output { balance: money', 'output', 'callscriptDecl'],
      \ ['output { balance: money', 'balance', 'callscriptParam'],
      \ ['output { balance: money', 'money', 'callscriptTypeKw'],
      \ ['output { balance: money', 'due', 'callscriptParam'],
      \ ['do balance_lookup(', 'do', 'callscriptFlow'],
      \ ['do balance_lookup(', 'balance_lookup', 'callscriptActionRef'],
      \ ['do balance_lookup(', '(', 'callscriptDelimiter'],
      \ ['do balance_lookup(', 'account_tail', 'callscriptArgName'],
      \ ['do balance_lookup(', '= account_tail', 'callscriptOperator'],
      \ ['do balance_lookup(', 'account_tail)', 'callscriptVariable'],
      \ ['do balance_lookup(', 'timeout', 'callscriptOption'],
      \ ['do balance_lookup(', '2s', 'callscriptDuration'],
      \ ['on ok => { set amount_due', 'ok', 'callscriptActionResult'],
      \ ['on failed => { callback in 1h', 'failed', 'callscriptActionResult'],
      \ ['sms "请于', 'sms', 'callscriptStatement'],
      \ ['transfer "collections_senior" with', 'with', 'callscriptOption'],
      \ ['mock balance_lookup ok', 'mock', 'callscriptTestKw'],
      \ ['mock balance_lookup ok', 'balance_lookup', 'callscriptActionRef'],
      \ ['mock balance_lookup ok', ' ok', 'callscriptMockResult', 1],
      \ ['mock balance_lookup failed', 'failed', 'callscriptMockResult'],
      \ ['expect sms "', 'sms', 'callscriptStatement'],
      \ ]

for s:case in s:cases
  let [s:line_text, s:token, s:want] = s:case[0:2]
  let s:skip = len(s:case) > 3 ? s:case[3] : 0
  call cursor(1, 1)
  let s:lnum = search('\V' . escape(s:line_text, '\'), 'cW')
  if s:lnum == 0
    call s:Fail('no line holds ' . string(s:line_text))
    continue
  endif
  let s:col = stridx(getline(s:lnum), s:token)
  if s:col < 0
    call s:Fail(printf('line %d has no %s', s:lnum, string(s:token)))
    continue
  endif
  let s:col += 1 + s:skip
  let s:got = synIDattr(synID(s:lnum, s:col, 1), 'name')
  call s:Expect(printf('line %d %s', s:lnum, string(s:token)), s:got, s:want)
endfor

" Re-indenting the sample must leave it as written.
let s:before = getline(1, '$')
silent normal! gg=G
let s:after = getline(1, '$')
let s:checks += 1
if s:before !=# s:after
  for s:i in range(len(s:before))
    if s:before[s:i] !=# s:after[s:i]
      call s:Fail(printf('indent of line %d: %s became %s', s:i + 1, string(s:before[s:i]), string(s:after[s:i])))
      break
    endif
  endfor
endif

call s:Expect('v:errmsg at the end', v:errmsg, '')

call add(s:out, printf('vim: %d passed, %d failed', s:checks - s:failures, s:failures))
" In silent Ex mode (-es) :print writes to stdout.
enew!
call setline(1, s:out)
%print
if s:failures > 0
  cquit
endif
qall!
