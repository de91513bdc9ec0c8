" CallScript call-flow scripts
autocmd BufRead,BufNewFile *.call setfiletype callscript
