" Vim syntax file
" Language:   CallScript (.call), the language of automated outbound call scripts
" Maintainer: the CallScript project
" Mirrors the TextMate grammar of editors/vscode (same highlighting classes).

if exists('b:current_syntax')
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

syn case match
syn sync fromstart

" An identifier: Unicode words, so Chinese names are identifiers too.
let s:id = '\%(\h\|[^\x00-\x7f]\)\%(\w\|[^\x00-\x7f]\)*'

" ---------------------------------------------------------------- comments
syn keyword callscriptTodo contained TODO FIXME XXX NOTE

" ---------------------------------------------------------------- operators
syn match callscriptOperator "[-+*/%]"
syn match callscriptOperator "[=!<>]=\="
syn match callscriptArrow    "=>"
" defined after the operators, so that // starts a comment rather than two divisions
syn match callscriptComment "//.*$" contains=callscriptTodo

" ---------------------------------------------------------------- literals
syn match callscriptNumber   "\<\d\+\>"
syn match callscriptFloat    "\<\d\+\.\d\+\>"
syn match callscriptDuration "\<\d\+\%(ms\|s\|m\|h\|d\)\>"
syn match callscriptDate     "\<\d\{4}-\d\{2}-\d\{2}\>"
" a clock time, 15:30 or 9:05 (section 11)
syn match callscriptTime     "\<\d\{1,2}:\d\{2}\>"
syn keyword callscriptBoolean true false
syn keyword callscriptLogical and or not
syn keyword callscriptBuiltin attempt hour today weekday

syn region callscriptString start=+"+ skip=+\\\\\|\\"+ end=+"+ end=+$+
      \ contains=callscriptBadEscape,callscriptEscape,callscriptInterp
syn match callscriptBadEscape contained +\\.+
syn match callscriptEscape    contained +\\["\\nt{]+

" {{ expr | filter }} inside prompts
syn cluster callscriptExpr contains=callscriptNumber,callscriptFloat,callscriptDuration,
      \ callscriptDate,callscriptTime,callscriptBoolean,callscriptLogical,callscriptBuiltin,callscriptOperator,
      \ callscriptVariable
syn region callscriptInterp contained oneline matchgroup=callscriptInterpDelim
      \ start=+{{+ end=+}}+ end=+\ze"+ contains=@callscriptExpr,callscriptFilterBar
syn match callscriptFilterBar contained "|" nextgroup=callscriptFilterName skipwhite
exe 'syn match callscriptFilterName contained "' . s:id . '"'
exe 'syn match callscriptVariable contained "' . s:id . '"'

" ---------------------------------------------------------------- attributes
exe 'syn match callscriptAttribute "@' . s:id . '" nextgroup=callscriptAttrArgs skipwhite'
syn region callscriptAttrArgs contained oneline matchgroup=callscriptAttribute start="(" end=")"
      \ contains=callscriptDiagCode,callscriptString
syn match callscriptDiagCode contained "\<\%(CS\|E\|W\)\d\+\>"

" ---------------------------------------------------------------- items
syn keyword callscriptInclude use nextgroup=callscriptModule skipwhite
exe 'syn match callscriptModule contained "' . s:id . '\%(\.' . s:id . '\)*"'

syn keyword callscriptDecl script nextgroup=callscriptScriptName skipwhite
syn keyword callscriptDecl test
syn keyword callscriptTestKw for nextgroup=callscriptScriptName skipwhite
exe 'syn match callscriptScriptName contained "' . s:id . '"'

syn keyword callscriptSetting purpose product nextgroup=callscriptSettingValue skipwhite
syn keyword callscriptSetting locale max_duration listen_timeout digit_timeout voice
exe 'syn match callscriptSettingValue contained "' . s:id . '"'

syn keyword callscriptDecl let nextgroup=callscriptVarName skipwhite
syn keyword callscriptStatement set nextgroup=callscriptVarName skipwhite
exe 'syn match callscriptVarName contained "' . s:id . '"'
syn match callscriptType ":\s*\zs\%(text\|int\|money\|bool\|date\|time\)\>"
" min X / max Y after the type of a number (section 11); min and max are not reserved, so
" only before a number
syn match callscriptBound "\<\%(min\|max\)\>\ze\s\+-\=\d"

" input { name: type [sensitive] [min X] [max Y] [= default] }  (test inputs too)
syn region callscriptInputBlock matchgroup=callscriptDecl start="\<input\>\ze\s*{"
      \ matchgroup=callscriptBrace end="}"
      \ contains=callscriptInputBrace,callscriptParam,callscriptTypeKw,callscriptModifier,callscriptBound,
      \ callscriptString,callscriptNumber,callscriptFloat,callscriptDuration,callscriptDate,callscriptTime,
      \ callscriptBoolean,callscriptOperator,callscriptComment
syn match callscriptInputBrace contained "{"
exe 'syn match callscriptParam contained "' . s:id . '\ze\s*:"'
syn keyword callscriptTypeKw contained text int money bool date time

" outcomes { name [goal] … }
syn region callscriptOutcomesBlock matchgroup=callscriptDecl start="\<outcomes\>\ze\s*{"
      \ matchgroup=callscriptBrace end="}"
      \ contains=callscriptOutcomesBrace,callscriptOutcomeDecl,callscriptModifier,callscriptComment
syn match callscriptOutcomesBrace contained "{"
exe 'syn match callscriptOutcomeDecl contained "' . s:id . '"'
syn keyword callscriptModifier goal sensitive

" intent NAME ["label"] { phrases "…", …; dtmf "1"; regex "…" }
syn keyword callscriptDecl intent nextgroup=callscriptIntentName skipwhite
exe 'syn match callscriptIntentName contained "' . s:id . '" nextgroup=callscriptIntentLabel,callscriptIntentBody skipwhite skipnl'
syn region callscriptIntentLabel contained oneline start=+"+ skip=+\\\\\|\\"+ end=+"+
      \ nextgroup=callscriptIntentBody skipwhite skipnl contains=callscriptBadEscape,callscriptEscape
syn region callscriptIntentBody contained matchgroup=callscriptBrace start="{" end="}"
      \ contains=callscriptIntentKw,callscriptRegexKw,callscriptPhrase,callscriptComment
syn keyword callscriptIntentKw phrases dtmf
syn keyword callscriptRegexKw contained regex nextgroup=callscriptRegex skipwhite
syn region callscriptRegex contained oneline start=+"+ skip=+\\\\\|\\"+ end=+"+
syn region callscriptPhrase contained oneline start=+"+ skip=+\\.+ end=+"+
      \ contains=callscriptPhraseEscape,callscriptPhraseOp
syn match callscriptPhraseOp contained "[()[\]|…]"
syn match callscriptPhraseEscape contained +\\.+

" ---------------------------------------------------------------- sections, steps, flow
syn keyword callscriptSection opening core objection closing
syn keyword callscriptDecl step nextgroup=callscriptTarget skipwhite
syn keyword callscriptFlow goto nextgroup=callscriptTarget skipwhite
exe 'syn match callscriptTarget contained "' . s:id . '\%(\.' . s:id . '\)\=" contains=callscriptSection,callscriptDot'
syn match callscriptDot contained "\."

syn keyword callscriptFlow hangup nextgroup=callscriptOutcomeRef skipwhite
syn keyword callscriptOption outcome nextgroup=callscriptOutcomeRef skipwhite
exe 'syn match callscriptOutcomeRef contained "\%(\<\%(expect\|reply\|hangup\|input\|attempt\|hour\|today\)\>\)\@!' . s:id . '"'

syn keyword callscriptFlow retry resume transfer
syn keyword callscriptConditional if else
syn keyword callscriptStatement say ask verify tag callback optout
syn keyword callscriptOption timeout retries limit in
syn keyword callscriptOption bargein nextgroup=callscriptSwitch skipwhite
syn keyword callscriptSwitch off
syn match   callscriptSwitch contained "\<\%(on\|off\)\>"
syn keyword callscriptPatternKw silence unknown exhausted captured
syn keyword callscriptPatternKw emotion nextgroup=callscriptEmotionName skipwhite
exe 'syn match callscriptEmotionName contained "' . s:id . '"'
syn keyword callscriptTestKw reply expect
" expect value NAME = LITERAL (section 11)
syn match callscriptTestKw "\%(\<expect\s\+\)\@<=value\>" nextgroup=callscriptVarName skipwhite

" ask "…" capture NAME [digits N | digits M..N] (section 11)
syn keyword callscriptOption capture nextgroup=callscriptCaptureName skipwhite
exe 'syn match callscriptCaptureName contained "' . s:id . '" nextgroup=callscriptDigitsKw skipwhite'
syn match callscriptDigitsKw contained "\<digits\>" nextgroup=callscriptDigitsLength skipwhite
syn match callscriptDigitsLength contained "\<\d\+\%(\.\.\d\+\)\=\>"

" on PATTERN, PATTERN [if EXPR] [limit N] => …
syn region callscriptBranch matchgroup=callscriptOn start="\<on\>" matchgroup=callscriptArrow end="=>" end="\ze[{};]"
      \ contains=callscriptIntentRef,callscriptWildcard,callscriptPatternKw,callscriptIntentKw,
      \ callscriptOption,callscriptString,callscriptNumber,callscriptGuard,callscriptComment,callscriptActionResult
exe 'syn match callscriptIntentRef contained "' . s:id . '"'
syn match callscriptWildcard "\<_\>"
syn region callscriptGuard contained matchgroup=callscriptConditional start="\<if\>" end="\ze=>"
      \ contains=@callscriptExpr,callscriptString

" ---------------------------------------------------------------- flows, handler sets (section 12)
" flow NAME ["title"] (PARAM: type [sensitive], …) { … }
syn keyword callscriptDecl flow nextgroup=callscriptFlowName skipwhite
exe 'syn match callscriptFlowName contained "' . s:id . '" nextgroup=callscriptFlowTitle,callscriptFlowParams skipwhite'
syn region callscriptFlowTitle contained oneline start=+"+ skip=+\\\\\|\\"+ end=+"+
      \ nextgroup=callscriptFlowParams skipwhite contains=callscriptBadEscape,callscriptEscape
syn region callscriptFlowParams contained matchgroup=callscriptDelimiter start="(" end=")"
      \ contains=callscriptParam,callscriptTypeKw,callscriptModifier,callscriptComment
" call NAME(ARGS), return, listen
syn keyword callscriptFlow call nextgroup=callscriptFlowRef skipwhite
exe 'syn match callscriptFlowRef contained "' . s:id . '"'
syn keyword callscriptFlow return listen
" handlers NAME { on … } and include NAME in objection
syn keyword callscriptDecl handlers nextgroup=callscriptSetName skipwhite
syn keyword callscriptInclude include nextgroup=callscriptSetName skipwhite
exe 'syn match callscriptSetName contained "' . s:id . '"'
" callback on DATE [at TIME] / callback at TIME: defined after the branch region, so that
" this `on` is not a branch
syn match callscriptOption "\%(\<callback\s\+\)\@<=on\>"
syn match callscriptOption +\%(\<callback\>[^;{}"]*\)\@<=\<at\>+
" expect no say "…"
syn match callscriptTestKw "\%(\<expect\s\+\)\@<=no\>"

" ---------------------------------------------------------------- actions and messages (section 13)
" action NAME ["title"] { input { NAME: type … } output { NAME: type … } }
syn keyword callscriptDecl action nextgroup=callscriptActionName skipwhite
exe 'syn match callscriptActionName contained "' . s:id . '" nextgroup=callscriptActionTitle skipwhite'
syn region callscriptActionTitle contained oneline start=+"+ skip=+\\\\\|\\"+ end=+"+
      \ contains=callscriptBadEscape,callscriptEscape
syn region callscriptOutputBlock matchgroup=callscriptDecl start="\<output\>\ze\s*{"
      \ matchgroup=callscriptBrace end="}"
      \ contains=callscriptInputBrace,callscriptParam,callscriptTypeKw,callscriptComment
" do NAME(ARG = EXPR, …) [timeout D] { on ok => …; on failed => … }; mock NAME ok { … } / failed
syn keyword callscriptFlow do nextgroup=callscriptActionRef skipwhite
syn keyword callscriptTestKw mock nextgroup=callscriptActionRef skipwhite
exe 'syn match callscriptActionRef contained "' . s:id . '" nextgroup=callscriptDoArgs,callscriptMockResult skipwhite'
syn region callscriptDoArgs contained matchgroup=callscriptDelimiter start="(" end=")"
      \ contains=callscriptArgName,@callscriptExpr,callscriptString,callscriptComment
exe 'syn match callscriptArgName contained "' . s:id . '\ze\s*=[^=>]"'
syn match callscriptMockResult contained "\<\%(ok\|failed\)\>"
" the patterns of a do's branches
syn keyword callscriptActionResult contained ok failed
syn keyword callscriptStatement sms
syn keyword callscriptOption with

" ---------------------------------------------------------------- colours
hi def link callscriptTodo          Todo
hi def link callscriptComment       Comment
hi def link callscriptOperator      Operator
hi def link callscriptArrow         Operator
hi def link callscriptNumber        Number
hi def link callscriptFloat         Float
hi def link callscriptDuration      Number
hi def link callscriptDate          Number
hi def link callscriptTime          Number
hi def link callscriptBoolean       Boolean
hi def link callscriptLogical       Operator
hi def link callscriptBuiltin       Special
hi def link callscriptString        String
hi def link callscriptBadEscape     Error
hi def link callscriptEscape        SpecialChar
hi def link callscriptInterp        Identifier
hi def link callscriptInterpDelim   Delimiter
hi def link callscriptFilterBar     Operator
hi def link callscriptFilterName    Function
hi def link callscriptVariable      Identifier
hi def link callscriptAttribute     PreProc
hi def link callscriptDiagCode      Constant
hi def link callscriptInclude       Include
hi def link callscriptModule        Identifier
hi def link callscriptDecl          Structure
hi def link callscriptScriptName    Type
hi def link callscriptSetting       Keyword
hi def link callscriptSettingValue  Constant
hi def link callscriptVarName       Identifier
hi def link callscriptType          Type
hi def link callscriptTypeKw        Type
hi def link callscriptBound         Keyword
hi def link callscriptParam         Identifier
hi def link callscriptOutcomeDecl   Constant
hi def link callscriptOutcomeRef    Constant
hi def link callscriptModifier      StorageClass
hi def link callscriptIntentName    Type
hi def link callscriptIntentLabel   String
hi def link callscriptIntentKw      Keyword
hi def link callscriptRegexKw       Keyword
hi def link callscriptRegex         String
hi def link callscriptPhrase        String
hi def link callscriptPhraseOp      Special
hi def link callscriptPhraseEscape  SpecialChar
hi def link callscriptSection       Label
hi def link callscriptTarget        Function
hi def link callscriptDot           Delimiter
hi def link callscriptFlow          Keyword
hi def link callscriptConditional   Conditional
hi def link callscriptStatement     Statement
hi def link callscriptOption        Keyword
hi def link callscriptSwitch        Constant
hi def link callscriptCaptureName   Identifier
hi def link callscriptDigitsKw      Keyword
hi def link callscriptDigitsLength  Number
hi def link callscriptPatternKw     Keyword
hi def link callscriptEmotionName   Constant
hi def link callscriptTestKw        Keyword
hi def link callscriptOn            Conditional
hi def link callscriptIntentRef     Type
hi def link callscriptWildcard      Special
hi def link callscriptFlowName      Function
hi def link callscriptFlowTitle     String
hi def link callscriptDelimiter     Delimiter
hi def link callscriptFlowRef       Function
hi def link callscriptSetName       Type
hi def link callscriptActionName    Function
hi def link callscriptActionTitle   String
hi def link callscriptActionRef     Function
hi def link callscriptArgName       Identifier
hi def link callscriptMockResult    Keyword
hi def link callscriptActionResult  Keyword

let b:current_syntax = 'callscript'

let &cpo = s:cpo_save
unlet s:cpo_save
