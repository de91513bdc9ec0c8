" Vim filetype plugin for CallScript (.call)
if exists('b:did_ftplugin')
  finish
endif
let b:did_ftplugin = 1

let s:cpo_save = &cpo
set cpo&vim

setlocal commentstring=//\ %s
setlocal comments=://
setlocal formatoptions-=t formatoptions+=croql
setlocal expandtab shiftwidth=2 softtabstop=2 tabstop=8
setlocal suffixesadd=.call
" identifiers may be Chinese: take every non-ASCII character as part of a word
setlocal iskeyword=@,48-57,_,128-255
setlocal matchpairs=(:),{:},[:]

let b:undo_ftplugin = 'setlocal commentstring< comments< formatoptions< expandtab< shiftwidth<'
      \ . ' softtabstop< tabstop< suffixesadd< iskeyword< matchpairs<'

let &cpo = s:cpo_save
unlet s:cpo_save
