#!/usr/bin/env python3
"""Fails when modules of a crate import each other in a circle.

Usage: python3 tests/check_module_cycles.py [SRC_DIR]   (default: the core's src)

The graph: for every module with children (the crate root, `decode`,
`sanitize`, ...) its direct children are the nodes, and A -> B when code
anywhere under A names anything under B (`crate::…`, `super::…`, `self::…`,
`use` trees, or a bare path through a child module). A parent's own items are
the parent's interface, not a sibling, so a child using `super::Thing` adds no
edge. Test code (`#[cfg(test)]` items and files) is not architecture and is
left out. Any strongly connected component of more than one node is a cycle:
each is printed with one reference per edge, and the exit status is 1.

Standard library only: comments, strings and char literals are removed before
paths are read, so a path in a doc comment or a message is no edge.
"""

import os
import re
import sys
from collections import defaultdict

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_code(src):
    """Source with comments, string and char literals blanked (lines kept)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if src[i] == "\n":
                        out.append("\n")
                    i += 1
        elif (m := re.compile(r'b?r(#*)"').match(src, i)) and (
            i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")
        ):
            end = src.find('"' + m.group(1), m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + "\n" * src.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j + 1
        elif c == "'" and (
            m := re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'").match(src, i)
        ):
            out.append("' '")
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching_brace(code, open_at):
    depth = 0
    for k in range(open_at, len(code)):
        if code[k] == "{":
            depth += 1
        elif code[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(code) - 1


def drop_test_items(code):
    """Blank every item under `#[cfg(test)]` (a `mod x;` line or a `{…}` block)."""
    while (m := re.search(r"#\[cfg\(test\)\]", code)) :
        k = m.end()
        semi, brace = code.find(";", k), code.find("{", k)
        if brace < 0 or (0 <= semi < brace):
            end = semi
        else:
            end = matching_brace(code, brace)
        code = code[: m.start()] + "\n" * code.count("\n", m.start(), end + 1) + code[end + 1 :]
    return code


def module_files(src):
    """{module path tuple: file} from the `mod` declarations, starting at lib.rs."""
    mods, test_only = {}, set()

    def visit(path, file, child_dir):
        mods[path] = file
        raw = strip_code(open(file, encoding="utf-8").read())
        for test_mod in re.findall(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", raw):
            test_only.add(path + (test_mod,))
        for name in re.findall(r"(?:^|[\s;}])(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", raw):
            for cand, sub in (
                (os.path.join(child_dir, name + ".rs"), os.path.join(child_dir, name)),
                (os.path.join(child_dir, name, "mod.rs"), os.path.join(child_dir, name)),
            ):
                if os.path.isfile(cand):
                    visit(path + (name,), cand, sub)
                    break

    visit((), os.path.join(src, "lib.rs"), src)
    return {p: f for p, f in mods.items() if not any(p[: len(t)] == t for t in test_only)}


def use_tree_paths(tree):
    """`a::{b, c::{d}}` -> [a::b, a::c::d] (prefixes only, items kept)."""
    tree = tree.strip()
    m = re.match(r"^(.*?)\{(.*)\}$", tree, re.S)
    if not m:
        return [re.split(r"\s+as\s+", tree)[0].strip()]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [prefix + p for part in parts if part.strip() for p in use_tree_paths(part)]


def references(path, code, modules):
    """Module paths named by `code` of module `path` (absolute tuples)."""
    children = {m[-1] for m in modules if len(m) == len(path) + 1 and m[: len(path)] == path}
    raw_paths = []
    for tree in re.findall(r"\buse\s+([^;]+);", code):
        raw_paths += [p.replace(" ", "").replace("\n", "") for p in use_tree_paths(tree)]
    raw_paths += re.findall(r"(?<![A-Za-z0-9_:])((?:" + IDENT + r"::)+" + IDENT + ")", code)
    found = []
    for p in raw_paths:
        segs = [s for s in p.split("::") if s]
        if not segs:
            continue
        if segs[0] == "crate":
            base, rest = (), segs[1:]
        elif segs[0] in ("super", "self"):
            base = path
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
            rest = segs
        elif segs[0] in children:
            base, rest = path, segs
        else:
            continue  # another crate, a type's associated item, a local alias
        target = base
        for s in rest:
            if target + (s,) in modules:
                target = target + (s,)
            else:
                break
        found.append((target, p))
    return found


def strongly_connected(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            connect(v)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "core", "src")
    src = os.path.normpath(src)
    sys.setrecursionlimit(10000)
    modules = module_files(src)
    # (parent, child A, child B) -> one example reference "file: path"
    edges = defaultdict(dict)
    for path, file in sorted(modules.items()):
        code = drop_test_items(strip_code(open(file, encoding="utf-8").read()))
        for target, text in references(path, code, modules):
            # The deepest common ancestor of the two modules holds the edge.
            k = 0
            while k < min(len(path), len(target)) and path[k] == target[k]:
                k += 1
            if k >= len(path) or k >= len(target):
                continue  # ancestor or descendant: the parent/child interface
            parent, a, b = path[:k], path[k], target[k]
            edges[parent].setdefault((a, b), f"{os.path.relpath(file, src)}: {text}")
    failed = False
    for parent in sorted(edges):
        pairs = edges[parent]
        graph = defaultdict(set)
        for a, b in pairs:
            graph[a].add(b)
        nodes = {x for ab in pairs for x in ab}
        for comp in strongly_connected(nodes, graph):
            if len(comp) < 2:
                continue
            failed = True
            where = "crate" if not parent else "crate::" + "::".join(parent)
            print(f"import cycle among the modules of {where}: {' ⇄ '.join(comp)}")
            for (a, b), example in sorted(pairs.items()):
                if a in comp and b in comp:
                    print(f"  {a} -> {b}   ({example})")
    if failed:
        return 1
    print(f"no import cycles in {src} ({len(modules)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
