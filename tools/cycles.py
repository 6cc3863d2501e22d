#!/usr/bin/env python3
"""cycles.py OBJECT... -- the call cycles between the given object files: for each set of files
that reach one another through the symbols they use (functions, tables), one line naming them,
with one symbol of each step. Exit 1 when there is one, 0 when none. Reads `nm`; weak references
count as uses (a weak handler is a call back all the same)."""
import collections
import os
import subprocess
import sys


def symbols(obj):
    defined, used = set(), set()
    for line in subprocess.run(['nm', obj], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in 'TDBRVW':
            defined.add(f[2])
        elif len(f) == 2 and f[0] in 'Uw':
            used.add(f[1])
    return defined, used


def main(objs):
    owner, uses = {}, {}
    for o in objs:
        defined, used = symbols(o)
        uses[o] = used
        for s in defined:
            owner.setdefault(s, o)
    edges = collections.defaultdict(dict)         # file -> file it uses -> one symbol
    for o in objs:
        for s in sorted(uses[o]):
            if owner.get(s, o) != o:
                edges[o].setdefault(owner[s], s)
    # Tarjan's strongly connected components, without recursion.
    index, low, stack, on, found, n = {}, {}, [], set(), [], 0
    for root in objs:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = n
        n += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        x = stack.pop()
                        on.discard(x)
                        comp.append(x)
                        if x == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
            elif w not in index:
                index[w] = low[w] = n
                n += 1
                stack.append(w)
                on.add(w)
                work.append((w, iter(edges[w])))
            elif w in on:
                low[v] = min(low[v], index[w])
    for comp in found:
        steps = [f'{os.path.basename(a)} -> {os.path.basename(b)} ({s})'
                 for a in comp for b, s in edges[a].items() if b in comp]
        print('cycle: ' + '; '.join(steps))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
