#!/usr/bin/env python3
"""unlinked.py [+]NAME=SOURCE,SOURCE... ... -- the functions of the given binaries' sources that none
of the binaries linking their file uses. make tcb counts the core's files whole, so a function
that root and the fuser never call would be counted without being in what they run: it belongs in
a file that only the workers link. Each source is compiled unoptimised (no inlining hides a call)
with a section per function; each binary is linked with --gc-sections, and a function is reported
when every binary that links its file dropped it. Prints "FILE: FUNCTION" lines; exit 1 when there
is one, 0 when none. A binary named with a leading + (the debug fuser) counts as a user of the
files it links, but its own files are not reported."""
import os
import re
import subprocess
import sys
import tempfile

CFLAGS = ['-std=c17', '-D_GNU_SOURCE', '-I.', '-O0', '-ffunction-sections',
          '-DAYSFS_VERSION="x"', '-DAYSFS_LIBEXEC="x"']


def main(specs):
    cflags = CFLAGS + subprocess.run(['pkg-config', '--cflags', 'fuse3'], capture_output=True,
                                     text=True).stdout.split()
    links, dropped = {}, {}       # binary -> its sources; binary -> {(source, function)}
    users_only = set()
    with tempfile.TemporaryDirectory() as tmp:
        obj = {}
        for spec in specs:
            name, srcs = spec.split('=', 1)
            if name.startswith('+'):
                name = name[1:]
                users_only.add(name)
            links[name] = srcs.split(',')
            for s in links[name]:
                if s not in obj:
                    obj[s] = os.path.join(tmp, s.replace('/', '+') + '.o')
                    subprocess.run(['gcc', *cflags, '-c', s, '-o', obj[s]], check=True)
            # Library symbols are left unresolved: only which of our sections are reached matters.
            out = subprocess.run(['gcc', '-o', os.path.join(tmp, name), *(obj[s] for s in links[name]),
                                  '-Wl,--gc-sections', '-Wl,--print-gc-sections',
                                  '-Wl,--unresolved-symbols=ignore-all'],
                                 capture_output=True, text=True, check=True).stderr
            back = {v: k for k, v in obj.items()}
            dropped[name] = {(back[m[2]], m[1]) for m in
                             re.finditer(r"removing unused section '\.text\.([^']+)' in file '([^']+)'", out)
                             if m[2] in back}
    found = sorted({(s, f) for name in links if name not in users_only for (s, f) in dropped[name]
                    if all((s, f) in dropped[b] for b in links if s in links[b])})
    for s, f in found:
        print(f'{s}: {f}')
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
