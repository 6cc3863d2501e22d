#!/usr/bin/env python3
"""tcblines.py FILE... -- the privileged core's lines by function: for each file (as make tcb lists
them), one "N FILE FUNCTION" line per function defined in it, then "N FILE -" for the lines outside
any function (includes, types, tables, macros, prototypes). Lines are counted as tools/tcb.sh counts
them (comments and blank lines aside), so each file's rows add up to its make tcb figure. A function
is a line naming it with "(" (its type before the name; a line of __attribute__ before it is the
function's) whose body opens with "{" alone at column 0 and closes with "}" alone at column 0, as the
style guide writes them."""
import re
import sys

COUNTED = re.compile(r'^\s*($|//|/\*|\*)')
HEAD = re.compile(r'^[A-Za-z_][^;{}=]*?\b([A-Za-z_]\w*)\s*\(')
ATTRS = re.compile(r'^__attribute__\(\(.*\)\)\s*$')     # a line of attributes before a function


def rows(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    counted = [not COUNTED.match(line) for line in lines]
    out, outside, i = [], 0, 0
    while i < len(lines):
        m = HEAD.match(lines[i]) if counted[i] and not ATTRS.match(lines[i]) else None
        j = i
        if m:
            while j < len(lines) and lines[j] != '{' and not lines[j].rstrip().endswith((';', '}')):
                j += 1
        if m and j < len(lines) and lines[j] == '{':
            k = j
            while k < len(lines) and lines[k] != '}':
                k += 1
            start = i - 1 if i and ATTRS.match(lines[i - 1]) else i
            if start < i:
                outside -= 1
            out.append((sum(counted[start:k + 1]), m.group(1)))
            i = k + 1
            continue
        outside += counted[i]
        i += 1
    return out, outside


def main(files):
    for f in files:
        funcs, outside = rows(f)
        for n, name in funcs:
            print(f'{n:6d} {f} {name}')
        print(f'{outside:6d} {f} -')


if __name__ == '__main__':
    main(sys.argv[1:])
