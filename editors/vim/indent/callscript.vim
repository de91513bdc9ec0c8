" Vim indent file for CallScript (.call): one shiftwidth per open {, strings and
" comments ignored.
if exists('b:did_indent')
  finish
endif
let b:did_indent = 1

setlocal autoindent
setlocal indentexpr=GetCallScriptIndent(v:lnum)
setlocal indentkeys=0{,0},0),0],!^F,o,O,e

let b:undo_indent = 'setlocal autoindent< indentexpr< indentkeys<'

if exists('*GetCallScriptIndent')
  finish
endif

" Net count of { ( [ minus } ) ] on a line, skipping strings and // comments.
" When leading is set, only the closers before any other text count.
function! s:BraceBalance(line) abort
  let l:depth = 0
  let l:in_string = 0
  let l:i = 0
  let l:n = strlen(a:line)
  while l:i < l:n
    let l:c = a:line[l:i]
    if l:in_string
      if l:c ==# '\'
        let l:i += 1
      elseif l:c ==# '"'
        let l:in_string = 0
      endif
    elseif l:c ==# '"'
      let l:in_string = 1
    elseif l:c ==# '/' && a:line[l:i + 1] ==# '/'
      break
    elseif l:c =~# '[{([]'
      let l:depth += 1
    elseif l:c =~# '[})\]]'
      let l:depth -= 1
    endif
    let l:i += 1
  endwhile
  return l:depth
endfunction

function! GetCallScriptIndent(lnum) abort
  let l:prev = prevnonblank(a:lnum - 1)
  if l:prev == 0
    return 0
  endif
  let l:prev_line = getline(l:prev)
  let l:ind = indent(l:prev)
  " closers at the start of the previous line were already outdented there
  let l:leading = strlen(matchstr(l:prev_line, '^\s*\zs[})\]]\+'))
  let l:balance = s:BraceBalance(l:prev_line) + l:leading
  if l:balance > 0
    let l:ind += shiftwidth()
  elseif l:balance < 0
    let l:ind += l:balance * shiftwidth()
  endif
  if getline(a:lnum) =~# '^\s*[})\]]'
    let l:ind -= shiftwidth()
  endif
  return l:ind < 0 ? 0 : l:ind
endfunction
